"""Waivers: open operational gaps that turn a linked gate's failure into an expected failure until review_by.

Rules (pytest-free; the plugin turns a decision into xfail, failure or warning):

- A gap *links* a gate when the gate id is in its `gate_ids` or is its `regression_lock_id`.
- A gap is *open* when its status is `open` or `accepted`; `fixed` and `closed` gaps never waive.
- A failing gate is *waived* (`applied`) by the first open gap in file order that links it and whose
  `review_by` is today or later (UTC). The gate is reported as an expected failure carrying the gap id,
  owner and review date.
- When every open gap that links the failing gate is past its `review_by`, the waiver has *expired*: the
  gate fails again, its message starting `waiver expired: GAP-... (review by ...)`.
- An open gap without a `review_by` (or with an impossible date) waives nothing: a waiver must say when
  somebody looks at it again. The failure message notes the gap and how to make it a waiver.
- A passing gate that an open gap still links is flagged `closable`: the gap may be fixed already.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from infracore_verify.contracts.loader import Document
from infracore_verify.contracts.model import as_list, mapping, text
from infracore_verify.contracts.verdict import Verdict

OPEN_GAP_STATES = ("open", "accepted")
WaiverStatus = Literal["applied", "expired", "closable"]


def utc_today() -> dt.date:
    """Return today's date in UTC (the day review_by dates are compared with)."""
    return dt.datetime.now(dt.UTC).date()


@dataclass(frozen=True)
class Gap:
    """One entry of operational.gaps.yaml, as far as waivers and report links need it."""

    id: str
    status: str
    title: str = ""
    owner: str = ""
    review_by: str = ""
    """As written (YYYY-MM-DD), or empty."""
    gate_ids: tuple[str, ...] = ()
    """Every gate the gap links: `gate_ids` plus `regression_lock_id`."""
    file: str = ""
    """The gaps file as displayed in messages."""
    index: int = 0
    """Position in the file's `gaps` list."""
    line: int = 0
    """Line of the entry."""
    key_lines: dict[str, int] = field(default_factory=dict, compare=False, hash=False)
    """Line of each key of the entry (for `file:line $.gaps[i].key` in messages)."""

    @property
    def is_open(self) -> bool:
        """Return True for an open or accepted gap (one that can waive a failure)."""
        return self.status in OPEN_GAP_STATES

    @property
    def review_date(self) -> dt.date | None:
        """Return review_by as a date, or None when it is missing or not a real date."""
        try:
            return dt.date.fromisoformat(self.review_by) if self.review_by else None
        except ValueError:
            return None

    def where(self, key: str = "") -> str:
        """Return `file:line $.gaps[i]` (or `...[i].key`) for messages."""
        line = self.key_lines.get(key, self.line)
        return f"{self.file}:{line} $.gaps[{self.index}]" + (f".{key}" if key else "")

    @property
    def owner_text(self) -> str:
        """Return the owner for messages (`unassigned` when the gap names none)."""
        return self.owner or "unassigned"


def load_gaps(doc: Document) -> list[Gap]:
    """Return the gaps of a loaded operational.gaps.yaml (none when the document does not load)."""
    if not doc.ok:
        return []
    gaps: list[Gap] = []
    for i, entry in enumerate(as_list(mapping(doc.data).get("gaps"))):
        if not isinstance(entry, dict):
            continue
        linked = [str(g) for g in as_list(entry.get("gate_ids"))]
        lock = entry.get("regression_lock_id")
        if isinstance(lock, str) and lock and lock not in linked:
            linked.append(lock)
        gaps.append(
            Gap(
                id=str(entry.get("id", "")),
                status=str(entry.get("status", "")),
                title=text(entry.get("title")),
                owner=str(entry.get("owner") or ""),
                review_by=str(entry.get("review_by") or ""),
                gate_ids=tuple(linked),
                file=doc.display,
                index=i,
                line=doc.line(("gaps", i)),
                key_lines={k: doc.line(("gaps", i, k)) for k in ("status", "review_by")},
            )
        )
    return gaps


@dataclass(frozen=True)
class Waiver:
    """What one open gap does to one gate in this run: applied, expired or closable."""

    gate_id: str
    gap: Gap
    status: WaiverStatus

    def reason(self, headline: str) -> str:
        """Return the expected-failure reason: `waived by GAP-... (owner ..., review by ...): <headline>`."""
        return f"waived by {self.gap.id} (owner {self.gap.owner_text}, review by {self.gap.review_by}): {headline}"

    def expired_message(self, message: str) -> str:
        """Return the failure text of an expired waiver: the marker line first, then the gate's own message."""
        first, _, rest = message.partition("\n")
        lines = [
            f"waiver expired: {self.gap.id} (review by {self.gap.review_by}, owner {self.gap.owner_text}): {first}"
        ]
        if rest:
            lines.append(rest)
        lines.append(
            f"  {self.gap.where('review_by')}: the waiver lapsed after {self.gap.review_by}; fix the failure, "
            "or review the gap and move review_by forward"
        )
        return "\n".join(lines)

    def closable_warning(self) -> str:
        """Return the warning for a passing gate that an open gap still links."""
        return (
            f"{self.gate_id} passes but open gap {self.gap.id} (owner {self.gap.owner_text}, review by "
            f"{self.gap.review_by or 'not set'}) still links it; the gap may be closable: set status: fixed at "
            f"{self.gap.where('status')}"
        )

    def row(self) -> dict[str, Any]:
        """Return the receipt entry: gate, gap, owner, review_by and status."""
        return {
            "gate": self.gate_id,
            "gap": self.gap.id,
            "owner": self.gap.owner or None,
            "review_by": self.gap.review_by or None,
            "status": self.status,
        }


@dataclass(frozen=True)
class Decision:
    """The waiver outcome for one gate verdict: the waivers that apply, and notes for the failure message."""

    waivers: tuple[Waiver, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def applied(self) -> Waiver | None:
        """Return the waiver that turns the failure into an expected failure, if any."""
        return next((w for w in self.waivers if w.status == "applied"), None)

    @property
    def expired(self) -> Waiver | None:
        """Return the expired waiver that makes the failure read `waiver expired`, if any."""
        return next((w for w in self.waivers if w.status == "expired"), None)


@dataclass(frozen=True)
class WaiverBook:
    """The gaps of one contract set and the day they are judged on."""

    gaps: Sequence[Gap]
    today: dt.date

    @classmethod
    def from_doc(cls, doc: Document, today: dt.date | None = None) -> WaiverBook:
        """Build the book from operational.gaps.yaml (empty when it does not load)."""
        return cls(tuple(load_gaps(doc)), today or utc_today())

    def linking(self, gate_id: str) -> list[Gap]:
        """Return every gap that links the gate, whatever its status, in file order."""
        return [g for g in self.gaps if gate_id in g.gate_ids]

    def decide(self, gate_id: str, verdict: Verdict | str) -> Decision:
        """Return what the open gaps linking the gate do to this verdict ('pass', 'fail' or 'skip')."""
        open_gaps = [g for g in self.linking(gate_id) if g.is_open]
        if verdict == Verdict.PASS:
            return Decision(tuple(Waiver(gate_id, g, "closable") for g in open_gaps))
        if verdict != Verdict.FAIL:
            return Decision()
        dated = [g for g in open_gaps if g.review_date is not None]
        valid = [g for g in dated if g.review_date is not None and g.review_date >= self.today]
        if valid:
            return Decision((Waiver(gate_id, valid[0], "applied"),))
        notes = tuple(_undated_note(gate_id, g) for g in open_gaps if g.review_date is None)
        if dated:
            return Decision((Waiver(gate_id, dated[0], "expired"),), notes)
        return Decision((), notes)


def _undated_note(gate_id: str, gap: Gap) -> str:
    what = f"'{gap.review_by}' is not a real date" if gap.review_by else "it has no review_by"
    return (
        f"{gap.where()}: open gap {gap.id} links {gate_id} but waives nothing: {what}; "
        "add review_by: YYYY-MM-DD to waive the failure until then"
    )


def summary(rows: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Return how many receipt waiver entries are applied, expired and closable."""
    counts = {"applied": 0, "expired": 0, "closable": 0}
    for row in rows:
        counts[str(row["status"])] = counts.get(str(row["status"]), 0) + 1
    return counts
