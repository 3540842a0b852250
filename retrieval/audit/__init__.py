"""Tamper-evident audit log of mandatory searches (类案检索留痕), after Certificate Transparency.

The spec, so that a reader in any language can check an export without this code:

* A record is a JSON object ``{"v": 1, "seq", "kind", "at", "actor": {"user", "role", "court"},
  "client", "payload"}``; ``seq`` is its 0-based position in the log, ``at`` UTC
  ``YYYY-MM-DDTHH:MM:SS.mmmZ``.
* Leaf data is the record's canonical JSON: UTF-8, object keys sorted by code point, no
  whitespace between tokens, non-ASCII characters written as themselves, only ``"``, ``\\`` and
  U+0000–U+001F escaped (``\\n``-style where JSON has one, else ``\\u00xx``), integers in decimal,
  floats as Python's shortest round-trip ``repr``; NaN and infinities are not allowed.
* Tree hashing is RFC 6962 / RFC 9162 with SHA-256: leaf = H(0x00 ‖ data), node = H(0x01 ‖ left ‖
  right), the split at the largest power of two below n, the empty tree H("").
* A checkpoint signs, with Ed25519, the text
  ``"leian-audit/v1\\n<log_id>\\n<tree_size>\\n<base64 root>\\n<at>\\n"``.
* An export is JSON lines: an optional header ``{"header": {...}}``, then one line per record
  ``{"seq": n, "record": {...}, "leaf_hash": "<hex>"}`` in seq order. Only a complete export
  (records 0..tree_size-1) can be checked against a checkpoint; a single record is checked with
  its inclusion proof.

* A receipt (``receipts``) is the head signed right after one record was appended plus that
  record's inclusion proof; the witness file (``witness``) holds the latest signed head outside
  the database, and the log must always extend it.

Modules: ``records`` (record and canonical form), ``merkle`` (tree hash and proofs), ``signing``
(keys and checkpoints), ``store`` (the writer: the log logic), ``storage`` (where its rows live:
the interface and SQLite), ``pg_storage`` (PostgreSQL, shared by several nodes), ``receipts`` (a record's signed receipt and
its check against the log), ``witness`` (the signed head outside the database), ``watcher`` (the
background re-hashing of records), ``verify`` (the independent reader, which imports none of the
others), ``cli``.
"""
