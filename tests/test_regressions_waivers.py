"""Regression tests for waivers (issue 8): a gap links a gate through regression_lock_id alone."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infracore_verify.contracts.sets import Contracts
from infracore_verify.reporting.waivers import load_gaps
from tests.conftest import ContractEditor, gates_project
from tests.projects import run
from tests.test_waivers import D127_FINDING, OWNER, gap, receipt

GAP_ID = "GAP-OP-9201"


def lock_only_gap(review_by: dt.date) -> dict[str, Any]:
    """Returns an open gap that links D127 only through regression_lock_id (no gate_ids key at all).

    It names D127's finding (`waives`, from `gap`): since issue 9 item 19 a gap waives only what it names.
    """
    entry = gap(review_by=review_by, id=GAP_ID, regression_lock_id="D127")
    del entry["gate_ids"]
    return entry


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """Returns a pytester directory laid out like the project (plugin conftest and gates/), xfail_strict on."""
    return gates_project(pytester, "xfail_strict = true")


def test_regression_lock_id_alone_links_and_waives(
    suite: pytest.Pytester, contracts_dir: Path, edit_contract: ContractEditor
) -> None:
    """Waives a failing gate named only as a gap's regression_lock_id, as it would one listed in gate_ids."""
    review = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30)
    edit_contract("operational.gaps.yaml", lambda d: d["gaps"].append(lock_only_gap(review)))
    edit_contract("gate.execution.topology.yaml", lambda d: d["core_mode"].update(core_count_limit=99))
    result = run(suite, f"--contracts={contracts_dir}", "--gate", "D127")
    result.assert_outcomes(xfailed=1)
    assert result.ret == pytest.ExitCode.OK
    data = receipt(suite)
    assert data["waivers"] == [
        {
            "gate": "D127",
            "gap": GAP_ID,
            "owner": OWNER,
            "review_by": review.isoformat(),
            "status": "applied",
            "findings": [D127_FINDING],
        }
    ]
    assert [g["verdict"] for g in data["gates"]] == ["waived"]


def test_load_gaps_links_regression_lock_id_without_gate_ids(
    open_contracts: Callable[[], Contracts], edit_contract: ContractEditor
) -> None:
    """Lists the regression_lock_id among the gap's linked gates when the gap has no gate_ids."""
    edit_contract("operational.gaps.yaml", lambda d: d["gaps"].append(lock_only_gap(dt.date(2027, 1, 1))))
    [added] = [g for g in load_gaps(open_contracts().doc("gaps")) if g.id == GAP_ID]
    assert added.gate_ids == ("D127",)
