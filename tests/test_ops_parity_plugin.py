"""Issue 11 end to end: the plugin pointed at an ops-shaped repository (release, hang guard, profiles, listing).

Every run is a pytester subprocess on a project laid out like the checkout (`gates_project`), with the ops
repository built by `tests/ops_repo.py` outside the project directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import gates_project
from tests.ops_repo import DRIFT_GATE, DRIFT_GATE_RAN, INLINE_GATES, INLINE_IDS, ExtraGate, make_ops_repo

COMPOSITE = (
    ExtraGate("D60", "composite-parent-lock", script='echo "D60 PASS: parent"', fields={"composite_of": ["D61"]}),
    ExtraGate(
        "D61",
        "verbose-child-lock",
        script='echo "D61 PASS: child" >> "$SPINE_ROOT/d61-runs.log"',
        fields={"verbose_only": True, "composite_parent": "D60"},
    ),
)
SLOW = ExtraGate("D70", "slow-script-lock", ring="instant", script='sleep 2\necho "D70 PASS: slow"')


def receipts(where: Path) -> list[dict[str, Any]]:
    """Returns the receipts written below `where`, oldest first."""
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(where.rglob("receipts/*.json"))]


def rows(receipt: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Returns the receipt's gate rows by id."""
    return {row["id"]: row for row in receipt["gates"]}


def test_release_runs_the_inline_gates_natively(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """Runs D1, D2, D4-D12 natively at release (D4, D11 not applicable, with the reason); never drift-gate.sh."""
    ops = make_ops_repo(tmp_path / "spine", (*INLINE_GATES, *COMPOSITE))
    gates_project(pytester)
    result = pytester.runpytest_subprocess(f"--contracts={ops}", "--profile", "release", "-rs")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0, result.stdout.str()
    assert outcomes["skipped"] == 2
    skips = [line for line in result.outlines if line.startswith("SKIPPED")]
    assert len(skips) == 2
    assert any("D4 NOT APPLICABLE: D4 checks the launchd service" in line for line in skips)
    assert any("D11 NOT APPLICABLE: D11 checks the operator's ~/agent" in line for line in skips)
    assert not (ops / "surfaces" / "verify" / DRIFT_GATE_RAN).exists(), f"{DRIFT_GATE} ran"
    [receipt] = receipts(pytester.path)
    by_id = rows(receipt)
    assert {g: by_id[g]["verdict"] for g in ("D4", "D11")} == {"D4": "not-applicable", "D11": "not-applicable"}
    assert all(by_id[g]["verdict"] == "pass" for g in INLINE_IDS if g not in ("D4", "D11"))
    assert all(by_id[g]["implementation"] == "native" for g in INLINE_IDS)
    # The verbose-only part runs inside its composite, once, and is no test of its own.
    assert "D61" not in by_id
    assert [p["id"] for p in by_id["D60"]["parts"]] == ["D61"]
    assert (ops / "d61-runs.log").read_text().count("D61 PASS") == 1
    assert "D61 run inside their composites" in receipt["selection"]["source"]
    assert receipt["totals"]["skipped"] == 2


def test_list_gates_labels_inline_gates(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """Labels ported inline gates `native (inline)` and an unported one as skipped, not `script`."""
    unported = ExtraGate("D13", "inline-not-ported")
    ops = make_ops_repo(tmp_path / "spine", (*INLINE_GATES, unported))
    gates_project(pytester)
    result = pytester.runpytest_subprocess(f"--contracts={ops}", "--list-gates")
    assert result.ret == 0
    result.stdout.re_match_lines(
        [r"D1 +inline-drift-check-1 .* native \(inline\)$", r"D13 .* inline \(not ported: skipped\)$"]
    )
    assert not any(line.rstrip().endswith(" script") and line.startswith("D1 ") for line in result.outlines)


def _slow_repo(tmp_path: Path) -> Path:
    """An ops repository with a slow script gate whose ring (instant) has a 1 s budget."""
    ops = make_ops_repo(tmp_path / "spine", (*INLINE_GATES, SLOW))
    policy = ops / "ops" / "bindings" / "verify.ring.policy.yaml"
    data = yaml.safe_load(policy.read_text(encoding="utf-8"))
    data["budgets_seconds"]["instant"] = 1
    policy.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return ops


def test_a_slow_gate_passes_past_its_ring_budget(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """Lets a script gate that outlasts its ring's budget finish and pass; the run's overrun is only reported."""
    ops = _slow_repo(tmp_path)
    gates_project(pytester)
    result = pytester.runpytest_subprocess(f"--contracts={ops}", "--gate", "D70")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["budget: EXCEEDED (ring=instant *budget=1s*"])
    [receipt] = receipts(pytester.path)
    assert rows(receipt)["D70"]["verdict"] == "pass"
    assert receipt["budget"]["exceeded"] is True
    assert receipt["budget"]["blocking"] is False


def test_the_hang_guard_stops_a_hung_gate_as_a_timeout(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """Stops a gate at the configured hang guard and reports failure class timeout, not a gate verdict."""
    ops = _slow_repo(tmp_path)
    gates_project(pytester)
    result = pytester.runpytest_subprocess(f"--contracts={ops}", "--gate", "D70", "--gate-hang-guard", "0.2")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*D70 TIMEOUT: no verdict: the hang guard killed the script after 0.2s (--gate-hang-guard) ?timeout?",
            "failure_class: deterministic=0 freshness=0 gate_bug=0 timeout=1",
        ]
    )
    [receipt] = receipts(pytester.path)
    row = rows(receipt)["D70"]
    assert (row["verdict"], row["failure_class"]) == ("fail", "timeout")
    assert receipt["failure_class"]["timeout"] == 1


def test_the_hang_guard_reads_the_ini(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """Takes the hang guard from infracore_gate_hang_guard in the ini as well."""
    ops = _slow_repo(tmp_path)
    gates_project(pytester, ini="timeout_method = signal\ninfracore_gate_hang_guard = 0.2")
    result = pytester.runpytest_subprocess(f"--contracts={ops}", "--gate", "D70")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*D70 TIMEOUT: *after 0.2s*"])


@pytest.mark.parametrize("value", ["0", "soon", "-3"])
def test_a_bad_hang_guard_is_a_usage_error(pytester: pytest.Pytester, value: str) -> None:
    """Refuses a hang guard that is not a positive number of seconds, naming the value and an example."""
    gates_project(pytester)
    result = pytester.runpytest_subprocess("--gate", "D127", "--gate-hang-guard", value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--gate-hang-guard / infracore_gate_hang_guard '{value}': not a positive number*"])


# --- profiles: both sources of a domain, aliases, unknown domains ---------------------------------------


def _with_loop_gap(ops: Path, profile_ids: list[str]) -> None:
    """Adds a loop_gap domain (D1 assigned to it) and gives the infra domain profile its own gate list."""
    topology = ops / "ops" / "bindings" / "gate.execution.topology.yaml"
    data = yaml.safe_load(topology.read_text(encoding="utf-8"))
    data["domain_metadata"].append({"domain_id": "loop_gap", "description": "Loop gaps.", "criticality": "standard"})
    data["release_sequence"].append("loop_gap")
    for row in data["gate_assignments"]:
        if row["gate_id"] == "D1":
            row["primary_domain"] = "loop_gap"
    topology.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    profiles = ops / "ops" / "bindings" / "gate.domain.profiles.yaml"
    data = yaml.safe_load(profiles.read_text(encoding="utf-8"))
    data["domains"]["infra"]["gate_ids"] = profile_ids
    profiles.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def test_domain_list_shows_both_sources_when_they_differ(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """Prints the topology's and gate.domain.profiles.yaml's gates of a domain, and the difference."""
    ops = make_ops_repo(tmp_path / "spine")
    _with_loop_gap(ops, ["D149", "D9999"])
    gates_project(pytester)
    result = pytester.runpytest_subprocess(f"--contracts={ops}", "--domain", "infra", "--list-gates")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "*selection 'domain:infra' from topology gate_assignments",
            "domain 'infra': the sources differ",
            "  topology gate_assignments (used by the suite): D55 *D149 *",
            "  gate.domain.profiles.yaml (what the ops runner uses: its topology query fails on yq): D149 D9999",
            "  only in the topology: D55 *; only in gate.domain.profiles.yaml: D9999",
        ]
    )


def test_the_loop_gap_alias_selects_the_loop_gap_domain(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """Resolves `--domain loop-gap` to the topology domain loop_gap, as the README says."""
    ops = make_ops_repo(tmp_path / "spine")
    _with_loop_gap(ops, ["D149"])
    gates_project(pytester)
    result = pytester.runpytest_subprocess(f"--contracts={ops}", "--domain", "loop-gap", "--list-gates")
    assert result.ret == 0
    result.stdout.re_match_lines(
        [r"D1 +inline-drift-check-1 .*loop_gap", r".*selection 'domain:loop_gap' from topology"]
    )


def test_an_unknown_domain_stays_a_usage_error(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """Refuses an unknown domain, listing the known ones."""
    ops = make_ops_repo(tmp_path / "spine")
    gates_project(pytester)
    result = pytester.runpytest_subprocess(f"--contracts={ops}", "--domain", "nowhere", "--list-gates")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown domain 'nowhere'; use one of: core, infra, verify*"])
