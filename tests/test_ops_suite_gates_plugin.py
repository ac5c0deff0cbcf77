"""Issue 11 items 2 and 6 end to end: the suite's gates on an ops repository, and selections that show only what was asked.

Every run is a pytester subprocess. The ops repository comes from `tests/ops_repo.py` with the real shapes
of `tests/ops_shapes.py` (its registry has none of the suite's gates). The recovery tests need the whole
test layer, so `layer_project` copies the embedded one (gates, smoke, recovery) into the project.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from infracore_verify.suite import SUITE_DIR
from tests.conftest import PROJECT_CONFTEST, gates_project
from tests.ops_repo import make_ops_repo
from tests.ops_shapes import real_shapes

SUITE_IDS = ["D900", "D901", "D902", "D903", "D904", "D905", "D906", "D908", "D909", "D910"]
"""The suite's static gates, in the order the suite's registry lists them (D907 is live: not added)."""
OPS_FAST = ["D127", "D85", "D63", "D67", "D320", "D149"]
"""The fixture's fast set: the shipped core set without the suite's gates."""


@pytest.fixture
def ops(tmp_path: Path) -> Path:
    """Returns an ops-shaped repository with the real shapes and no suite gate in its registry."""
    return real_shapes(make_ops_repo(tmp_path / "spine"))


def layer_project(pytester: pytest.Pytester) -> pytest.Pytester:
    """Lay out a project holding the embedded test layer (gates, smoke and recovery tests) and its settings."""
    (pytester.path / "conftest.py").write_text(PROJECT_CONFTEST)
    for path in SUITE_DIR.glob("test_*.py"):
        shutil.copy(path, pytester.path / path.name)
    shutil.copy(SUITE_DIR / "pytest.ini", pytester.path / "pytest.ini")
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Runs pytest in a fresh subprocess (120 s hang guard; a run takes a few seconds)."""
    return pytester.runpytest_subprocess(*args, timeout=120)


def collected(result: pytest.RunResult, test: str = "test_gate") -> list[str]:
    """Returns the ids of the `test` items a `--co -q` run listed, in order."""
    return re.findall(rf"{test}\[([^\]]+)\]", result.stdout.str())


def receipt_rows(where: Path) -> dict[str, dict[str, Any]]:
    """Returns the gate rows of the one receipt written below `where`, by id."""
    [path] = [p for p in where.rglob("receipts/*.json") if not p.name.endswith(".drift.json")]
    return {row["id"]: row for row in json.loads(path.read_text(encoding="utf-8"))["gates"]}


def test_fast_profile_is_green_on_the_real_shapes(pytester: pytest.Pytester, ops: Path) -> None:
    """Runs the ops fast set green on a repeated capability, `plugin: ~` and the real gaps; no suite gate in it."""
    gates_project(pytester)
    result = run(pytester, f"--contracts={ops}", "-m", "fast", "-v")
    result.assert_outcomes(passed=len(OPS_FAST))
    assert re.findall(r"test_gate\[(D\d+)\] PASSED", result.stdout.str()) == OPS_FAST
    assert "waivers are OFF" not in result.stdout.str()


def test_suite_marker_runs_the_suite_gates_with_their_findings(pytester: pytest.Pytester, ops: Path) -> None:
    """Selects the suite's gates with `-m suite` on a registry without them; D908, D910 and D903 report the extras."""
    gates_project(pytester)
    listed = run(pytester, f"--contracts={ops}", "-m", "suite", "--co", "-q")
    assert collected(listed) == SUITE_IDS
    assert not list(pytester.path.rglob("receipts/*.json")), "a --co run writes no receipt"
    result = run(pytester, f"--contracts={ops}", "-m", "suite")
    result.assert_outcomes(passed=len(SUITE_IDS) - 3, failed=3)
    rows = receipt_rows(pytester.path)
    assert sorted(g for g, row in rows.items() if row["verdict"] == "fail") == ["D903", "D908", "D910"]
    result.stdout.fnmatch_lines(
        [
            "*D908 FAIL: 2 finding(s) [[]deterministic[]]",
            "*ops/capabilities.yaml:* key 'coordinator.lane.closeout' is defined 2 times*",
            "*D910 FAIL: 3 finding(s) [[]deterministic[]]",
            "*$.gaps[[]*[]].type: gap 'GAP-OP-1400' has type 'missing-process'*",
        ]
    )


def test_gate_option_and_release_reach_the_added_suite_gates(pytester: pytest.Pytester, ops: Path) -> None:
    """Runs an added suite gate by --gate; release collects every suite gate; fast and domain collect none."""
    gates_project(pytester)
    one = run(pytester, f"--contracts={ops}", "--gate", "D910")
    one.assert_outcomes(failed=1)
    release = collected(run(pytester, f"--contracts={ops}", "--profile", "release", "--co", "-q"))
    assert [g for g in release if int(g[1:]) >= 900] == SUITE_IDS
    for args in (("--profile", "fast"), ("--domain", "infra")):
        ids = collected(run(pytester, f"--contracts={ops}", *args, "--co", "-q"))
        assert ids, args
        assert not [g for g in ids if int(g[1:]) >= 900], args


def test_list_gates_lists_the_suite_gates_of_an_ops_repository(pytester: pytest.Pytester, ops: Path) -> None:
    """Lists D900-D910 (without the live D907) when the ops registry has none, and says they were added."""
    gates_project(pytester)
    result = run(pytester, f"--contracts={ops}", "--list-gates")
    assert result.ret == 0
    result.stdout.re_match_lines(
        [
            r"D908 +contracts-repeated-key-lock +invariant +instant +medium +- +no +native$",
            r"D910 +operational-gaps-style-lock .* native$",
            r".*gate\(s\), selection 'all' from .*; the suite's own D900, D901, .*D910 added \(not in this registry\)",
        ]
    )
    assert not any(line.startswith("D907 ") for line in result.outlines)


@pytest.mark.parametrize(
    "selection",
    [("--profile", "release"), ("--gate", "D1"), ("--domain", "core"), ("--probe", "vaultwarden.alive")],
    ids=["profile", "gate", "domain", "probe"],
)
def test_selections_deselect_the_recovery_tests(
    pytester: pytest.Pytester, ops: Path, selection: tuple[str, str]
) -> None:
    """Leaves recovery tests out of a --profile/--gate/--domain/--probe run (deselected, never skipped)."""
    layer_project(pytester)
    result = run(pytester, f"--contracts={ops}", *selection, "--co", "-q")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    assert collected(result, "test_recovery") == []
    assert result.parseoutcomes()["deselected"] > 0
    asked = run(pytester, f"--contracts={ops}", *selection, "-m", "gate or smoke or recovery", "--co", "-q")
    assert collected(asked, "test_recovery"), "-m recovery asks for them"
    assert not list(pytester.path.rglob("receipts/*.json")), "a --co run writes no receipt"


def test_release_run_shows_no_recovery_test_unless_asked(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """Runs --profile release on an ops repository with only the two not-applicable gates skipped; no recovery test."""
    ops = make_ops_repo(tmp_path / "spine")
    layer_project(pytester)
    result = run(pytester, f"--contracts={ops}", "--profile", "release", "-rs")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0, result.stdout.str()
    assert outcomes["skipped"] == 2, result.stdout.str()
    assert "test_recovery" not in result.stdout.str()
    assert "pass --allow-recovery to run" not in result.stdout.str()
