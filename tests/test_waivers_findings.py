"""Per-finding waivers (issue 9 items 19 and 20): a gap waives only the findings it names, and a gaps file
that does not load switches every waiver off loudly, in the summary, the failure message and the receipt."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from infracore_verify.contracts.findings import Finding, did_you_mean
from infracore_verify.contracts.sets import BUNDLED_CONTRACTS
from infracore_verify.reporting.waivers import (
    Gap,
    GateFinding,
    Selector,
    WaiverBook,
    finding_id,
)
from tests.conftest import ContractEditor, gates_project
from tests.projects import run
from tests.test_waivers import receipt

SHIPPED_GAP = "GAP-OP-1291"
BASELINE = "infra.core.baseline.contract.yaml"
MISSING = "does not exist in recovery.actions.yaml"
REVIEW = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30)).isoformat()


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """Returns a pytester directory laid out like the project (plugin conftest and gates/), xfail_strict on."""
    return gates_project(pytester, "xfail_strict = true")


def gate_row(data: dict[str, Any], gate_id: str) -> dict[str, Any]:
    """Returns the receipt row of one gate."""
    rows: list[dict[str, Any]] = [g for g in data["gates"] if g["id"] == gate_id]
    [row] = rows
    return row


def lit(text: str) -> str:
    """Returns `text` for fnmatch_lines with its brackets taken literally."""
    return text.replace("[", "[[]")


def break_actions(edit_contract: ContractEditor, *systems: str) -> None:
    """Points the baseline's self_heal of each system at a recovery action that does not exist."""

    def mutate(data: dict[str, Any]) -> None:
        for system in systems:
            data["systems"][system]["self_heal"]["recovery_action_id"] = f"recover-{system}-gone"

    edit_contract(BASELINE, mutate)


def set_shipped_gap(edit_contract: ContractEditor, **keys: Any) -> None:
    """Updates the shipped gap GAP-OP-1291 (open, linking D320) with `keys`."""

    def mutate(data: dict[str, Any]) -> None:
        [entry] = [g for g in data["gaps"] if g["id"] == SHIPPED_GAP]
        entry.update(keys)

    edit_contract("operational.gaps.yaml", mutate)


def missing_action_id(system: str) -> str:
    """Returns the id of D320's finding for a system whose recovery action does not exist."""
    actions = yaml.safe_load((BUNDLED_CONTRACTS / "recovery.actions.yaml").read_text(encoding="utf-8"))["actions"]
    gone = f"recover-{system}-gone"
    path = f"$.systems.{system}.self_heal.recovery_action_id"
    message = f"{system}: recovery action '{gone}' {MISSING}{did_you_mean(gone, [a['id'] for a in actions])}"
    return finding_id("D320", BASELINE, path, message)


# --- end to end ----------------------------------------------------------------------------------------


def test_shipped_gap_no_longer_hides_a_new_d320_finding(
    suite: pytest.Pytester, contracts_dir: Path, edit_contract: ContractEditor
) -> None:
    """Fails `-m fast` on a baseline naming a missing recovery action: the shipped gap names no finding of D320.

    On the old code the whole-gate waiver of GAP-OP-1291 turned the failure into an xfail and the run exited 0.
    """
    break_actions(edit_contract, "cloudflare")
    result = run(suite, f"--contracts={contracts_dir}", "-m", "fast")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([lit("FAILED gates/test_gates.py::test_gate[D320]") + "*"])
    assert "xfailed" not in result.stdout.str()
    found = missing_action_id("cloudflare")
    result.stdout.fnmatch_lines(
        [
            "  note: *operational.gaps.yaml:* "
            + lit(f"$.gaps[0]: open gap {SHIPPED_GAP} links D320 but waives nothing: ")
            + lit(f"it names no findings; add waives: [{{finding: {found}}}]")
            + "*",
        ]
    )
    data = receipt(suite)
    assert "D320" in data["failing_gate_ids"]
    assert gate_row(data, "D320")["verdict"] == "fail"
    assert data["waivers"] == []


def test_gap_waives_only_the_findings_it_names(
    suite: pytest.Pytester, contracts_dir: Path, edit_contract: ContractEditor
) -> None:
    """Waives the finding the gap's path names and fails the gate on the other, listing both by id."""
    break_actions(edit_contract, "cloudflare", "vaultwarden")
    set_shipped_gap(
        edit_contract, review_by=REVIEW, waives=[{"path": "$.systems.cloudflare.self_heal.recovery_action_id"}]
    )
    result = run(suite, f"--contracts={contracts_dir}", "--gate", "D320")
    result.assert_outcomes(failed=1)
    waived, other = missing_action_id("cloudflare"), missing_action_id("vaultwarden")
    result.stdout.fnmatch_lines(
        [
            "  waivers: 1 of 2 finding(s) waived, 1 not waived",
            lit(f"    waived by {SHIPPED_GAP}: [{waived}] ")
            + f"*{BASELINE}:* $.systems.cloudflare.self_heal.recovery_action_id: *",
            lit(f"    not waived: [{other}] ") + f"*{BASELINE}:* $.systems.vaultwarden.self_heal.recovery_action_id: *",
        ]
    )
    result.stdout.fnmatch_lines(["waivers: applied=0 expired=0 closable=0 partial=1"])
    data = receipt(suite)
    assert data["waivers"] == [
        {
            "gate": "D320",
            "gap": SHIPPED_GAP,
            "owner": "@operator",
            "review_by": REVIEW,
            "status": "partial",
            "findings": [waived],
        }
    ]
    row = gate_row(data, "D320")
    assert (row["verdict"], row["waived_findings"], row["unwaived_findings"]) == ("fail", [waived], [other])
    assert data["failing_gate_ids"] == ["D320"]


def test_gap_naming_every_finding_waives_the_gate(
    suite: pytest.Pytester, contracts_dir: Path, edit_contract: ContractEditor
) -> None:
    """Turns the gate into an expected failure when a match and a finding id cover every finding."""
    break_actions(edit_contract, "cloudflare", "vaultwarden")
    other = missing_action_id("vaultwarden")
    set_shipped_gap(
        edit_contract,
        review_by=REVIEW,
        waives=[{"match": "recover-cloudflare-gone", "gate": "D320"}, {"finding": other}],
    )
    result = run(suite, f"--contracts={contracts_dir}", "--gate", "D320", "-rx")
    result.assert_outcomes(xfailed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["XFAIL *" + lit(f"test_gate[D320] - waived by {SHIPPED_GAP} (owner @operator, review by ") + "*"]
    )
    [entry] = receipt(suite)["waivers"]
    assert (entry["status"], sorted(entry["findings"])) == (
        "applied",
        sorted([missing_action_id("cloudflare"), other]),
    )


def test_finding_id_from_the_message_waives_it(
    suite: pytest.Pytester, contracts_dir: Path, edit_contract: ContractEditor
) -> None:
    """Waives a finding by the id the failure message printed: the id an operator copies is the one that works."""
    break_actions(edit_contract, "authentik")
    first = run(suite, f"--contracts={contracts_dir}", "--gate", "D320")
    first.assert_outcomes(failed=1)
    match = re.search(r"add waives: \[\{finding: (F-[0-9a-f]{10})\}\]", first.stdout.str())
    assert match is not None, first.stdout.str()
    set_shipped_gap(edit_contract, review_by=REVIEW, waives=[{"finding": match[1]}])
    second = run(suite, f"--contracts={contracts_dir}", "--gate", "D320")
    second.assert_outcomes(xfailed=1)


def test_expired_gap_that_named_the_finding_reads_waiver_expired(
    suite: pytest.Pytester, contracts_dir: Path, edit_contract: ContractEditor
) -> None:
    """Fails with `waiver expired` when the gap naming the finding is past review_by, marking the finding so."""
    break_actions(edit_contract, "cloudflare")
    set_shipped_gap(edit_contract, review_by="2026-01-01", waives=[{"match": MISSING}])
    result = run(suite, f"--contracts={contracts_dir}", "--gate", "D320")
    result.assert_outcomes(failed=1)
    found = missing_action_id("cloudflare")
    result.stdout.fnmatch_lines(
        [
            f"waiver expired: {SHIPPED_GAP} (review by 2026-01-01, owner @operator): D320 FAIL: 1 finding(s)*",
            lit(f"    not waived (waiver expired: {SHIPPED_GAP}): [{found}] ") + "*",
        ]
    )
    [entry] = receipt(suite)["waivers"]
    assert (entry["status"], entry["findings"]) == ("expired", [found])


def test_gaps_file_that_does_not_load_switches_waivers_off_loudly(
    suite: pytest.Pytester, contracts_dir: Path, edit_contract: ContractEditor
) -> None:
    """Says in the summary, the failure message and the receipt that no waiver applies when the gaps file is bad.

    On the old code every waiver was dropped and the run said nothing about it.
    """
    break_actions(edit_contract, "cloudflare")

    def mutate(data: dict[str, Any]) -> None:
        [entry] = [g for g in data["gaps"] if g["id"] == SHIPPED_GAP]
        entry.update(review_by=REVIEW, waives=[{"match": MISSING}])
        data["gaps"][1]["severity"] = "urgent"

    edit_contract("operational.gaps.yaml", mutate)
    result = run(suite, f"--contracts={contracts_dir}", "--gate", "D320")
    result.assert_outcomes(failed=1)
    off = (
        f"waivers are OFF: {contracts_dir}/operational.gaps.yaml does not load (1 problem(s)), so no gap waives any "
        "failure in this run; fix the file (pytest --gate D900 lists every problem)"
    )
    assert off in result.stdout.lines
    assert f"  note: {off}" in result.stdout.lines
    result.stdout.fnmatch_lines([f"    {contracts_dir}/operational.gaps.yaml:* " + lit("$.gaps[1].severity: ") + "*"])
    disabled = receipt(suite)["waivers_disabled"]
    assert disabled["reason"] == off
    assert disabled["file"] == f"{contracts_dir}/operational.gaps.yaml"
    assert len(disabled["problems"]) == 1


def test_receipt_says_waivers_are_on(suite: pytest.Pytester, contracts_dir: Path) -> None:
    """Records `waivers_disabled: null` when the gaps file loads, and prints no warning."""
    result = run(suite, f"--contracts={contracts_dir}", "--gate", "D127")
    result.assert_outcomes(passed=1)
    assert "waivers are OFF" not in result.stdout.str()
    assert receipt(suite)["waivers_disabled"] is None


# --- the rules -----------------------------------------------------------------------------------------

DAY = dt.date(2026, 11, 26)


def make_gap(gap_id: str, review_by: str = "2027-01-01", waives: tuple[Selector, ...] = ()) -> Gap:
    """Returns an open gap linking D1 that waives `waives`."""
    return Gap(
        gap_id, "open", owner="@o", review_by=review_by, gate_ids=("D1",), file="gaps.yaml", line=3, waives=waives
    )


def item(path: str, message: str = "bad") -> GateFinding:
    """Returns a finding of D1 at `path`."""
    return GateFinding.of("D1", Finding("f.yaml", 2, path, message, "fix it"))


def test_selector_keys_must_all_hold() -> None:
    """Matches by id, by text, by YAML path or a parent of it, limited to one gate; an empty entry names nothing."""
    found = item("$.a.b[0].c")
    assert Selector(finding=found.id).covers("D1", found)
    assert Selector(match="b[0].c: bad; fix").covers("D1", found)
    assert Selector(path="$.a.b[0]").covers("D1", found)
    assert Selector(path="$.a.b").covers("D1", found)
    assert not Selector(path="$.a.bb").covers("D1", found)
    assert not Selector(path="$.a.b", gate="D2").covers("D1", found)
    assert not Selector(path="$.a.b", match="other").covers("D1", found)
    assert not Selector().covers("D1", found)
    assert not Selector(gate="D1").covers("D1", found)


def test_finding_ids_ignore_the_line_and_the_folder() -> None:
    """Keeps a finding's id when lines move or the contracts live elsewhere; a new message is a new id."""
    a = finding_id("D1", "contracts/x.yaml", "$.a", "bad")
    assert a == GateFinding.of("D1", Finding("/tmp/other/x.yaml", 99, "$.a", "bad")).id
    assert re.fullmatch(r"F-[0-9a-f]{10}", a)
    assert a != finding_id("D1", "contracts/x.yaml", "$.a", "worse")
    assert a != finding_id("D2", "contracts/x.yaml", "$.a", "bad")


def test_decision_partial_applied_and_unnamed() -> None:
    """Waives only named findings: partial when others remain, applied when none remain, nothing without waives."""
    one, two = item("$.one"), item("$.two")
    book = WaiverBook((make_gap("GAP-OP-1", waives=(Selector(path="$.one"),)), make_gap("GAP-OP-2")), DAY)
    partial = book.decide("D1", "fail", [one, two])
    assert partial.applied is None
    assert [(w.gap.id, w.status, w.findings) for w in partial.waivers] == [("GAP-OP-1", "partial", (one.id,))]
    assert partial.listing() == [
        "  waivers: 1 of 2 finding(s) waived, 1 not waived",
        f"    waived by GAP-OP-1: {one.shown()}",
        f"    not waived: {two.shown()}",
    ]
    assert partial.notes == (
        "gaps.yaml:3 $.gaps[0]: open gap GAP-OP-2 links D1 but waives nothing: it names no findings; add "
        f"waives: [{{finding: {one.id}}}] (or {{match: <text>}}, {{path: <YAML path>}}) for each finding it is about",
    )
    applied = book.decide("D1", "fail", [one])
    assert applied.applied is not None
    assert applied.reason("D1 FAIL: x") == "waived by GAP-OP-1 (owner @o, review by 2027-01-01): D1 FAIL: x"
    assert book.decide("D1", "fail").waivers == ()  # a failure without findings is named by no path


def test_two_gaps_together_waive_the_gate_and_the_reason_names_both() -> None:
    """Waives a gate whose findings two gaps share between them; the reason names both gaps in file order."""
    one, two = item("$.one"), item("$.two")
    book = WaiverBook(
        (
            make_gap("GAP-OP-1", waives=(Selector(path="$.one"),)),
            make_gap("GAP-OP-2", review_by="2026-12-01", waives=(Selector(path="$.two"),)),
        ),
        DAY,
    )
    decision = book.decide("D1", "fail", [one, two])
    assert [w.status for w in decision.waivers] == ["applied", "applied"]
    assert decision.reason("H") == (
        "waived by GAP-OP-1 (owner @o, review by 2027-01-01), GAP-OP-2 (owner @o, review by 2026-12-01): H"
    )


def test_gap_naming_findings_this_run_did_not_produce_is_noted() -> None:
    """Notes a gap whose waives match none of the gate's findings (they may be fixed)."""
    book = WaiverBook((make_gap("GAP-OP-1", waives=(Selector(path="$.gone"),)),), DAY)
    decision = book.decide("D1", "fail", [item("$.one")])
    assert decision.waivers == ()
    assert decision.notes == (
        "gaps.yaml:3 $.gaps[0].waives: open gap GAP-OP-1 names none of the findings of D1 in this run "
        "({path: $.gone}); those findings may be fixed: update waives or close the gap",
    )


def test_disabled_book_notes_every_failure() -> None:
    """Puts the `waivers are OFF` line on every failing gate of a book built from a gaps file that did not load."""
    problem = Finding("gaps.yaml", 4, "$.gaps[0].severity", "bad", "fix")
    book = WaiverBook((), DAY, (problem,))
    assert book.decide("D1", "fail", [item("$.one")]).notes == (book.disabled_text(),)
    assert book.disabled_text().startswith("waivers are OFF: gaps.yaml does not load (1 problem(s))")
    assert book.decide("D1", "pass").notes == ()
