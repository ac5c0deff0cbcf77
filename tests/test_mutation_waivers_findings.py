"""Waiver cases that kill mutmut's survivors of the per-finding rewrite of waivers.py (issue 8, item 4).

Direct unit tests of the public functions: which findings a failing gate offers for waiving (parts and
warnings included), that a `finding` entry names only its own finding, finding ids pinned to their formula,
what a loaded gap keeps when an entry is odd, and the waived/unwaived facts a decision hands to the receipt.
See bench/MUTATION.md ("waivers.py after the per-finding rewrite") for the survivors and the equivalents.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from infracore_verify.contracts.findings import Finding
from infracore_verify.contracts.loader import load_document
from infracore_verify.contracts.model import Gate
from infracore_verify.contracts.verdict import Verdict
from infracore_verify.gates.engine import GateResult
from infracore_verify.reporting.waivers import (
    Gap,
    GateFinding,
    Selector,
    Waiver,
    WaiverBook,
    finding_id,
    gate_findings,
    load_gaps,
)

TODAY = dt.date(2026, 12, 6)
LATER = "2027-01-01"
EARLIER = "2026-11-01"


def formula(*parts: str) -> str:
    """Returns the documented finding id, computed here: `F-` + 10 hex of sha256 over the NUL-joined parts."""
    return "F-" + hashlib.sha256("\0".join(parts).encode()).hexdigest()[:10]


def item(text: str, path: str = "") -> GateFinding:
    """Returns a waivable finding of gate D1 with `text` (and a YAML path)."""
    return GateFinding(formula("D1", "c.yaml", path, text), text, path)


def gap(review_by: str, *waives: Selector, gap_id: str = "GAP-1") -> Gap:
    """Returns an open gap linking D1 that waives `waives` until `review_by`."""
    return Gap(gap_id, "open", review_by=review_by, gate_ids=("D1",), file="gaps.yaml", waives=waives)


# --- finding ids ---------------------------------------------------------------------------------------


def test_a_finding_without_a_file_has_the_id_of_its_formula() -> None:
    """An empty file name adds an empty part to the key: ids users copy into waives stay as documented."""
    assert finding_id("D1", "", "$.a", "bad") == formula("D1", "", "$.a", "bad")
    assert finding_id("D1", "dir/c.yaml", "$.a", "bad") == formula("D1", "c.yaml", "$.a", "bad")


def test_a_failure_without_findings_is_one_finding_with_the_formula_id_and_its_line() -> None:
    """`GateFinding.failure` keys on gate and line only (empty file and path) and keeps the line as its text."""
    failure = GateFinding.failure("D1", "D1 FAIL: exit 2 [deterministic]")
    assert failure == GateFinding(
        formula("D1", "", "", "D1 FAIL: exit 2 [deterministic]"), "D1 FAIL: exit 2 [deterministic]", ""
    )


# --- what a failing gate offers for waiving -----------------------------------------------------------


def warning(message: str) -> Finding:
    """Returns a warning finding (never waivable, never failing)."""
    return Finding("w.yaml", 5, "$.w", message, severity="warning")


def test_gate_findings_take_errors_of_the_gate_and_of_its_failing_parts_only() -> None:
    """Warnings never count; a passing part adds nothing and does not stop later parts; a failing part adds its
    errors (keyed to the gate, not the part); a failing part with warnings only is one finding, its headline."""
    top = Finding("c.yaml", 3, "$.a", "top error")
    passing = GateResult(Gate("P1", "p1"), Verdict.PASS, "native", [Finding("p.yaml", 1, "$.p", "pass note")])
    failing = GateResult(
        Gate("P2", "p2"), Verdict.FAIL, "native", [Finding("q.yaml", 2, "$.q", "part error"), warning("part warn")]
    )
    quiet = GateResult(Gate("P3", "p3"), Verdict.FAIL, "script", [warning("only warn")], "exit 2", failure_class="x")
    failed = GateResult(
        Gate("D9", "nine"), Verdict.FAIL, "composite", [top, warning("top warn")], parts=[passing, failing, quiet]
    )
    found = [(f.id, f.text, f.path) for f in gate_findings(failed)]
    assert found == [
        (formula("D9", "c.yaml", "$.a", "top error"), "c.yaml:3 $.a: top error", "$.a"),
        (formula("D9", "q.yaml", "$.q", "part error"), "q.yaml:2 $.q: part error", "$.q"),
        (formula("D9", "", "", "P3 FAIL: exit 2 [x]"), "P3 FAIL: exit 2 [x]", ""),
    ]


def test_gate_findings_of_a_failure_without_findings_is_its_detail_or_its_headline() -> None:
    """A script failure is one finding: its detail line when it has one, else the gate's headline."""
    script = GateResult(Gate("D9", "nine"), Verdict.FAIL, "script", [warning("w")], "exit 2", failure_class="x")
    assert gate_findings(script) == [GateFinding(formula("D9", "", "", "exit 2"), "exit 2")]
    bare = GateResult(Gate("D9", "nine"), Verdict.FAIL, "script", failure_class="x")
    assert gate_findings(bare) == [GateFinding.failure("D9", "D9 FAIL: 0 finding(s) [x]")]


# --- selectors -----------------------------------------------------------------------------------------


def test_a_finding_entry_names_only_its_own_finding() -> None:
    """`{finding: F-...}` waives that finding and no other: the gate fails (partial) for the rest."""
    first, second = item("first problem"), item("second problem")
    named = gap(LATER, Selector(finding=first.id))
    decision = WaiverBook([named], TODAY).decide("D1", Verdict.FAIL, [first, second])
    assert decision.applied is None
    assert decision.waived == ((first, named),)
    assert decision.unwaived == ((second, None),)
    assert [w.row()["status"] for w in decision.waivers] == ["partial"]
    assert not Selector(finding=first.id).covers("D1", second)


def test_a_selector_describes_itself_as_written() -> None:
    """Every key given, in order, comma separated; only the match text is quoted."""
    written = Selector(finding="F-0123456789", match="core count", path="$.a", gate="D1").describe()
    assert written == "{finding: F-0123456789, match: 'core count', path: $.a, gate: D1}"


# --- decisions -----------------------------------------------------------------------------------------


def test_an_expired_gate_scoped_entry_is_reported_expired_without_an_unused_note() -> None:
    """A lapsed gap whose entry names the finding with `gate` makes the failure `waiver expired`, and is not
    also told that it names none of the findings."""
    found = item("core count mismatch")
    lapsed = gap(EARLIER, Selector(match="core count", gate="D1"))
    decision = WaiverBook([lapsed], TODAY).decide("D1", Verdict.FAIL, [found])
    assert decision.expired is not None
    assert decision.expired.row() == {
        "gate": "D1",
        "gap": "GAP-1",
        "owner": None,
        "review_by": EARLIER,
        "status": "expired",
        "findings": [found.id],
    }
    assert decision.unwaived == ((found, lapsed),)
    assert decision.notes == ()


def test_a_partial_gate_scoped_waiver_adds_no_unused_note() -> None:
    """A gap that waived one finding through a `gate` entry is not told it names none of the findings."""
    first, second = item("first problem"), item("second problem")
    named = gap(LATER, Selector(match="first", gate="D1"))
    decision = WaiverBook([named], TODAY).decide("D1", Verdict.FAIL, [first, second])
    assert [w.status for w in decision.waivers] == ["partial"]
    assert decision.notes == ()


def test_a_gap_due_today_that_names_nothing_gets_one_note() -> None:
    """A gap whose review_by is today is valid, not lapsed too: its unused note appears once, listing its
    entries as written."""
    found = item("core count mismatch")
    due = gap(TODAY.isoformat(), Selector(finding="F-0000000000"), Selector(match="zzz"))
    decision = WaiverBook([due], TODAY).decide("D1", Verdict.FAIL, [found])
    assert decision.waivers == ()
    [note] = decision.notes
    assert "open gap GAP-1 names none of the findings of D1 in this run ({finding: F-0000000000}, {match: 'zzz'})" in (
        note
    )


def test_a_fully_waived_failure_keeps_which_gap_waived_each_finding() -> None:
    """The receipt's waived_findings come from `Decision.waived`: it is filled when every finding is waived."""
    first, second = item("first problem"), item("second problem")
    by_id, by_match = gap(LATER, Selector(finding=first.id)), gap(LATER, Selector(match="second"), gap_id="GAP-2")
    decision = WaiverBook([by_id, by_match], TODAY).decide("D1", Verdict.FAIL, [first, second])
    assert decision.applied is not None
    assert decision.waived == ((first, by_id), (second, by_match))
    assert decision.unwaived == ()
    assert decision.listing()[0] == "  waivers: 2 of 2 finding(s) waived, 0 not waived"


# --- loading, messages ----------------------------------------------------------------------------------

GAPS = """\
gaps:
  - not a mapping
  - gate_ids: [D1]
  - id: GAP-2
    status: open
    review_by: "2027-01-01"
    gate_ids: [D1]
    waives:
      - {finding: F-0123456789}
"""


def test_load_gaps_skips_a_non_mapping_entry_and_keeps_empty_ids_and_states(tmp_path: Path) -> None:
    """An entry that is not a mapping is skipped (later gaps still load); a missing id or status stays empty;
    `where('waives')` points at the waives key's own line."""
    path = tmp_path / "operational.gaps.yaml"
    path.write_text(GAPS, encoding="utf-8")
    bare, named = load_gaps(load_document("gaps", path, "operational.gaps.yaml", None))
    assert (bare.id, bare.status, bare.is_open) == ("", "", False)
    assert (named.id, named.index, named.waives) == ("GAP-2", 2, (Selector(finding="F-0123456789"),))
    assert named.where("waives") == "operational.gaps.yaml:8 $.gaps[2].waives"


def test_waivers_on_have_no_off_line() -> None:
    """A book whose gaps file loaded says nothing about waivers being off."""
    assert WaiverBook((), TODAY).disabled_text() == ""


def test_a_closable_warning_without_review_by_says_not_set() -> None:
    """A passing gate's closable warning says the gap's review date is not set when it has none."""
    warning_text = Waiver("D1", gap(""), "closable").closable_warning()
    assert "open gap GAP-1 (owner unassigned, review by not set) still links it" in warning_text
