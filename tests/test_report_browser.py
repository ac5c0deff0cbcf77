"""The offline Allure report: built by `make report` from real runs, free of analytics, and readable in chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from infracore_verify.contracts.sets import BUNDLED_CONTRACTS

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]

REPO = Path(__file__).resolve().parents[1]
TOOLS = REPO / "tools" / "report"
FAILING_GATE = "D127"
"""Fails on purpose: its core_count_limit is set one above the number of core gates."""
WAIVED_GATE = "D320"
"""Fails on purpose (cloudflare's authority emptied) while an open gap waives it."""
FORBIDDEN = ("googletagmanager", "gtag(", "google-analytics")
GAP_ID = re.compile(r"\bGAP-[A-Z0-9]+-\d+\b")
EXTERNAL_LOAD = re.compile(r"<(?:script|link|img|iframe)\b[^>]*?\b(?:src|href)\s*=\s*[\"']?https?:", re.IGNORECASE)


@dataclass(frozen=True)
class BuiltReport:
    """Two fast runs (passing, then with a failing and a waived gate) and the report built after each."""

    first_html: str
    """index.html as built from the passing run."""
    index: Path
    """index.html built from the second run (the one the browser checks)."""
    history: Path
    results: list[dict[str, Any]]
    """The second run's *-result.json files."""
    build_log: str
    screenshot: Path


def _run(args: list[str], *, timeout: float, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Runs a command from the repository root with a bound on its time; output is captured as text."""
    return subprocess.run(
        args, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env, check=False, stdin=subprocess.DEVNULL
    )


def _child_env() -> dict[str, str]:
    """Returns this environment minus what would make a nested pytest think it is an xdist worker."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST", "PYTEST_CURRENT_TEST"))}


def _fast_run(contracts: Path, alluredir: Path, receipts: Path) -> subprocess.CompletedProcess[str]:
    """Runs the fast profile and the smoke probes (sandbox) into an Allure results folder (the README's command)."""
    return _run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-m",
            "fast or smoke",
            f"--contracts={contracts}",
            f"--alluredir={alluredir}",
            f"--reports-dir={receipts}",
            "-p",
            "no:cacheprovider",
            "-q",
        ],
        timeout=120,
        env=_child_env(),
    )


def _make_report(results: Path, output: Path, history: Path) -> subprocess.CompletedProcess[str]:
    """Runs the documented `make report`, pointed at private folders so the shared reports/ stays untouched."""
    args = f"--results {results} --output {output} --history {history}"
    return _run(["make", "-s", "report", f"REPORT_ARGS={args}"], timeout=300)


def _break_contracts(contracts: Path) -> None:
    """Makes D127 fail (core_count_limit one too high) and D320 fail under a waiver that cannot lapse."""
    topology = contracts / "gate.execution.topology.yaml"
    data = yaml.safe_load(topology.read_text(encoding="utf-8"))
    data["core_mode"]["core_count_limit"] = len(data["core_mode"]["core_gate_ids"]) + 1
    topology.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")

    # D320 wants at least four required SLO services; three break it without touching the baseline
    # contract, so the smoke probes (listed there) still run and appear in the report.
    slo = contracts / "infra.core.slo.yaml"
    data = yaml.safe_load(slo.read_text(encoding="utf-8"))
    data["target"]["required_service_ids"] = data["target"]["required_service_ids"][:3]
    slo.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")

    gaps = contracts / "operational.gaps.yaml"
    data = yaml.safe_load(gaps.read_text(encoding="utf-8"))
    for gap in data.get("gaps") or []:
        if WAIVED_GATE in (gap.get("gate_ids") or []):
            gap["review_by"] = "2099-12-31"  # the shipped date would let the waiver lapse one day
            gap["waives"] = [{"path": "$.target.required_service_ids"}]  # a gap waives only what it names
    gaps.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _read_results(alluredir: Path) -> list[dict[str, Any]]:
    """Returns the parsed *-result.json files of an Allure results folder."""
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(alluredir.glob("*-result.json"))]


def _labels(result: dict[str, Any], name: str) -> list[str]:
    """Returns the values of one label of an Allure result."""
    return [str(label.get("value")) for label in result.get("labels", []) if label.get("name") == name]


def _gate(results: list[dict[str, Any]], gate_id: str) -> dict[str, Any]:
    """Returns the result of one gate, found by its gate_id label or the id at the start of its story."""
    for result in results:
        stories = _labels(result, "story")
        if gate_id in _labels(result, "gate_id") or any(s.split(" ", 1)[0] == gate_id for s in stories):
            return result
    raise AssertionError(f"no Allure result for gate {gate_id} among {[r.get('name') for r in results]}")


def _gap_ids(result: dict[str, Any]) -> list[str]:
    """Returns the gap ids an Allure result carries anywhere in its labels, links or status message."""
    texts = [str(label.get("value")) for label in result.get("labels", [])]
    texts += [f"{link.get('name')} {link.get('url')}" for link in result.get("links", [])]
    texts.append(str((result.get("statusDetails") or {}).get("message", "")))
    return sorted({m for text in texts for m in GAP_ID.findall(text)})


def _expectations(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Returns what check.mjs must find: every result with its severity, each failure's findings, each waiver."""
    tests: list[dict[str, str]] = []
    failing: list[dict[str, str]] = []
    waived: list[dict[str, str]] = []
    planted = _gate(results, FAILING_GATE)
    for result in results:
        severities = _labels(result, "severity")
        tests.append({"name": result["name"], **({"severity": severities[0]} if severities else {})})
        if result.get("status") in ("failed", "broken"):
            failing.append({"name": result["name"], "attachment": "findings"})
            if result is planted:
                failing[-1]["contains"] = "core_count_limit"
        elif result.get("status") != "passed" and _gap_ids(result):
            waived.append({"name": result["name"], "gap_id": _gap_ids(result)[0]})
    return {"tests": tests, "failing": failing, "waived": waived}


@pytest.fixture(scope="module")
def built_report(tmp_path_factory: pytest.TempPathFactory) -> BuiltReport:
    """Runs the fast profile twice (passing, then broken) and builds the report after each run into one history."""
    for tool in ("node", "npm", "make"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not on PATH; the browser check needs node, npm and make (.ci/run installs them)")
    base = tmp_path_factory.mktemp("report")
    output, history = base / "allure-report", base / "allure-history.jsonl"
    logs: list[str] = []

    good = base / "contracts-good"
    shutil.copytree(BUNDLED_CONTRACTS, good)
    run = _fast_run(good, base / "results-1", base / "receipts")
    assert run.returncode == 0, f"the fast run on the shipped contracts failed:\n{run.stdout}{run.stderr}"
    build = _make_report(base / "results-1", output, history)
    assert build.returncode == 0, f"make report failed:\n{build.stdout}{build.stderr}"
    logs.append(build.stdout)
    first_html = (output / "index.html").read_text(encoding="utf-8")

    broken = base / "contracts-broken"
    shutil.copytree(BUNDLED_CONTRACTS, broken)
    _break_contracts(broken)
    run = _fast_run(broken, base / "results-2", base / "receipts")
    assert run.returncode == 1, f"the broken fast run should fail (exit 1):\n{run.stdout}{run.stderr}"
    build = _make_report(base / "results-2", output, history)
    assert build.returncode == 0, f"make report failed:\n{build.stdout}{build.stderr}"
    logs.append(build.stdout)

    return BuiltReport(
        first_html=first_html,
        index=output / "index.html",
        history=history,
        results=_read_results(base / "results-2"),
        build_log="".join(logs),
        screenshot=REPO / "reports" / "allure-report-screenshot.png",  # kept for people and CI artifacts
    )


def test_report_is_one_file_without_analytics(built_report: BuiltReport) -> None:
    """Both builds leave one index.html that loads nothing from the network and carries no analytics."""
    for label, html in (("first", built_report.first_html), ("second", built_report.index.read_text("utf-8"))):
        assert [needle for needle in FORBIDDEN if needle in html] == [], f"{label} build kept analytics"
        assert EXTERNAL_LOAD.findall(html) == [], f"{label} build loads from the network"
        assert '<div id="app">' in html, f"{label} build is not an Allure 3 page"
    assert "analytics blocks stripped: 2" in built_report.build_log
    assert "xdg-open" in built_report.build_log
    summary = json.loads((built_report.index.parent / "summary.json").read_text(encoding="utf-8"))
    statuses = [r.get("status") for r in built_report.results]
    assert summary["stats"]["total"] == len(built_report.results)
    assert summary["stats"].get("failed", 0) == statuses.count("failed")


def test_history_carries_across_builds(built_report: BuiltReport) -> None:
    """Each build appends one line to the history file, so the second report has trends from the first."""
    lines = built_report.history.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    assert all(isinstance(json.loads(line), dict) for line in lines)


def test_run_has_the_intended_failure_and_waiver(built_report: BuiltReport) -> None:
    """The broken contracts fail D127 with a findings attachment and leave D320 waived by its gap."""
    failed = _gate(built_report.results, FAILING_GATE)
    assert failed["status"] == "failed"
    assert [a.get("name") for a in failed.get("attachments", [])].count("findings") == 1
    waived = _gate(built_report.results, WAIVED_GATE)
    assert waived["status"] == "skipped", "an applied waiver reports the gate as an expected failure"
    assert _gap_ids(waived), f"{WAIVED_GATE} carries no gap id: {waived.get('labels')} {waived.get('links')}"


def test_browser_shows_every_gate_findings_and_waiver(built_report: BuiltReport, tmp_path: Path) -> None:
    """Chromium, offline, lists every gate with its severity, shows each failure's findings and each waiver's gap."""
    expect = _expectations(built_report.results)
    assert expect["waived"], "the broken run should contain a waived gate"
    probes = [t for t in expect["tests"] if t["name"].endswith(" [sandbox]")]
    assert len(probes) >= 19, "every smoke probe of the run (labelled with the sandbox) is checked too"
    expect_file = tmp_path / "expect.json"
    expect_file.write_text(json.dumps(expect, indent=2), encoding="utf-8")
    check = _run(
        [
            "node",
            str(TOOLS / "check.mjs"),
            "--report",
            str(built_report.index),
            "--expect",
            str(expect_file),
            "--screenshot",
            str(built_report.screenshot),
            "--timeout",
            "150",
        ],
        timeout=200,
    )
    try:
        summary: dict[str, Any] = json.loads(check.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"check.mjs printed no JSON summary (exit {check.returncode}):\n{check.stdout}{check.stderr}")
    failed_checks = [c for c in summary.get("checks", []) if not c.get("ok")]
    assert check.returncode == 0, f"browser checks failed: {json.dumps(failed_checks, indent=2)}\n{check.stderr}"
    assert summary["ok"] is True
    assert sorted(t["name"] for t in expect["tests"]) == sorted(summary["listed"])
    findings = f"{_gate(built_report.results, FAILING_GATE)['name']} shows its 'findings' attachment"
    assert [c["ok"] for c in summary["checks"] if c["name"] == findings] == [True]
    assert any(c["ok"] and " shows gap GAP-" in c["name"] for c in summary["checks"])
    assert summary["aborted_requests"] == []
    assert summary["console_errors"] == []
    assert built_report.screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_build_refuses_missing_results(tmp_path: Path) -> None:
    """`make report` on a folder without results exits 2 and says how to produce them."""
    run = _make_report(tmp_path / "nothing", tmp_path / "out", tmp_path / "history.jsonl")
    assert run.returncode != 0
    assert "is not a directory" in run.stderr
    assert "--alluredir" in run.stderr
    assert not (tmp_path / "out" / "index.html").exists()
