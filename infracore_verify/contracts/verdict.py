"""The one verdict vocabulary of gates, probes and receipts (a StrEnum: members equal their strings)."""

from __future__ import annotations

from enum import StrEnum


class Verdict(StrEnum):
    """What a gate, a probe or a receipt row concluded."""

    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"
    NOT_RUN = "not-run"
    """Selected but never run (the receipt's row for a gate or probe that produced no report)."""
    WAIVED = "waived"
    """Failed, and an open operational gap waives the failure until its review date."""
    NOT_APPLICABLE = "not-applicable"
    """The gate checks something this host does not have (launchd off macOS, the operator's home elsewhere);
    a pytest skip whose reason says why, counted with the skips in the receipt's totals."""


class NotApplicableError(Exception):
    """Raised by a native gate whose subject does not exist on this host; the message says why."""
