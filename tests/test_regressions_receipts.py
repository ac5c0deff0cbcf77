"""Regression tests for the run receipt (issue 8): each kills a named mutant that no test noticed before.

Expected values never come from the code under test: digests are computed here with hashlib from the
files, and the git revision comes from a repository this test builds and reads with git itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from infracore_verify.contracts.sets import BUNDLED_CONTRACTS
from infracore_verify.reporting.receipt import write_receipt
from tests.conftest import ContractEditor, gates_project

LOGICAL_FILES = {
    "registry": "gate.registry.yaml",
    "topology": "gate.execution.topology.yaml",
    "domain_profiles": "gate.domain.profiles.yaml",
    "agent_profiles": "gate.agent.profiles.yaml",
    "run_profiles": "verify.run.profile.contract.yaml",
    "ring_policy": "verify.ring.policy.yaml",
    "classification": "verify.failure.classification.contract.yaml",
    "baseline": "infra.core.baseline.contract.yaml",
    "slo": "infra.core.slo.yaml",
    "health": "services.health.yaml",
    "recovery": "recovery.actions.yaml",
    "capabilities": "capabilities.yaml",
    "capability_map": "capability_map.yaml",
    "gaps": "operational.gaps.yaml",
    "inventory": "cloudflare.inventory.yaml",
}
"""Logical contract name -> file name in the suite layout (as documented in contracts/sets.py)."""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """Returns a pytester directory laid out like the project: plugin conftest and gates/test_gates.py."""
    return gates_project(pytester)


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Runs pytest in a fresh subprocess, bounded."""
    return pytester.runpytest_subprocess(*args, timeout=120)


def receipt(pytester: pytest.Pytester) -> dict[str, Any]:
    """Returns the single receipt the run wrote, and removes it (so the next run's receipt is single too)."""
    [path] = [p for p in (pytester.path / "reports" / "receipts").glob("*.json") if not p.name.endswith(".drift.json")]
    data: dict[str, Any] = json.loads(path.read_text())
    path.unlink()
    return data


@pytest.fixture
def broken_d127(edit_contract: ContractEditor) -> None:
    """Makes D127 fail: core_count_limit no longer matches the number of core gates."""
    edit_contract("gate.execution.topology.yaml", lambda d: d["core_mode"].update(core_count_limit=99))


def sha256_of(path: Path) -> str:
    """Returns the sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- failure_class ---------------------------------------------------------------------------------------


@pytest.mark.usefixtures("broken_d127")
def test_failure_class_counts_leave_waived_gates_out(
    suite: pytest.Pytester, contracts_dir: Path, edit_contract: ContractEditor
) -> None:
    """Counts no class for a failing gate that an open gap waives, though its row keeps its class."""
    review = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30)).isoformat()
    gap = {
        "id": "GAP-OP-9101",
        "discovered_by": "@tester",
        "discovered_at": "2026-11-01",
        "description": "Core count limit under review.",
        "severity": "medium",
        "type": "stale-ssot",
        "status": "open",
        "owner": "@platform",
        "gate_ids": ["D127"],
        "review_by": review,
        "waives": [{"path": "$.core_mode.core_count_limit"}],  # a gap waives only the findings it names
    }
    edit_contract("operational.gaps.yaml", lambda d: d["gaps"].append(gap))
    result = run(suite, f"--contracts={contracts_dir}", "--gate", "D127")
    result.assert_outcomes(xfailed=1)
    result.stdout.fnmatch_lines(["failure_class: deterministic=0 freshness=0 gate_bug=0"])
    data = receipt(suite)
    [row] = data["gates"]
    assert (row["verdict"], row["failure_class"]) == ("waived", "deterministic")
    assert data["failure_class"] == {"deterministic": 0, "freshness": 0, "gate_bug": 0, "timeout": 0}
    assert data["failing_gate_ids"] == []


# --- exit_status and budget blocking ----------------------------------------------------------------------


def add_script_gate(contracts_dir: Path, edit_contract: ContractEditor, gate_id: str, body: str, ring: str) -> None:
    """Registers a script gate (suite layout: the script lives below the contracts' parent) in the verify domain."""
    script = contracts_dir.parent / "surfaces" / "verify" / f"{gate_id.lower()}.sh"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(f"#!/usr/bin/env bash\n# TRIAGE: fix the thing\n{body}\n")
    script.chmod(0o755)
    entry = {
        "id": gate_id,
        "name": "slow-lock",
        "category": "governance",
        "gate_class": "invariant",
        "severity": "low",
        "ring": ring,
        "description": "Synthetic slow gate",
        "fix_hint": "see the script",
        "check_script": f"surfaces/verify/{script.name}",
    }
    edit_contract("gate.registry.yaml", lambda d: d["gates"].append(entry))
    row = {"gate_id": gate_id, "primary_domain": "verify", "secondary_domains": [], "family": "governance"}
    edit_contract("gate.execution.topology.yaml", lambda d: d["gate_assignments"].append(row))


def test_exit_status_follows_budget_blocking(
    suite: pytest.Pytester, contracts_dir: Path, edit_contract: ContractEditor
) -> None:
    """Records the exit status the run really ends with when a blocking budget overrun fails a green run."""
    # Each gate stays well inside its own 1 s timeout; together they sleep 1.2 s, so the run overruns the
    # 1 s instant budget on any machine.
    ids = ["D740", "D741", "D742"]
    for gate_id in ids:
        add_script_gate(contracts_dir, edit_contract, gate_id, f'sleep 0.4\necho "{gate_id} PASS: slow"', "instant")
    edit_contract("verify.ring.policy.yaml", lambda d: d["budgets_seconds"].update(instant=1))
    blocking = run(suite, f"--contracts={contracts_dir}", "--gate", ",".join(ids), "--budget-blocking")
    blocking.assert_outcomes(passed=3)
    assert blocking.ret == pytest.ExitCode.TESTS_FAILED
    data = receipt(suite)
    assert data["budget"]["exceeded"] is True
    assert data["budget"]["blocking"] is True
    assert data["exit_status"] == int(pytest.ExitCode.TESTS_FAILED)
    assert data["totals"]["fail"] == 0


# --- selected gates that never ran -----------------------------------------------------------------------


@pytest.mark.usefixtures("broken_d127")
def test_selected_gates_that_never_ran_are_recorded_as_not_run(suite: pytest.Pytester, contracts_dir: Path) -> None:
    """Keeps a row for every selected gate: -x stops after D127 fails, and D85 is recorded as not-run."""
    result = run(suite, f"--contracts={contracts_dir}", "--gate", "D127,D85", "-x")
    result.assert_outcomes(failed=1)
    data = receipt(suite)
    assert data["selection"]["gate_ids"] == ["D127", "D85"]
    assert [(g["id"], g["verdict"]) for g in data["gates"]] == [("D127", "fail"), ("D85", "not-run")]
    assert data["totals"]["total"] == 2
    assert data["totals"]["not_run"] == 1
    assert data["failing_gate_ids"] == ["D127"]


# --- git revision ----------------------------------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    """Runs git in `repo` with a throwaway identity and no signing; returns stdout."""
    settings = ["-c", "user.name=t", "-c", "user.email=t@invalid", "-c", "commit.gpgsign=false"]
    done = subprocess.run(
        ["git", "-C", str(repo), *settings, *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return done.stdout.strip()


def test_git_revision_is_the_commit_and_marked_dirty_after_an_edit(suite: pytest.Pytester, tmp_path: Path) -> None:
    """Records the contracts' commit, with -dirty once a tracked file changes (untracked files do not count)."""
    repo = tmp_path / "checkout"
    shutil.copytree(BUNDLED_CONTRACTS, repo / "contracts")
    (repo / "README.txt").write_text("ops checkout\n")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "contracts")
    head = git(repo, "rev-parse", "HEAD")
    assert len(head) == 40

    (repo / "untracked.txt").write_text("not part of the commit\n")
    run(suite, f"--contracts={repo / 'contracts'}", "--gate", "D127").assert_outcomes(passed=1)
    assert receipt(suite)["git_revision"] == head

    (repo / "README.txt").write_text("ops checkout, edited\n")
    out = suite.path / "allure-results"
    run(suite, f"--contracts={repo / 'contracts'}", "--gate", "D127", f"--alluredir={out}").assert_outcomes(passed=1)
    assert receipt(suite)["git_revision"] == f"{head}-dirty"
    properties = dict(
        line.split("=", 1) for line in (out / "environment.properties").read_text().splitlines() if "=" in line
    )
    assert properties["git.revision"] == f"{head}-dirty"


# --- contracts digest ------------------------------------------------------------------------------------


def expected_digest(contracts_dir: Path) -> str:
    """Returns the contracts sha256 computed from the files: sha256 over `<name>\\t<file sha256>` lines, by name."""
    lines: dict[str, str] = {}
    for name, file_name in LOGICAL_FILES.items():
        path = contracts_dir / file_name
        if path.is_file():
            lines[name] = sha256_of(path)
    for folder in (contracts_dir / "environments", BUNDLED_CONTRACTS / "environments"):
        for path in sorted(folder.glob("*.yaml")):
            lines.setdefault(f"environment:{path.stem}", sha256_of(path))
    digest = hashlib.sha256()
    for name in sorted(lines):
        digest.update(f"{name}\t{lines[name]}\n".encode())
    return digest.hexdigest()


def test_contracts_digest_is_computed_from_the_files(
    suite: pytest.Pytester, contracts_dir: Path, edit_contract: ContractEditor
) -> None:
    """Records the sha256 of each contract file and one digest over them all, and the digest follows an edit."""
    out = suite.path / "allure-results"
    run(suite, f"--contracts={contracts_dir}", "--gate", "D127", f"--alluredir={out}").assert_outcomes(passed=1)
    data = receipt(suite)
    assert data["contracts"]["sha256"] == expected_digest(contracts_dir)
    files = data["contracts"]["files"]
    for file_name in LOGICAL_FILES.values():
        path = contracts_dir / file_name
        if path.is_file():
            [shown] = [k for k in files if k.endswith("/" + file_name) or k == file_name]
            assert files[shown] == sha256_of(path)
    properties = dict(
        line.split("=", 1) for line in (out / "environment.properties").read_text().splitlines() if "=" in line
    )
    assert properties["contracts.sha256"] == expected_digest(contracts_dir)

    before = expected_digest(contracts_dir)
    edit_contract("cloudflare.inventory.yaml", lambda d: d.update(status="edited"))
    assert expected_digest(contracts_dir) != before
    run(suite, f"--contracts={contracts_dir}", "--gate", "D127").assert_outcomes(passed=1)
    assert receipt(suite)["contracts"]["sha256"] == expected_digest(contracts_dir)


# --- written once ----------------------------------------------------------------------------------------


def test_existing_receipt_is_never_overwritten(tmp_path: Path) -> None:
    """Refuses to replace a receipt already written under the same run key, and leaves it byte for byte."""
    folder = tmp_path / "written"
    key = "CAP-20261126-120000__verify.run__Rabcdefghij"
    first = write_receipt(folder, key, {"run_key": key, "attempt": 1})
    assert first == folder / f"{key}.json"
    before = first.read_bytes()
    assert json.loads(before) == {"run_key": key, "attempt": 1}
    with pytest.raises(FileExistsError):
        write_receipt(folder, key, {"run_key": key, "attempt": 2})
    assert first.read_bytes() == before
    assert yaml.safe_load(first.read_text())["attempt"] == 1
