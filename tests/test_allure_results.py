"""End-to-end tests of the Allure output, read from the real result files: labels, links, attachments, run files."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from infracore_verify import __version__
from infracore_verify.contracts.sets import SUITE_ROOT, Contracts
from infracore_verify.plugin.receipt import contracts_digest
from infracore_verify.reporting.allure import categories
from infracore_verify.reporting.receipt import git_revision
from tests.conftest import PROJECT_CONFTEST, ContractEditor

RUNBOOK = "https://runbook.invalid/ops#{id}"
GAPS = "https://gaps.invalid/browse/{id}"
CATEGORY_NAMES = [
    "Waiver expired",
    "Worker crashed",
    "Auth failure",
    "Rate limited",
    "Unreachable",
    "Gate bug",
    "Freshness",
    "Contract drift",
    "Waived",
]


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """Returns a pytester directory laid out like the project: plugin conftest, gates/ and smoke/."""
    (pytester.path / "conftest.py").write_text(PROJECT_CONFTEST)
    for folder in ("gates", "smoke"):
        (pytester.path / folder).mkdir()
        shutil.copy(SUITE_ROOT / folder / f"test_{folder}.py", pytester.path / folder / f"test_{folder}.py")
    pytester.makeini(
        "[pytest]\naddopts = --strict-markers -p no:cacheprovider\ntimeout_method = signal\nxfail_strict = true\n"
    )
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Runs pytest in a fresh subprocess, bounded."""
    return pytester.runpytest_subprocess(*args, timeout=120)


def results(folder: Path) -> list[dict[str, Any]]:
    """Returns every `*-result.json` of an Allure results folder."""
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*-result.json"))]


def result_of(folder: Path, label: str, value: str) -> dict[str, Any]:
    """Returns the single result carrying the label `label=value` (gate_id, probe_id)."""
    [found] = [r for r in results(folder) if {"name": label, "value": value} in r["labels"]]
    return found


def labels(result: dict[str, Any]) -> dict[str, list[str]]:
    """Returns a result's labels as name -> values (sorted)."""
    out: dict[str, list[str]] = {}
    for item in result["labels"]:
        out.setdefault(item["name"], []).append(item["value"])
    return {name: sorted(values) for name, values in out.items()}


def attachment(folder: Path, result: dict[str, Any], name: str) -> tuple[str, str]:
    """Returns (MIME type, body) of the result's attachment called `name`."""
    [found] = [a for a in result["attachments"] if a["name"] == name]
    return found["type"], (folder / found["source"]).read_text()


def categories_of(folder: Path, result: dict[str, Any]) -> list[str]:
    """Returns the names of the categories.json entries whose status and message regex match the result."""
    message = (result.get("statusDetails") or {}).get("message", "")
    return [
        c["name"]
        for c in json.loads((folder / "categories.json").read_text())
        if result["status"] in c["matchedStatuses"] and re.fullmatch(c["messageRegex"], message)
    ]


def add_gates(edit_contract: ContractEditor, *entries: dict[str, Any]) -> None:
    """Registers extra gates in the copied contracts, each assigned to the verify domain."""

    def registry(data: dict[str, Any]) -> None:
        data["gates"] += list(entries)

    def topology(data: dict[str, Any]) -> None:
        data["gate_assignments"] += [
            {"gate_id": e["id"], "primary_domain": "verify", "secondary_domains": [], "family": "governance"}
            for e in entries
        ]

    edit_contract("gate.registry.yaml", registry)
    edit_contract("gate.execution.topology.yaml", topology)


def script_gate(gate_id: str, name: str, script: str | None) -> dict[str, Any]:
    """Returns a registry entry for a script gate (suite layout: scripts below the contracts' parent)."""
    entry: dict[str, Any] = {
        "id": gate_id,
        "name": name,
        "category": "governance",
        "gate_class": "invariant",
        "severity": "low",
        "ring": "standard",
        "description": f"Synthetic {name} gate",
        "fix_hint": "see the script",
    }
    if script:
        entry["check_script"] = script
    return entry


def write_script(contracts_dir: Path, name: str, body: str) -> str:
    """Writes an executable gate script under <contracts parent>/surfaces/verify; returns its relative path."""
    path = contracts_dir.parent / "surfaces" / "verify" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/usr/bin/env bash\n# TRIAGE: fix the thing\n{body}\n")
    path.chmod(0o755)
    return f"surfaces/verify/{name}"


def properties(path: Path) -> dict[str, str]:
    """Parses a flat Java .properties file (key=value lines)."""
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))


# --- labels, description, links ------------------------------------------------------------------------


def test_gate_labels_description_and_links(project: pytest.Pytester, contracts_dir: Path) -> None:
    """Labels gates from the registry and topology, describes them with the fix hint, links runbook and gaps."""
    project.makeini(
        f"[pytest]\naddopts = -p no:cacheprovider\ninfracore_runbook_url = {RUNBOOK}\ninfracore_gap_url = {GAPS}\n"
    )
    out = project.path / "allure-results"
    run(project, f"--contracts={contracts_dir}", "--gate", "D320,D127", f"--alluredir={out}").assert_outcomes(passed=2)

    d320 = result_of(out, "gate_id", "D320")
    got = labels(d320)
    assert got["epic"] == ["infra"]
    assert got["feature"] == ["cloudflare"]  # the first of the gate's systems
    assert got["story"] == ["D320 infra-core-baseline-contract-lock"]
    assert got["severity"] == ["blocker"]  # registry critical
    assert got["gate_name"] == ["infra-core-baseline-contract-lock"]
    assert got["domain"] == ["infra"]
    assert {"class:invariant", "ring:instant", "profile:fast"} <= set(got["tag"])
    assert d320["name"] == "D320 infra-core-baseline-contract-lock"
    assert d320["description"] == (
        "Each baseline system declares an authority, a non-empty auth posture, its smoke capabilities and a "
        "self-heal action whose type equals the recovery binding.\n\nFix hint: Complete the system block in "
        "contracts/infra.core.baseline.contract.yaml and its action in contracts/recovery.actions.yaml."
    )
    assert d320["links"] == [
        {"type": "runbook", "url": "https://runbook.invalid/ops#D320", "name": "runbook: D320"},
        {"type": "issue", "url": "https://gaps.invalid/browse/GAP-OP-1291", "name": "GAP-OP-1291 (open)"},
    ]

    d127 = labels(result_of(out, "gate_id", "D127"))
    assert d127["epic"] == ["core"]
    assert d127["feature"] == ["governance"]  # no systems: the category
    assert d127["story"] == ["D127 domain-assignment-drift-lock"]
    assert d127["severity"] == ["critical"]  # registry high
    assert d127["domain"] == ["core"]


def test_default_links_point_at_the_checkout_runbook(project: pytest.Pytester, contracts_dir: Path) -> None:
    """Links to docs/runbook.md of the checkout (file URI, anchor = id) and to the placeholder gap tracker."""
    out = project.path / "allure-results"
    run(project, f"--contracts={contracts_dir}", "--gate", "D320", f"--alluredir={out}").assert_outcomes(passed=1)
    [result] = results(out)
    assert result["links"] == [
        {"type": "runbook", "url": (SUITE_ROOT / "docs" / "runbook.md").as_uri() + "#D320", "name": "runbook: D320"},
        {"type": "issue", "url": "https://tracker.invalid/gaps/GAP-OP-1291", "name": "GAP-OP-1291 (open)"},
    ]


@pytest.mark.parametrize(
    ("option", "value", "error"),
    [
        (
            "infracore_gap_url",
            "https://gaps.invalid/browse",
            "ERROR: infracore_gap_url = 'https://gaps.invalid/browse': the pattern needs an {id} placeholder, "
            "e.g. https://tracker.invalid/gaps/{id}",
        ),
        (
            "infracore_runbook_url",
            "https://runbook.invalid/{id}#{anchor}",
            "ERROR: infracore_runbook_url = 'https://runbook.invalid/{id}#{anchor}': the pattern does not format: "
            "KeyError: 'anchor'; only {id} may appear in braces, e.g. "
            + (SUITE_ROOT / "docs" / "runbook.md").as_uri()
            + "#{id}",
        ),
    ],
    ids=["gap-without-id", "runbook-unknown-field"],
)
def test_bad_link_pattern_is_a_usage_error(
    project: pytest.Pytester, contracts_dir: Path, option: str, value: str, error: str
) -> None:
    """Rejects a link pattern without {id}, or with other fields, before anything runs."""
    project.makeini(f"[pytest]\naddopts = -p no:cacheprovider\n{option} = {value}\n")
    result = run(project, f"--contracts={contracts_dir}", "--gate", "D320")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert error in result.stderr.lines


# --- attachments ---------------------------------------------------------------------------------------


def test_failing_gate_attaches_its_findings_as_a_table(
    project: pytest.Pytester, contracts_dir: Path, edit_contract: ContractEditor
) -> None:
    """Attaches a failing gate's findings as a CSV table: gate, file, line, YAML path, message, fix."""
    edit_contract("gate.execution.topology.yaml", lambda d: d["core_mode"].update(core_count_limit=99))
    out = project.path / "allure-results"
    run(project, f"--contracts={contracts_dir}", "--gate", "D127", f"--alluredir={out}").assert_outcomes(failed=1)
    result = result_of(out, "gate_id", "D127")
    assert result["status"] == "failed"
    assert {"name": "failure_class", "value": "deterministic"} in result["labels"]
    kind, body = attachment(out, result, "findings")
    assert kind == "text/csv"
    header, *rows = list(csv.reader(io.StringIO(body)))
    assert header == ["gate", "file", "line", "path", "message", "fix"]
    [(gate, file, line, path, message, fix)] = rows
    assert (gate, path) == ("D127", "$.core_mode.core_count_limit")
    assert file.endswith("contracts/gate.execution.topology.yaml")
    assert int(line) > 0
    assert message == "core gate count mismatch: expected 99 got 13"
    assert fix


def test_script_gate_attaches_its_output(
    project: pytest.Pytester, contracts_dir: Path, edit_contract: ContractEditor
) -> None:
    """Attaches what a script gate printed."""
    script = write_script(contracts_dir, "d701.sh", 'echo "D701 PASS: checked 3 widgets"')
    add_gates(edit_contract, script_gate("D701", "widget-lock", script))
    out = project.path / "allure-results"
    run(project, f"--contracts={contracts_dir}", "--gate", "D701", f"--alluredir={out}").assert_outcomes(passed=1)
    kind, body = attachment(out, result_of(out, "gate_id", "D701"), "script output")
    assert (kind, body) == ("text/plain", "D701 PASS: checked 3 widgets\n")


def test_probe_labels_links_and_redacted_exchanges(project: pytest.Pytester, contracts_dir: Path) -> None:
    """Labels a probe epic infra / system / probe id, links its runbook anchor and attaches its HTTP exchanges."""
    out = project.path / "allure-results"
    run(project, f"--contracts={contracts_dir}", "--probe", "vaultwarden.alive", f"--alluredir={out}").assert_outcomes(
        passed=1
    )
    result = result_of(out, "probe_id", "vaultwarden.alive")
    got = labels(result)
    assert (got["epic"], got["feature"], got["story"]) == (["infra"], ["vaultwarden"], ["vaultwarden.alive"])
    assert {"smoke", "system:vaultwarden"} <= set(got["tag"])
    assert result["name"] == "vaultwarden.alive [sandbox]"
    assert result["links"] == [
        {
            "type": "runbook",
            "url": (SUITE_ROOT / "docs" / "runbook.md").as_uri() + "#vaultwarden.alive",
            "name": "runbook: vaultwarden.alive",
        }
    ]
    kind, body = attachment(out, result, "http exchanges (redacted)")
    assert kind == "application/json"
    [exchange] = json.loads(body)
    assert (exchange["method"], exchange["status"]) == ("GET", 200)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/alive", exchange["url"])


# --- run files -----------------------------------------------------------------------------------------


def test_environment_executor_and_categories_files(project: pytest.Pytester, contracts_dir: Path) -> None:
    """Describes the run in environment.properties and executor.json, and leaves other files in the folder alone."""
    out = project.path / "allure-results"
    out.mkdir()
    (out / "keep-me.txt").write_text("written before the run\n")
    run(project, f"--contracts={contracts_dir}", "--gate", "D127", f"--alluredir={out}").assert_outcomes(passed=1)
    [receipt_path] = [
        p for p in (project.path / "reports" / "receipts").glob("*.json") if not p.name.endswith(".drift.json")
    ]
    receipt = json.loads(receipt_path.read_text())

    env = properties(out / "environment.properties")
    assert env["environment"] == "sandbox"
    assert env["environment.kind"] == "sandbox"
    assert env["sandbox"] == "true"
    assert env["run.key"] == receipt["run_key"]
    assert env["contracts.path"] == str(contracts_dir.resolve())
    assert env["contracts.layout"] == "suite"
    assert env["contracts.sha256"] == receipt["contracts"]["sha256"]
    assert env["contracts.sha256"] == contracts_digest(Contracts.open(contracts_dir))
    assert re.fullmatch(r"[0-9a-f]{64}", env["contracts.sha256"])
    assert env["suite.version"] == __version__
    assert env["git.revision"] == "unknown"  # the copied contracts are not in a git checkout
    assert env["suite.git.revision"] == (git_revision(SUITE_ROOT) or "unknown")

    executor = json.loads((out / "executor.json").read_text())
    assert executor == {
        "name": "infracore-verify",
        "type": "pytest",
        "buildName": receipt["run_key"],
        "reportName": f"infracore-verify {__version__}: sandbox: built-in sandbox emulation on 127.0.0.1 "
        "(not real infrastructure)",
    }
    written = json.loads((out / "categories.json").read_text())
    assert [c["name"] for c in written] == CATEGORY_NAMES
    assert written == categories()
    assert (out / "keep-me.txt").read_text() == "written before the run\n"


def test_each_failure_falls_into_exactly_its_category(
    project: pytest.Pytester, contracts_dir: Path, edit_contract: ContractEditor
) -> None:
    """Sorts real gate and probe failures into auth, rate limited, unreachable, gate bug, freshness and drift."""
    edit_contract("gate.execution.topology.yaml", lambda d: d["core_mode"].update(core_count_limit=99))
    stale = write_script(contracts_dir, "d703.sh", 'echo "D703 FAIL: snapshot is 3 days old"; exit 1')
    add_gates(
        edit_contract,
        script_gate("D702", "nothing-lock", None),
        script_gate("D703", "snapshot-freshness-lock", stale),
    )
    out = project.path / "allure-results"
    result = run(
        project,
        f"--contracts={contracts_dir}",
        f"--alluredir={out}",
        "--gate",
        "D127,D702,D703",
        "--probe",
        "authentik.user.self,authentik.version,vaultwarden.alive,infisical.status",
        "--sandbox-fault",
        "authentik:status=401@/api/v3/core/users/me/",
        "--sandbox-fault",
        "authentik:rate_limit@/api/v3/admin/version/",
        "--sandbox-fault",
        "vaultwarden:down",
        "--sandbox-fault",
        "infisical:drift@/api/status",
    )
    result.assert_outcomes(failed=7)
    expected = {
        ("gate_id", "D127"): "Contract drift",
        ("gate_id", "D702"): "Gate bug",
        ("gate_id", "D703"): "Freshness",
        ("probe_id", "authentik.user.self"): "Auth failure",
        ("probe_id", "authentik.version"): "Rate limited",
        ("probe_id", "vaultwarden.alive"): "Unreachable",
        ("probe_id", "infisical.status"): "Contract drift",
    }
    got = {key: categories_of(out, result_of(out, *key)) for key in expected}
    assert got == {key: [name] for key, name in expected.items()}


@pytest.mark.parametrize(
    ("message", "category"),
    [
        (
            "Failed: D315 FAIL: 2 of 5 part(s) failed [deterministic]\n"
            "  part cloudflare.zone.list FAIL: got 429 [class rate_limited] [rate_limited]\n"
            "  part cloudflare.token.verify FAIL: got 401 [class token_invalid] [token_invalid]",
            "Auth failure",
        ),
        (
            "Failed: D315 FAIL: 1 of 5 part(s) failed [deterministic]\n"
            "  part cloudflare.zone.list FAIL: got 429 [class rate_limited] [rate_limited]",
            "Rate limited",
        ),
        (
            "Failed: waiver expired: GAP-OP-1 (review by 2026-01-01, owner @o): D127 FAIL: 1 finding(s) "
            "[deterministic]\n  gate.execution.topology.yaml:16 $.core_mode.core_count_limit: mismatch",
            "Waiver expired",
        ),
        ("Failed: D9 FAIL: timed out after 60s (ring standard) [deterministic]", "Contract drift"),
    ],
    ids=["auth-before-rate", "rate-before-drift", "expired-before-drift", "drift"],
)
def test_category_regexes_pick_one_category_in_both_match_modes(message: str, category: str) -> None:
    """Gives a message with several markers exactly one category, whether the regex must match all or part."""
    regexes = {c["name"]: re.compile(c["messageRegex"]) for c in categories()}
    assert [name for name, regex in regexes.items() if regex.fullmatch(message)] == [category]
    assert [name for name, regex in regexes.items() if regex.search(message)] == [category]


# --- xdist ---------------------------------------------------------------------------------------------


def test_xdist_crash_gets_a_broken_result_and_nothing_is_wiped(
    project: pytest.Pytester, contracts_dir: Path, edit_contract: ContractEditor
) -> None:
    """Under -n 2 with --clean-alluredir, keeps every result when a worker dies and writes a broken one for it."""
    crash = write_script(contracts_dir, "d704.sh", "sleep 1\nkill -9 $PPID")
    add_gates(edit_contract, script_gate("D704", "crash-lock", crash))
    out = project.path / "allure-results"
    gates = ["D63", "D67", "D900", "D904", "D905", "D906", "D704"]
    result = run(
        project,
        f"--contracts={contracts_dir}",
        "--gate",
        ",".join(gates),
        f"--alluredir={out}",
        "--clean-alluredir",
        "-n",
        "2",
    )
    result.assert_outcomes(passed=6, failed=1)
    found = results(out)
    assert sorted(r for g in found for r in labels(g)["gate_id"]) == sorted(gates)
    crashed = result_of(out, "gate_id", "D704")
    assert crashed["status"] == "broken"
    assert re.fullmatch(
        r"worker crashed: worker 'gw\d' crashed while running 'gates/test_gates.py::test_gate\[D704\]'",
        crashed["statusDetails"]["message"],
    )
    assert crashed["name"] == "D704 crash-lock"
    assert crashed["fullName"] == "gates.test_gates#test_gate"
    assert crashed["start"] <= crashed["stop"]
    got = labels(crashed)
    assert (got["epic"], got["feature"], got["story"]) == (["verify"], ["governance"], ["D704 crash-lock"])
    assert got["suite"] == ["test_gates"]
    assert categories_of(out, crashed) == ["Worker crashed"]
    assert (out / "environment.properties").is_file()
