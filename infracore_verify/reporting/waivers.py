"""Waivers: open operational gaps that turn the findings they name into expected failures until review_by.

Rules (pytest-free; the plugin turns a decision into xfail, failure or warning):

- A gap *links* a gate when the gate id is in its `gate_ids` or is its `regression_lock_id`.
- A gap is *open* when its status is `open` or `accepted`; `fixed` and `closed` gaps never waive.
- A gap waives only the findings it names in `waives` (each entry: `finding` id, `match` on the finding
  text, `path` on its YAML path, optionally `gate`; every key given must hold). A gap that names no
  findings waives nothing. A failing gate without findings (a script, a crash) is one finding whose text is
  its headline.
- A finding is *waived* by the first open gap in file order that links the gate, names the finding and whose
  `review_by` is today or later (UTC). The gate is an expected failure only when every finding is waived;
  otherwise it fails, and its message lists which findings were waived (by which gap) and which were not.
- When a finding is named only by open gaps past their `review_by`, the waiver has *expired*: the gate fails,
  its message starting `waiver expired: GAP-... (review by ...)`.
- An open gap without a `review_by` (or with an impossible date) waives nothing: a waiver must say when
  somebody looks at it again. The failure message notes the gap and how to make it a waiver.
- A passing gate that an open gap still links is flagged `closable`: the gap may be fixed already.
- When operational.gaps.yaml does not load, no gap waives anything and the book says so (`disabled`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Literal

from infracore_verify.contracts.findings import Finding
from infracore_verify.contracts.loader import Document
from infracore_verify.contracts.model import as_list, mapping, text
from infracore_verify.contracts.verdict import Verdict

if TYPE_CHECKING:
    from infracore_verify.gates.engine import GateResult

OPEN_GAP_STATES = ("open", "accepted")
WaiverStatus = Literal["applied", "partial", "expired", "closable"]
WAIVER_STATUSES: tuple[str, ...] = ("applied", "partial", "expired", "closable")
"""`partial`: the gap waived some findings of a gate that still fails for others."""
SELECTOR_KEYS = ("finding", "match", "path", "gate")


def utc_today() -> dt.date:
    """Return today's date in UTC (the day review_by dates are compared with)."""
    return dt.datetime.now(dt.UTC).date()


def finding_id(gate_id: str, file: str, path: str, message: str) -> str:
    """Return a finding's stable id (`F-` + 10 hex): gate, file name, YAML path and message, never the line."""
    key = "\0".join((gate_id, PurePath(file).name if file else "", path, message))
    return "F-" + hashlib.sha256(key.encode()).hexdigest()[:10]


@dataclass(frozen=True)
class GateFinding:
    """One thing a failing gate reports that a gap can waive: a finding, or the gate's own failure line."""

    id: str
    text: str
    """The rendered finding (`file:line $.path: message; fix`), or the headline of a failure without findings."""
    path: str = ""
    """The finding's YAML path (`$.a.b[0]`), empty when it has none."""

    @classmethod
    def of(cls, gate_id: str, finding: Finding) -> GateFinding:
        """Return the waivable form of a finding of `gate_id`."""
        return cls(finding_id(gate_id, finding.file, finding.path, finding.message), finding.render(), finding.path)

    @classmethod
    def failure(cls, gate_id: str, line: str) -> GateFinding:
        """Return a failure without findings (a script, a crash, a failed probe part) as one finding."""
        return cls(finding_id(gate_id, "", "", line), line)

    def shown(self) -> str:
        """Return `[F-...] text` for messages."""
        return f"[{self.id}] {self.text}"


def gate_findings(result: GateResult) -> list[GateFinding]:
    """Return the waivable findings of a failing gate result (warnings never count; parts included)."""
    gate_id = result.gate.id
    out = [GateFinding.of(gate_id, f) for f in result.findings if f.severity != "warning"]
    for part in result.parts:
        if part.verdict != Verdict.FAIL:
            continue
        failing = [f for f in part.findings if f.severity != "warning"]
        out += [GateFinding.of(gate_id, f) for f in failing] or [GateFinding.failure(gate_id, part.headline())]
    if not out:
        out.append(GateFinding.failure(gate_id, result.detail or result.headline()))
    return out


@dataclass(frozen=True)
class Selector:
    """One `waives` entry of a gap: the findings it names (every key given must hold)."""

    finding: str = ""
    match: str = ""
    path: str = ""
    gate: str = ""

    def covers(self, gate_id: str, item: GateFinding) -> bool:
        """Return True when this entry names the finding of `gate_id` (an entry without keys names nothing)."""
        if not (self.finding or self.match or self.path):
            return False
        if self.gate and self.gate != gate_id:
            return False
        if self.finding and self.finding != item.id:
            return False
        if self.match and self.match not in item.text:
            return False
        return not self.path or item.path == self.path or item.path.startswith((self.path + ".", self.path + "["))

    def describe(self) -> str:
        """Return the entry as written, e.g. `{finding: F-1a2b3c4d5e}`."""
        keys = ((k, getattr(self, k)) for k in SELECTOR_KEYS)
        return "{" + ", ".join(f"{k}: {v!r}" if k == "match" else f"{k}: {v}" for k, v in keys if v) + "}"


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
    waives: tuple[Selector, ...] = ()
    """The findings the gap waives (`waives`); none means it waives nothing."""

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

    def names(self, gate_id: str, item: GateFinding) -> bool:
        """Return True when one of the gap's `waives` entries names this finding of the gate."""
        return any(s.covers(gate_id, item) for s in self.waives)

    def label(self) -> str:
        """Return `GAP-... (owner ..., review by ...)` for messages."""
        return f"{self.id} (owner {self.owner_text}, review by {self.review_by})"


def _selectors(entry: dict[str, Any]) -> tuple[Selector, ...]:
    out = []
    for raw in as_list(entry.get("waives")):
        item = mapping(raw)
        out.append(Selector(*(str(item.get(k) or "").strip() for k in SELECTOR_KEYS)))
    return tuple(out)


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
                key_lines={k: doc.line(("gaps", i, k)) for k in ("status", "review_by", "waives")},
                waives=_selectors(entry),
            )
        )
    return gaps


@dataclass(frozen=True)
class Waiver:
    """What one open gap does to one gate in this run: applied, partial, expired or closable."""

    gate_id: str
    gap: Gap
    status: WaiverStatus
    findings: tuple[str, ...] = ()
    """Ids of the findings the gap waived (applied, partial) or would have waived (expired)."""

    def reason(self, headline: str) -> str:
        """Return the expected-failure reason: `waived by GAP-... (owner ..., review by ...): <headline>`."""
        return f"waived by {self.gap.label()}: {headline}"

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
        """Return the receipt entry: gate, gap, owner, review_by, status and the findings it covered."""
        row: dict[str, Any] = {
            "gate": self.gate_id,
            "gap": self.gap.id,
            "owner": self.gap.owner or None,
            "review_by": self.gap.review_by or None,
            "status": self.status,
        }
        if self.status != "closable":
            row["findings"] = list(self.findings)
        return row


@dataclass(frozen=True)
class Decision:
    """The waiver outcome for one gate verdict: the waivers, which findings they covered, notes."""

    waivers: tuple[Waiver, ...] = ()
    notes: tuple[str, ...] = ()
    waived: tuple[tuple[GateFinding, Gap], ...] = ()
    """Each waived finding with the gap that waived it."""
    unwaived: tuple[tuple[GateFinding, Gap | None], ...] = ()
    """Each finding that still fails, with the expired gap that named it (None when no gap did)."""

    @property
    def applied(self) -> Waiver | None:
        """Return the first waiver when every finding is waived (the gate is an expected failure), else None."""
        return next((w for w in self.waivers if w.status == "applied"), None)

    @property
    def expired(self) -> Waiver | None:
        """Return the expired waiver that makes the failure read `waiver expired`, if any."""
        return next((w for w in self.waivers if w.status == "expired"), None)

    def reason(self, headline: str) -> str:
        """Return the expected-failure reason naming every gap that waived a finding."""
        gaps = [w.gap for w in self.waivers if w.status == "applied"]
        return f"waived by {', '.join(g.label() for g in gaps)}: {headline}"

    def listing(self) -> list[str]:
        """Return the message lines saying which findings were waived (and by which gap) and which were not."""
        if not self.waived and not any(gap for _, gap in self.unwaived):
            return []
        total = len(self.waived) + len(self.unwaived)
        lines = [f"  waivers: {len(self.waived)} of {total} finding(s) waived, {len(self.unwaived)} not waived"]
        lines += [f"    waived by {gap.id}: {item.shown()}" for item, gap in self.waived]
        for item, gap in self.unwaived:
            why = f" (waiver expired: {gap.id})" if gap is not None else ""
            lines.append(f"    not waived{why}: {item.shown()}")
        return lines


@dataclass(frozen=True)
class WaiverBook:
    """The gaps of one contract set and the day they are judged on."""

    gaps: Sequence[Gap]
    today: dt.date
    disabled: tuple[Finding, ...] = ()
    """Why no gap waives anything this run: operational.gaps.yaml did not load (empty when it did)."""

    @classmethod
    def from_doc(cls, doc: Document, today: dt.date | None = None) -> WaiverBook:
        """Build the book from operational.gaps.yaml (empty, and `disabled` saying why, when it does not load)."""
        return cls(tuple(load_gaps(doc)), today or utc_today(), tuple(doc.errors))

    def disabled_text(self) -> str:
        """Return one line saying that waivers are off and why (empty when they are on)."""
        if not self.disabled:
            return ""
        file = self.disabled[0].file
        return (
            f"waivers are OFF: {file} does not load ({len(self.disabled)} problem(s)), so no gap waives any "
            f"failure in this run; fix the file (pytest --gate D900 lists every problem)"
        )

    def linking(self, gate_id: str) -> list[Gap]:
        """Return every gap that links the gate, whatever its status, in file order."""
        return [g for g in self.gaps if gate_id in g.gate_ids]

    def decide(self, gate_id: str, verdict: Verdict | str, findings: Sequence[GateFinding] = ()) -> Decision:
        """Return what the open gaps linking the gate do to this verdict and these findings.

        `findings` are the failing gate's waivable findings (`gate_findings(result)`); without them a failure
        is one finding named after the gate, which a gap names only by `match` or `gate`.
        """
        open_gaps = [g for g in self.linking(gate_id) if g.is_open]
        if verdict == Verdict.PASS:
            return Decision(tuple(Waiver(gate_id, g, "closable") for g in open_gaps))
        if verdict != Verdict.FAIL:
            return Decision()
        items = list(findings) or [GateFinding.failure(gate_id, f"{gate_id} FAIL")]
        disabled = (self.disabled_text(),) if self.disabled else ()
        valid = [g for g in open_gaps if g.review_date is not None and g.review_date >= self.today]
        lapsed = [g for g in open_gaps if g.review_date is not None and g.review_date < self.today]
        waived: list[tuple[GateFinding, Gap]] = []
        unwaived: list[tuple[GateFinding, Gap | None]] = []
        for item in items:
            by = next((g for g in valid if g.names(gate_id, item)), None)
            if by is not None:
                waived.append((item, by))
            else:
                unwaived.append((item, next((g for g in lapsed if g.names(gate_id, item)), None)))
        status: WaiverStatus = "partial" if unwaived else "applied"
        waivers = [
            Waiver(gate_id, g, status, tuple(i.id for i, by in waived if by is g))
            for g in valid
            if any(by is g for _, by in waived)
        ]
        waivers += [
            Waiver(gate_id, g, "expired", tuple(i.id for i, by in unwaived if by is g))
            for g in lapsed
            if any(by is g for _, by in unwaived)
        ]
        if not unwaived:  # an expected failure: the notes would explain a failure that is not reported
            return Decision(tuple(waivers), (), tuple(waived), ())
        notes = [_undated_note(gate_id, g) for g in open_gaps if g.review_date is None]
        notes += [
            _unused_note(gate_id, g, items) for g in (*valid, *lapsed) if not any(g.names(gate_id, i) for i in items)
        ]
        return Decision(tuple(waivers), (*disabled, *notes), tuple(waived), tuple(unwaived))


def _undated_note(gate_id: str, gap: Gap) -> str:
    what = f"'{gap.review_by}' is not a real date" if gap.review_by else "it has no review_by"
    return (
        f"{gap.where()}: open gap {gap.id} links {gate_id} but waives nothing: {what}; "
        "add review_by: YYYY-MM-DD to waive the failure until then"
    )


def _unused_note(gate_id: str, gap: Gap, items: Sequence[GateFinding]) -> str:
    if not gap.waives:
        return (
            f"{gap.where()}: open gap {gap.id} links {gate_id} but waives nothing: it names no findings; add "
            f"waives: [{{finding: {items[0].id}}}] (or {{match: <text>}}, {{path: <YAML path>}}) for each finding "
            "it is about"
        )
    named = ", ".join(s.describe() for s in gap.waives)
    return (
        f"{gap.where('waives')}: open gap {gap.id} names none of the findings of {gate_id} in this run ({named}); "
        "those findings may be fixed: update waives or close the gap"
    )


def summary(rows: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Return how many receipt waiver entries are applied, expired and closable (and partial, when any)."""
    counts = {"applied": 0, "expired": 0, "closable": 0}
    for row in rows:
        counts[str(row["status"])] = counts.get(str(row["status"]), 0) + 1
    return counts
