"""UTC timestamps as receipts, the ledger and the contracts' dates write them."""

from __future__ import annotations

import datetime as dt


def utc_iso(timestamp: float) -> str:
    """Return POSIX seconds as an ISO 8601 UTC string with a Z suffix (whole seconds)."""
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
