"""Beijing time (UTC+8), the courts' calendar, for what people read; records themselves store UTC.

China has kept one zone without daylight saving since 1991, so a fixed offset is exact for every
record this service writes and needs no tz database (``Asia/Shanghai`` is the same clock).
"""

from __future__ import annotations

import datetime as dt

BEIJING = dt.timezone(dt.timedelta(hours=8), "UTC+08:00")


def beijing_text(at: str | None) -> str | None:
    """``2026-03-01 08:00:00.000+08:00`` from a record's UTC ``2026-03-01T00:00:00.000000Z``; None stays None."""
    if not at:
        return None
    moment = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(BEIJING).isoformat(sep=" ", timespec="milliseconds")
