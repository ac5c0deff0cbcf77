"""End-to-end tests of the pytest plugin with pytester: selection, markers, receipts, xdist, scripts."""

from __future__ import annotations

import json
import re
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from infracore_verify.reporting.receipt import RUN_KEY_RE
from tests.conftest import ContractEditor, gates_project

FAST_IDS = ["D127", "D85", "D900", "D63", "D67", "D904", "D905", "D320", "D149", "D901", "D902", "D903", "D906"]


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """Returns a pytester directory laid out like the project: plugin conftest and gates/test_gates.py."""
    return gates_project(pytester)


def receipts(pytester: pytest.Pytester) -> list[dict[str, Any]]:
    """Returns every receipt the run wrote under reports/receipts."""
    folder = pytester.path / "reports" / "receipts"
    return (
        [
            json.loads(p.read_text())
            for p in sorted(p for p in folder.glob("*.json") if not p.name.endswith(".drift.json"))
        ]
        if folder.is_dir()
        else []
    )


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Runs pytest in a subprocess (fresh process: the loader cache and plugins start clean)."""
    return pytester.runpytest_subprocess(*args, timeout=120)


def test_embedded_fast_run_passes_with_receipt(suite: pytest.Pytester, contracts_dir: Path) -> None:
    """Runs the fast profile of the shipped contracts green, in core order, with one receipt."""
    result = run(suite, f"--contracts={contracts_dir}", "-m", "fast", "-v")
    result.assert_outcomes(passed=len(FAST_IDS))
    ran = re.findall(r"test_gate\[(D\d+)\] PASSED", result.stdout.str())
    assert ran == FAST_IDS
    [receipt] = receipts(suite)
    assert RUN_KEY_RE.match(receipt["run_key"])
    assert receipt["run_key"].startswith("CAP-")
    assert "__verify.run__R" in receipt["run_key"]
    assert receipt["totals"]["line"] == f"total={len(FAST_IDS)} pass={len(FAST_IDS)} fail=0"
    assert receipt["selection"]["profile"] == "fast"
    assert receipt["selection"]["gate_ids"] == FAST_IDS
    assert receipt["environment"] == {
        "name": "sandbox",
        "kind": "sandbox",
        "sandbox": True,
        "label": "sandbox: built-in sandbox emulation on 127.0.0.1 (not real infrastructure)",
    }
    assert receipt["budget"]["exceeded"] is False
    files = receipt["contracts"]["files"]
    assert any(name.endswith("gate.registry.yaml") for name in files)
    assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for digest in files.values())
    assert [g["verdict"] for g in receipt["gates"]] == ["pass"] * len(FAST_IDS)
    result.stdout.fnmatch_lines(["wrapper: total=13 pass=13 fail=0", "Run Key: CAP-*", "Receipt: *.json"])
    lines = [line for line in result.stdout.lines if line.strip() and not line.startswith("=")]
    assert lines[-2].startswith("Run Key: ")
    assert lines[-1].startswith("Receipt: ")


def test_xdist_gives_same_verdicts_and_one_receipt(suite: pytest.Pytester, contracts_dir: Path) -> None:
    """Runs every gate once under -n 2, with the same verdicts as a serial run and a single receipt."""
    result = run(suite, f"--contracts={contracts_dir}", "-m", "fast", "-n", "2")
    result.assert_outcomes(passed=len(FAST_IDS))
    [receipt] = receipts(suite)
    assert sorted(g["id"] for g in receipt["gates"]) == sorted(FAST_IDS)
    assert receipt["totals"]["line"] == "total=13 pass=13 fail=0"
    assert receipt["selection"]["profile"] == "fast"


def test_xdist_failure_verdicts_match_serial(
    suite: pytest.Pytester, contracts_dir: Path, edit_contract: ContractEditor
) -> None:
    """Reports the same failing gate and class under -n 2 as in a serial run."""

    def drop_d320_row(data: dict[str, Any]) -> None:
        data["gate_assignments"] = [r for r in data["gate_assignments"] if r["gate_id"] != "D320"]

    edit_contract("gate.execution.topology.yaml", drop_d320_row)
    serial = run(suite, f"--contracts={contracts_dir}", "-m", "fast")
    parallel = run(suite, f"--contracts={contracts_dir}", "-m", "fast", "-n", "2")
    serial.assert_outcomes(passed=12, failed=1)
    parallel.assert_outcomes(passed=12, failed=1)
    first, second = receipts(suite)
    for receipt in (first, second):
        assert receipt["failing_gate_ids"] == ["D127"]
        assert receipt["failure_class"] == {"deterministic": 1, "freshness": 0, "gate_bug": 0, "timeout": 0}
    assert {g["id"]: g["verdict"] for g in first["gates"]} == {g["id"]: g["verdict"] for g in second["gates"]}


def test_incident_d320_without_assignment(
    suite: pytest.Pytester, contracts_dir: Path, edit_contract: ContractEditor
) -> None:
    """Fails D127 naming D320 when D320 is registered without a topology assignment, and passes once assigned."""
    topology = contracts_dir / "gate.execution.topology.yaml"
    original = topology.read_text()

    def drop_d320(data: dict[str, Any]) -> None:
        data["gate_assignments"] = [r for r in data["gate_assignments"] if r["gate_id"] != "D320"]

    edit_contract("gate.execution.topology.yaml", drop_d320)
    failing = run(suite, f"--contracts={contracts_dir}", "--gate", "D127")
    failing.assert_outcomes(failed=1)
    failing.stdout.fnmatch_lines(
        [
            "D127 FAIL: 1 finding(s) [deterministic]",
            "*gate.execution.topology.yaml:* $.gate_assignments: active gate 'D320' missing assignment in topology;"
            " add '{gate_id: D320, primary_domain: <domain>}' to gate_assignments",
        ]
    )
    topology.write_text(original)
    passing = run(suite, f"--contracts={contracts_dir}", "--gate", "D127")
    passing.assert_outcomes(passed=1)


def test_unknown_gate_is_a_usage_error_naming_closest(suite: pytest.Pytester, contracts_dir: Path) -> None:
    """Rejects an unknown --gate id with the closest registered ids and no traceback."""
    result = run(suite, f"--contracts={contracts_dir}", "--gate", "D3201")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --gate D3201: no such gate in the registry; closest registered ids: D910, D909, *"]
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    near = run(suite, f"--contracts={contracts_dir}", "--gate", "D321")
    near.stderr.fnmatch_lines(["ERROR: --gate D321: *closest registered ids: D320, *"])


def test_gate_option_accepts_repeats_and_comma_lists(suite: pytest.Pytester, contracts_dir: Path) -> None:
    """Runs exactly the gates named by repeated and comma-separated --gate options, in that order."""
    result = run(suite, f"--contracts={contracts_dir}", "--gate", "d320,D127", "--gate", "D63", "-v")
    result.assert_outcomes(passed=3)
    assert re.findall(r"test_gate\[(D\d+)\] PASSED", result.stdout.str()) == ["D320", "D127", "D63"]


def test_retired_gate_is_not_collected_nor_selectable(suite: pytest.Pytester, contracts_dir: Path) -> None:
    """Leaves the retired D3 out of collection and refuses --gate D3."""
    collected = run(suite, f"--contracts={contracts_dir}", "--collect-only", "-q")
    assert "test_gate[D3]" not in collected.stdout.str()
    assert "test_gate[D127]" in collected.stdout.str()
    assert not (suite.path / "reports" / "receipts").exists(), "a collect-only run writes no receipt"
    refused = run(suite, f"--contracts={contracts_dir}", "--gate", "D3")
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(["ERROR: --gate D3: the gate is retired and never runs"])


def test_list_gates_prints_the_table(suite: pytest.Pytester, contracts_dir: Path) -> None:
    """Prints id, name, class, ring, severity, domains, fast membership and implementation for each gate."""
    result = run(suite, f"--contracts={contracts_dir}", "--list-gates")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "id * name * class * ring * severity * domains * fast * implementation",
            "D127 * domain-assignment-drift-lock * invariant * instant * high * core * yes * native",
            "D315 * cloudflare-auth-readpath-health-lock * invariant * standard * high * infra * no * live(5 probes)",
            "19 gate(s), selection 'all' from gate.registry.yaml (all active gates)",
        ]
    )


def test_domain_profile_resolves_core_base_then_domain(suite: pytest.Pytester, contracts_dir: Path) -> None:
    """Resolves --domain infra to the core base in order, then the infra gates in natural order."""
    result = run(suite, f"--contracts={contracts_dir}", "--domain", "infra", "--collect-only", "-q")
    ids = re.findall(r"test_gate\[(D\d+)\]", result.stdout.str())
    # The core base in core order, then the infra gates outside it in natural order (the live gates).
    assert ids == [*FAST_IDS, "D55", "D315", "D907"]
    unknown = run(suite, f"--contracts={contracts_dir}", "--domain", "nowhere")
    assert unknown.ret == pytest.ExitCode.USAGE_ERROR
    unknown.stderr.fnmatch_lines(["ERROR: empty or invalid selection: unknown domain 'nowhere'; use one of: *"])


def test_markers_select_by_domain_class_ring_and_severity(suite: pytest.Pytester, contracts_dir: Path) -> None:
    """Selects gates by the registered domain, class, ring and severity markers under --strict-markers."""
    infra = run(suite, f"--contracts={contracts_dir}", "-m", "infra", "--collect-only", "-q")
    assert re.findall(r"test_gate\[(D\d+)\]", infra.stdout.str()) == [
        "D320",
        "D149",
        "D901",
        "D902",
        "D906",
        "D55",
        "D315",
        "D907",
    ]
    critical = run(suite, f"--contracts={contracts_dir}", "-m", "critical and instant", "--collect-only", "-q")
    assert re.findall(r"test_gate\[(D\d+)\]", critical.stdout.str()) == ["D900", "D320", "D906"]


def test_unknown_environment_is_a_usage_error(suite: pytest.Pytester, contracts_dir: Path) -> None:
    """Rejects --env naming no environment file, listing the known ones."""
    result = run(suite, f"--contracts={contracts_dir}", "--env", "prod")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --env prod: *no environment named 'prod'; use one of: *sandbox*"])


def test_contracts_from_environment_variable_and_ini(
    suite: pytest.Pytester, contracts_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Takes the contract set from INFRACORE_CONTRACTS and from the infracore_contracts ini option."""
    monkeypatch.setenv("INFRACORE_CONTRACTS", str(contracts_dir))
    run(suite, "--gate", "D127").assert_outcomes(passed=1)
    monkeypatch.delenv("INFRACORE_CONTRACTS")
    suite.makeini(f"[pytest]\naddopts = -p no:cacheprovider\ninfracore_contracts = {contracts_dir}\n")
    result = run(suite, "--gate", "D127")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"infracore-verify *: contracts {contracts_dir} (suite layout)"])
    bad = run(suite, f"--contracts={contracts_dir.parent / 'nowhere'}")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["ERROR: --contracts *nowhere: neither *gate.registry.yaml (suite layout) nor *"])


def test_allure_results_carry_registry_labels(suite: pytest.Pytester, contracts_dir: Path) -> None:
    """Writes Allure results whose labels, tags and description come from the registry and topology."""
    out = suite.path / "allure-results"
    run(suite, f"--contracts={contracts_dir}", "--gate", "D320", "--alluredir", str(out)).assert_outcomes(passed=1)
    [result_file] = list(out.glob("*-result.json"))
    result = json.loads(result_file.read_text())
    labels: dict[str, list[str]] = {}
    for label in result["labels"]:
        labels.setdefault(label["name"], []).append(label["value"])
    assert labels["epic"] == ["infra"]
    assert labels["feature"] == ["cloudflare"]  # the first of the gate's systems
    assert labels["story"] == ["D320 infra-core-baseline-contract-lock"]
    assert labels["severity"] == ["blocker"]
    assert labels["gate_id"] == ["D320"]
    assert {"class:invariant", "ring:instant", "profile:fast", "fast", "infra"} <= set(labels["tag"])
    assert result["name"] == "D320 infra-core-baseline-contract-lock"
    assert "Fix hint:" in result["description"]


def test_allure_failure_carries_class_and_findings(
    suite: pytest.Pytester, contracts_dir: Path, edit_contract: ContractEditor
) -> None:
    """Attaches the findings table and labels the failure class of a failing gate."""
    edit_contract("gate.execution.topology.yaml", lambda d: d["core_mode"].update(core_count_limit=99))
    out = suite.path / "allure-results"
    run(suite, f"--contracts={contracts_dir}", "--gate", "D127", "--alluredir", str(out)).assert_outcomes(failed=1)
    [result_file] = list(out.glob("*-result.json"))
    result = json.loads(result_file.read_text())
    assert {"name": "failure_class", "value": "deterministic"} in result["labels"]
    [attachment] = [a for a in result["attachments"] if a["name"] == "findings"]
    body = (out / attachment["source"]).read_text()
    assert "core gate count mismatch: expected 99 got 13" in body


# --- ops repository layout, script gates, composites, classification, budget -------------------------


def make_ops_root(base: Path, contracts_dir: Path, extra_gates: list[dict[str, Any]]) -> Path:
    """Lays out an ops repository root from the copied contracts, adding `extra_gates` with scripts."""
    root = base / "ops-repo"
    bindings = root / "ops" / "bindings"
    bindings.mkdir(parents=True)
    for path in contracts_dir.glob("*.yaml"):
        if path.name != "capabilities.yaml":
            shutil.copy(path, bindings / path.name)
    shutil.copy(contracts_dir / "capabilities.yaml", root / "ops" / "capabilities.yaml")
    runner = root / "ops" / "runtime" / "infra-core-smoke.sh"
    runner.parent.mkdir(parents=True)
    runner.write_text("#!/usr/bin/env bash\nexit 0\n")
    runner.chmod(0o755)
    registry = yaml.safe_load((bindings / "gate.registry.yaml").read_text())
    topology = yaml.safe_load((bindings / "gate.execution.topology.yaml").read_text())
    for gate in registry["gates"]:
        # An ops repository gives every gate a script (its D85 asks for one); the suite still runs these natively.
        if not (gate.get("retired") or gate.get("check_script")):
            gate["check_script"] = write_script(root, f"{gate['id'].lower()}-stub.sh", "exit 99")
    registry["gates"] += extra_gates
    total = len(registry["gates"])
    retired = sum(1 for g in registry["gates"] if g.get("retired"))
    registry["gate_count"] = {"total": total, "active": total - retired, "retired": retired}
    topology["gate_assignments"] += [
        {"gate_id": g["id"], "primary_domain": "verify", "secondary_domains": [], "family": "governance"}
        for g in extra_gates
    ]
    (bindings / "gate.registry.yaml").write_text(yaml.safe_dump(registry, sort_keys=False))
    (bindings / "gate.execution.topology.yaml").write_text(yaml.safe_dump(topology, sort_keys=False))
    return root


def write_script(root: Path, name: str, body: str) -> str:
    """Writes an executable gate script under surfaces/verify and returns its repo-relative path."""
    path = root / "surfaces" / "verify" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/usr/bin/env bash\n# TRIAGE: fix the thing\nset -euo pipefail\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return f"surfaces/verify/{name}"


def script_gate(gate_id: str, name: str, script: str | None, **extra: Any) -> dict[str, Any]:
    """Returns a registry entry for a script gate of class invariant in ring standard."""
    entry: dict[str, Any] = {
        "id": gate_id,
        "name": name,
        "category": "governance",
        "gate_class": "invariant",
        "severity": "medium",
        "ring": "standard",
        "description": f"Synthetic {name} check",
        "fix_hint": "see the script",
    }
    if script:
        entry["check_script"] = script
    entry.update(extra)
    return entry


def test_ops_layout_runs_script_gates_from_the_root(
    suite: pytest.Pytester, contracts_dir: Path, tmp_path: Path
) -> None:
    """Detects an ops root, runs script gates with SPINE_ROOT from the root, and captures their output."""
    root = make_ops_root(
        tmp_path,
        contracts_dir,
        [
            script_gate("D700", "widget-lock", "surfaces/verify/d700-ok.sh"),
            script_gate("D701", "gadget-lock", "surfaces/verify/d701-bad.sh"),
        ],
    )
    write_script(root, "d700-ok.sh", 'test "$SPINE_ROOT" = "$(pwd)"\necho "D700 PASS: root=$SPINE_ROOT"')
    write_script(
        root, "d701-bad.sh", 'echo "  FAIL: widget drift" >&2\necho "D701 FAIL: 1 check(s) failed" >&2\nexit 1'
    )
    result = run(suite, f"--contracts={root}", "--gate", "D700,D701,D85", "-rA")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*(ops layout)*"])
    result.stdout.fnmatch_lines(
        ["D701 FAIL: 1 check(s) failed [deterministic]", "*script output (last lines):", "*  FAIL: widget drift"]
    )
    [receipt] = receipts(suite)
    rows = {g["id"]: g for g in receipt["gates"]}
    assert rows["D700"]["implementation"] == "script"
    assert rows["D701"]["failure_class"] == "deterministic"
    assert receipt["contracts"]["layout"] == "ops"


def test_missing_implementation_and_unexecutable_script_are_gate_bugs(
    suite: pytest.Pytester, contracts_dir: Path, tmp_path: Path
) -> None:
    """Fails a gate with neither native check nor script, and one whose script is not executable, as gate bugs."""
    root = make_ops_root(
        tmp_path,
        contracts_dir,
        [script_gate("D710", "nothing-lock", None), script_gate("D711", "noexec-lock", "surfaces/verify/d711.sh")],
    )
    (root / "surfaces" / "verify").mkdir(parents=True, exist_ok=True)
    (root / "surfaces" / "verify" / "d711.sh").write_text("#!/usr/bin/env bash\n# TRIAGE: x\nexit 0\n")
    result = run(suite, f"--contracts={root}", "--gate", "D710,D711")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "D710 FAIL: no implementation (no native check and no check_script) [gate_bug]",
            "D711 FAIL: check_script 'surfaces/verify/d711.sh' is not executable;"
            " run: chmod +x surfaces/verify/d711.sh [gate_bug]",
        ]
    )
    [receipt] = receipts(suite)
    assert receipt["failure_class"]["gate_bug"] == 2


def test_composite_gate_passes_only_when_all_parts_pass(
    suite: pytest.Pytester, contracts_dir: Path, tmp_path: Path
) -> None:
    """Fails a composite gate when one part fails and reports every part."""
    root = make_ops_root(
        tmp_path,
        contracts_dir,
        [
            script_gate("D720", "part-one-lock", "surfaces/verify/d720.sh"),
            script_gate("D721", "part-two-lock", "surfaces/verify/d721.sh"),
            script_gate("D722", "parent-lock", None, composite_of=["D720", "D721"]),
        ],
    )
    write_script(root, "d720.sh", 'echo "D720 PASS: fine"')
    write_script(root, "d721.sh", 'echo "D721 FAIL: broken" >&2; exit 1')
    result = run(suite, f"--contracts={root}", "--gate", "D722")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "D722 FAIL: 1 of 2 part(s) failed [deterministic]",
            "  part D720 PASS: part-one-lock",
            "  part D721 FAIL: broken [deterministic]",
        ]
    )
    write_script(root, "d721.sh", 'echo "D721 PASS: fixed"')
    run(suite, f"--contracts={root}", "--gate", "D722").assert_outcomes(passed=1)


def test_freshness_classification_and_budget_overrun(
    suite: pytest.Pytester, contracts_dir: Path, tmp_path: Path
) -> None:
    """Classifies a failing snapshot gate as freshness and reports a ring budget overrun, blocking on request."""
    root = make_ops_root(
        tmp_path,
        contracts_dir,
        [
            script_gate("D730", "backup-snapshot-lock", "surfaces/verify/d730.sh", ring="instant"),
            script_gate("D731", "slow-lock", "surfaces/verify/d731.sh", ring="instant"),
            script_gate("D732", "slower-lock", "surfaces/verify/d731.sh", ring="instant"),
        ],
    )
    write_script(root, "d730.sh", 'echo "D730 FAIL: snapshot is 3 days old" >&2; exit 1')
    write_script(root, "d731.sh", "sleep 0.6")
    policy = root / "ops" / "bindings" / "verify.ring.policy.yaml"
    data = yaml.safe_load(policy.read_text())
    data["budgets_seconds"]["instant"] = 1
    policy.write_text(yaml.safe_dump(data))
    result = run(suite, f"--contracts={root}", "--gate", "D730,D731,D732")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "failure_class: deterministic=0 freshness=1 gate_bug=0",
            "budget: EXCEEDED (ring=instant elapsed=*s budget=1s delta=+*s)",
        ]
    )
    [receipt] = receipts(suite)
    assert receipt["budget"]["exceeded"] is True
    assert receipt["budget"]["blocking"] is False
    assert receipt["gates"][0]["failure_class"] == "freshness"
    blocking = run(suite, f"--contracts={root}", "--gate", "D731,D732", "--budget-blocking")
    blocking.assert_outcomes(passed=2)
    assert blocking.ret == pytest.ExitCode.TESTS_FAILED


def test_broken_registry_fails_loudly_without_traceback(suite: pytest.Pytester, contracts_dir: Path) -> None:
    """Stops with the registry's finding (file:line $.path) when the registry does not load, and no traceback."""
    registry = contracts_dir / "gate.registry.yaml"
    registry.write_text(registry.read_text().replace("gate_class: invariant", "gate_class: invariantt", 1))
    result = run(suite, f"--contracts={contracts_dir}", "-m", "fast")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: cannot select gates; these contracts do not load:",
            "*gate.registry.yaml:* $.gates[[]*[]].gate_class: 'invariantt' is not an allowed value"
            " (did you mean 'invariant'?); use one of: invariant, *",
        ]
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_broken_registry_without_options_fails_one_test(suite: pytest.Pytester, contracts_dir: Path) -> None:
    """Turns an unloadable registry into one failing test when no option asked for gates (no traceback)."""
    registry = contracts_dir / "gate.registry.yaml"
    registry.write_text("gates: [\n")
    suite.makeini(f"[pytest]\naddopts = -p no:cacheprovider\ninfracore_contracts = {contracts_dir}\n")
    result = run(suite)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no gate can run: cannot select gates; these contracts do not load:*"])
    assert "Traceback" not in result.stdout.str()
