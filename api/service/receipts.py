"""The signed receipt of an audited act whose answer is a file (report, export, summary): a header.

JSON answers carry the receipt in their ``audit`` field; a DOCX or a CSV cannot, so the same JSON
(``retrieval.audit.receipts``, ASCII only) travels in ``X-Leian-Audit-Receipt``. Save it as a file
and ``leian audit receipt-check`` reads it.
"""

from __future__ import annotations

import json

from retrieval.audit.store import AppendResult

RECEIPT_HEADER = "X-Leian-Audit-Receipt"


def receipt_headers(appended: AppendResult | None) -> dict[str, str]:
    if appended is None or appended.receipt is None:
        return {}
    return {RECEIPT_HEADER: json.dumps(appended.receipt.to_dict(), separators=(",", ":"))}
