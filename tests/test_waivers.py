"""Waivers from operational.gaps.yaml: applied, expired and closable, end to end and as rules.

Since issue 9 item 19 a gap waives only the findings it names (`waives`); the gaps here name D127's one
finding by its YAML path (see tests/test_waivers_findings.py for partial waivers and finding ids).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infracore_verify.contracts.findings import Finding
from infracore_verify.contracts.sets import Contracts
from infracore_verify.reporting.waivers import (
    Gap,
    GateFinding,
    Selector,
    Waiver,
    WaiverBook,
    finding_id,
    load_gaps,
    summary,
)
from tests.conftest import ContractEditor, gates_project
from tests.projects import run

GAP_ID = "GAP-OP-9001"
OWNER = "@platform"
HEADLINE = "D127 FAIL: 1 finding(s) [deterministic]"
D127_PATH = "$.core_mode.core_count_limit"
"""The YAML path of the one finding D127 reports when core_count_limit is 99 (`broken_d127`)."""
D127_FINDING = finding_id(
    "D127", "gate.execution.topology.yaml", D127_PATH, "core gate count mismatch: expected 99 got 13"
)
TODAY = dt.datetime.now(dt.UTC).date()


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """Returns a pytester directory laid out like the project (plugin conftest and gates/), xfail_strict on."""
    return gates_project(pytester, "xfail_strict = true")


def receipt(pytester: pytest.Pytester) -> dict[str, Any]:
    """Returns the single receipt the run wrote."""
    [path] = [p for p in (pytester.path / "reports" / "receipts").glob("*.json") if not p.name.endswith(".drift.json")]
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def allure_result(folder: Path) -> dict[str, Any]:
    """Returns the single Allure result of the run."""
    [path] = folder.glob("*-result.json")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def categories_of(folder: Path, result: dict[str, Any]) -> list[str]:
    """Returns the names of the categories.json entries that take the result."""
    message = (result.get("statusDetails") or {}).get("message", "")
    return [
        c["name"]
        for c in json.loads((folder / "categories.json").read_text())
        if result["status"] in c["matchedStatuses"] and re.fullmatch(c["messageRegex"], message)
    ]


def gap(status: str = "open", review_by: dt.date | None = None, **extra: Any) -> dict[str, Any]:
    """Returns a schema-valid gap entry linking D127 and waiving its core-count finding (by YAML path)."""
    entry: dict[str, Any] = {
        "id": GAP_ID,
        "title": "Core count limit under review",
        "discovered_by": "@tester",
        "discovered_at": "2026-11-01",
        "description": "The core gate count limit is being renegotiated.",
        "severity": "medium",
        "type": "stale-ssot",
        "status": status,
        "owner": OWNER,
        "gate_ids": ["D127"],
        "waives": [{"path": D127_PATH}],
    }
    if review_by is not None:
        entry["review_by"] = review_by.isoformat()
    entry.update(extra)
    return entry


AddGap = Callable[..., tuple[str, int]]


@pytest.fixture
def add_gap(edit_contract: ContractEditor, contracts_dir: Path) -> AddGap:
    """Returns `add_gap(**gap_args)`: appends a gap to the copied gaps file; returns (file shown, its index)."""

    def add(**kwargs: Any) -> tuple[str, int]:
        index: list[int] = []

        def append(data: dict[str, Any]) -> None:
            index.append(len(data["gaps"]))
            data["gaps"].append(gap(**kwargs))

        edit_contract("operational.gaps.yaml", append)
        return str((contracts_dir / "operational.gaps.yaml").resolve()), index[0]

    return add


def gap_line(contracts_dir: Path, *path: str | int) -> int:
    """Returns the line of a YAML path in the copied gaps file."""
    return Contracts.open(contracts_dir).doc("gaps").line(("gaps", *path))


@pytest.fixture
def broken_d127(edit_contract: ContractEditor) -> None:
    """Makes D127 fail: the topology's core_count_limit no longer matches the 13 core gates."""
    edit_contract("gate.execution.topology.yaml", lambda d: d["core_mode"].update(core_count_limit=99))


# --- end to end ----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("broken_d127")
def test_open_gap_waives_the_failure_until_review_by(
    suite: pytest.Pytester, contracts_dir: Path, add_gap: AddGap
) -> None:
    """Reports a failing gate linked by an open gap as an expected failure with gap id, owner and review date."""
    review = TODAY + dt.timedelta(days=30)
    add_gap(review_by=review)
    out = suite.path / "allure-results"
    result = run(suite, f"--contracts={contracts_dir}", "--gate", "D127", f"--alluredir={out}", "-rx")
    result.assert_outcomes(xfailed=1)
    assert result.ret == pytest.ExitCode.OK
    reason = f"waived by {GAP_ID} (owner {OWNER}, review by {review}): {HEADLINE}"
    assert f"XFAIL gates/test_gates.py::test_gate[D127] - {reason}" in result.stdout.lines
    result.stdout.fnmatch_lines(
        [
            "wrapper: total=1 pass=0 fail=0 waived=1",
            "failing_gate_ids: none",
            "waivers: applied=1 expired=0 closable=0",
            f"    D127 {GAP_ID}: applied (owner {OWNER}, review by {review}) findings {D127_FINDING}",
        ]
    )
    data = receipt(suite)
    entry = {
        "gate": "D127",
        "gap": GAP_ID,
        "owner": OWNER,
        "review_by": review.isoformat(),
        "status": "applied",
        "findings": [D127_FINDING],
    }
    assert data["waivers"] == [entry]
    [row] = data["gates"]
    assert (row["verdict"], row["failure_class"], row["message"]) == ("waived", "deterministic", reason)
    assert row["waivers"] == [entry]
    assert data["failing_gate_ids"] == []
    allure = allure_result(out)
    assert allure["status"] == "skipped"
    assert allure["statusDetails"]["message"].startswith(f"XFAIL {reason}\n")
    for label in (
        {"name": "waiver", "value": f"applied: {GAP_ID}"},
        {"name": "owner", "value": OWNER},
        {"name": "review_by", "value": review.isoformat()},
        {"name": "tag", "value": "waived"},
    ):
        assert label in allure["labels"]
    assert {"type": "issue", "url": f"https://tracker.invalid/gaps/{GAP_ID}", "name": f"{GAP_ID} (open)"} in allure[
        "links"
    ]
    assert categories_of(out, allure) == ["Waived"]


@pytest.mark.usefixtures("broken_d127")
def test_review_date_today_still_waives(suite: pytest.Pytester, contracts_dir: Path, add_gap: AddGap) -> None:
    """Keeps the waiver on its review date itself (it lapses the day after)."""
    add_gap(status="accepted", review_by=TODAY)
    run(suite, f"--contracts={contracts_dir}", "--gate", "D127").assert_outcomes(xfailed=1)


@pytest.mark.usefixtures("broken_d127")
def test_expired_waiver_fails_again(suite: pytest.Pytester, contracts_dir: Path, add_gap: AddGap) -> None:
    """Fails the gate again after review_by, starting with `waiver expired` and naming where to renew it."""
    review = TODAY - dt.timedelta(days=1)
    shown, index = add_gap(review_by=review)
    out = suite.path / "allure-results"
    result = run(suite, f"--contracts={contracts_dir}", "--gate", "D127", f"--alluredir={out}")
    result.assert_outcomes(failed=1)
    first = f"waiver expired: {GAP_ID} (review by {review}, owner {OWNER}): {HEADLINE}"
    renew = (
        f"  {shown}:{gap_line(contracts_dir, index, 'review_by')} $.gaps[{index}].review_by: the waiver lapsed "
        f"after {review}; fix the failure, or review the gap and move review_by forward"
    )
    lines = result.stdout.lines
    assert first in lines
    assert renew in lines
    assert lines.index(renew) > lines.index(first)
    result.stdout.fnmatch_lines(
        [
            "failing_gate_ids: D127",
            "waivers: applied=0 expired=1 closable=0",
            f"    D127 {GAP_ID}: expired (owner {OWNER}, review by {review}) findings {D127_FINDING}",
        ]
    )
    data = receipt(suite)
    assert data["waivers"] == [
        {
            "gate": "D127",
            "gap": GAP_ID,
            "owner": OWNER,
            "review_by": review.isoformat(),
            "status": "expired",
            "findings": [D127_FINDING],
        }
    ]
    [row] = data["gates"]
    assert (row["verdict"], row["failure_class"]) == ("fail", "deterministic")
    assert row["message"].startswith(first + "\n")
    assert data["failure_class"] == {"deterministic": 1, "freshness": 0, "gate_bug": 0, "timeout": 0}
    allure = allure_result(out)
    assert allure["status"] == "failed"
    assert allure["statusDetails"]["message"].startswith(f"Failed: {first}\n")
    assert {"name": "failure_class", "value": "waiver_expired"} in allure["labels"]
    assert {"name": "failure_class", "value": "deterministic"} not in allure["labels"]
    assert {"name": "waiver", "value": f"expired: {GAP_ID}"} in allure["labels"]
    assert categories_of(out, allure) == ["Waiver expired"]


def test_passing_gate_with_open_gap_is_flagged_closable(
    suite: pytest.Pytester, contracts_dir: Path, add_gap: AddGap
) -> None:
    """Passes a gate that an open gap still links, with a warning, an Allure tag and a receipt entry."""
    review = TODAY + dt.timedelta(days=30)
    shown, index = add_gap(review_by=review)
    out = suite.path / "allure-results"
    result = run(suite, f"--contracts={contracts_dir}", "--gate", "D127", f"--alluredir={out}")
    result.assert_outcomes(passed=1, warnings=1)
    warning = (
        f"D127 passes but open gap {GAP_ID} (owner {OWNER}, review by {review}) still links it; the gap may be "
        f"closable: set status: fixed at {shown}:{gap_line(contracts_dir, index, 'status')} $.gaps[{index}].status"
    )
    assert any(line.endswith(f"test_gates.py:9: PytestWarning: {warning}") for line in result.stdout.lines)
    result.stdout.fnmatch_lines(
        [
            "wrapper: total=1 pass=1 fail=0",
            "waivers: applied=0 expired=0 closable=1",
            f"    D127 {GAP_ID}: closable (owner {OWNER}, review by {review})",
        ]
    )
    assert receipt(suite)["waivers"] == [
        {"gate": "D127", "gap": GAP_ID, "owner": OWNER, "review_by": review.isoformat(), "status": "closable"}
    ]
    allure = allure_result(out)
    assert allure["status"] == "passed"
    assert {"name": "tag", "value": "gap-may-be-closable"} in allure["labels"]
    assert {"name": "waiver", "value": f"closable: {GAP_ID}"} in allure["labels"]


@pytest.mark.parametrize("status", ["fixed", "closed"])
@pytest.mark.usefixtures("broken_d127")
def test_fixed_or_closed_gap_waives_nothing(
    suite: pytest.Pytester, contracts_dir: Path, add_gap: AddGap, status: str
) -> None:
    """Fails the gate as usual when the gap that links it is fixed or closed, and lists no waiver."""
    add_gap(status=status, review_by=TODAY + dt.timedelta(days=30), regression_lock_id="D127", fixed_at="2026-11-20")
    result = run(suite, f"--contracts={contracts_dir}", "--gate", "D127")
    result.assert_outcomes(failed=1)
    assert HEADLINE in result.stdout.lines
    assert "waiver" not in result.stdout.str()
    assert receipt(suite)["waivers"] == []


@pytest.mark.usefixtures("broken_d127")
def test_open_gap_without_review_by_waives_nothing(
    suite: pytest.Pytester, contracts_dir: Path, add_gap: AddGap
) -> None:
    """Fails the gate when the open gap has no review_by, noting the gap and how to make it a waiver."""
    shown, index = add_gap()
    result = run(suite, f"--contracts={contracts_dir}", "--gate", "D127")
    result.assert_outcomes(failed=1)
    note = (
        f"  note: {shown}:{gap_line(contracts_dir, index)} $.gaps[{index}]: open gap {GAP_ID} links D127 but waives "
        "nothing: it has no review_by; add review_by: YYYY-MM-DD to waive the failure until then"
    )
    assert HEADLINE in result.stdout.lines
    assert note in result.stdout.lines
    assert receipt(suite)["waivers"] == []


# --- the rules -----------------------------------------------------------------------------------------

DAY = dt.date(2026, 11, 26)


def book(*gaps: Gap) -> WaiverBook:
    """Returns a waiver book judged on DAY."""
    return WaiverBook(gaps, DAY)


FAILING = [GateFinding.of("D1", Finding("f.yaml", 2, "$.x", "bad"))]
"""The one finding of a failing D1, which every gap of `make_gap` names by its YAML path."""


def make_gap(gap_id: str, status: str = "open", review_by: str = "", gates: tuple[str, ...] = ("D1",)) -> Gap:
    """Returns a gap linking `gates` and waiving findings at `$.x`."""
    return Gap(
        gap_id,
        status,
        owner="@o",
        review_by=review_by,
        gate_ids=gates,
        file="gaps.yaml",
        line=3,
        waives=(Selector(path="$.x"),),
    )


def test_first_valid_gap_in_file_order_waives() -> None:
    """Skips expired and undated gaps when a later open gap still waives; uses the first valid one."""
    decision = book(
        make_gap("GAP-OP-1", review_by="2026-11-25"),
        make_gap("GAP-OP-2"),
        make_gap("GAP-OP-3", status="accepted", review_by="2026-11-26"),
        make_gap("GAP-OP-4", review_by="2027-01-01"),
    ).decide("D1", "fail", FAILING)
    assert decision.applied is not None
    assert decision.applied.gap.id == "GAP-OP-3"
    assert decision.expired is None
    assert decision.notes == ()


def test_expired_and_undated_gaps() -> None:
    """Reports the first expired gap when none is valid, with a note for each undated or impossible date."""
    decision = book(
        make_gap("GAP-OP-1", review_by="2026-02-30"),
        make_gap("GAP-OP-2", review_by="2026-11-25"),
        make_gap("GAP-OP-3", review_by="2026-10-01"),
    ).decide("D1", "fail", FAILING)
    assert decision.applied is None
    assert decision.expired is not None
    assert decision.expired.gap.id == "GAP-OP-2"
    assert decision.notes == (
        "gaps.yaml:3 $.gaps[0]: open gap GAP-OP-1 links D1 but waives nothing: '2026-02-30' is not a real date; "
        "add review_by: YYYY-MM-DD to waive the failure until then",
    )


def test_pass_skip_and_unlinked_gates() -> None:
    """Flags every open gap of a passing gate as closable; a skip or an unlinked gate gets nothing."""
    waivers = book(
        make_gap("GAP-OP-1", review_by="2027-01-01"),
        make_gap("GAP-OP-2", status="fixed", review_by="2027-01-01"),
        make_gap("GAP-OP-3"),
    )
    assert [(w.gap.id, w.status) for w in waivers.decide("D1", "pass").waivers] == [
        ("GAP-OP-1", "closable"),
        ("GAP-OP-3", "closable"),
    ]
    assert waivers.decide("D1", "skip").waivers == ()
    assert waivers.decide("D2", "fail", FAILING).waivers == ()


def test_messages_and_summary() -> None:
    """Words the reason, the expired message and the receipt row exactly; counts rows by status."""
    waiver = Waiver("D1", make_gap("GAP-OP-1", review_by="2026-11-01"), "expired")
    assert waiver.reason("D1 FAIL: x [deterministic]") == (
        "waived by GAP-OP-1 (owner @o, review by 2026-11-01): D1 FAIL: x [deterministic]"
    )
    assert waiver.expired_message("D1 FAIL: x [deterministic]\n  f.yaml:2 $.a: bad") == (
        "waiver expired: GAP-OP-1 (review by 2026-11-01, owner @o): D1 FAIL: x [deterministic]\n"
        "  f.yaml:2 $.a: bad\n"
        "  gaps.yaml:3 $.gaps[0].review_by: the waiver lapsed after 2026-11-01; fix the failure, or review the gap "
        "and move review_by forward"
    )
    assert waiver.row() == {
        "gate": "D1",
        "gap": "GAP-OP-1",
        "owner": "@o",
        "review_by": "2026-11-01",
        "status": "expired",
        "findings": [],
    }
    assert summary([waiver.row(), {**waiver.row(), "status": "closable"}]) == {
        "applied": 0,
        "expired": 1,
        "closable": 1,
    }


def test_load_gaps_links_gate_ids_and_regression_lock(
    open_contracts: Callable[[], Contracts], edit_contract: ContractEditor
) -> None:
    """Reads the shipped gaps: links from gate_ids and regression_lock_id, owner, review_by and lines."""
    gaps = load_gaps(open_contracts().doc("gaps"))
    assert [(g.id, g.status, g.owner, g.review_by, g.gate_ids) for g in gaps] == [
        ("GAP-OP-1291", "open", "@operator", "2027-03-31", ("D320",)),
        ("GAP-OP-1302", "fixed", "@operator", "", ("D149",)),
    ]
    assert [g.waives for g in gaps] == [(), ()]  # the shipped gaps name no findings: they waive nothing
    assert gaps[0].where("review_by").startswith("contracts/operational.gaps.yaml:")
    edit_contract("operational.gaps.yaml", lambda d: d["gaps"][0].update(severity="urgent"))
    assert load_gaps(open_contracts().doc("gaps")) == []  # a gaps file that does not load waives nothing
