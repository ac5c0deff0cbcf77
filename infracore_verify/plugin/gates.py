"""Gates as tests: markers, state and plan at configure, --list-gates, parametrization and `run_gate`."""

from __future__ import annotations

import fnmatch
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from infracore_verify.contracts.findings import render_all
from infracore_verify.contracts.model import GATE_CLASSES, RINGS, Gate
from infracore_verify.contracts.verdict import Verdict
from infracore_verify.gates.engine import GateResult
from infracore_verify.plugin.planning import build_plan
from infracore_verify.plugin.recorder import RunRecorder
from infracore_verify.plugin.state import (
    GATE_PROPERTY,
    STATE,
    GateRunner,
    SuiteState,
    env_name,
    explicitly_asked,
    item_mark,
    link_patterns,
    mark_item,
)
from infracore_verify.plugin.xdist import XdistHooks
from infracore_verify.redact import install_log_masking
from infracore_verify.reporting import allure as report
from infracore_verify.reporting.receipt import new_run_key
from infracore_verify.reporting.waivers import Decision, WaiverBook
from infracore_verify.suite import SUITE_DIR

SEVERITIES = ("critical", "high", "medium", "low")
_SKIPPED_DIRS = {"node_modules", "venv", "__pycache__", "build", "dist", "site-packages"}


def marker_name(value: str) -> str:
    """Return a marker name for a domain (anything but letters, digits, _ and - becomes _)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", value)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Register the suite's markers and start the run's state (run key, environment, links, waivers)."""
    install_log_masking()
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and getattr(config.option, "clean_alluredir", False):
        # Only the controller empties the results folder: a worker that replaces a crashed one would wipe
        # every result written so far. Runs before allure-pytest's own pytest_configure (tryfirst).
        config.option.clean_alluredir = False
    run_key = workerinput.get("infracore_run_key") if workerinput else None
    config.stash[STATE] = SuiteState(run_key or new_run_key(), workerinput is not None, env_name(config))
    config.stash[STATE].links = link_patterns(config)
    for name, text in (
        ("gate", "a registry gate"),
        ("fast", "gate is in the fast profile"),
        ("smoke", "a live read-only smoke probe"),
        ("live", "needs live systems and credentials"),
        ("recovery", "a recovery action (runs only with --allow-recovery)"),
        ("browser", "drives a real browser"),
        ("slow", "takes more than a few seconds"),
        ("infracore_item", "(kind, id) of a gate, probe or recovery test, set by the plugin's parametrization"),
    ):
        config.addinivalue_line("markers", f"{name}: {text}")
    for value in (*GATE_CLASSES, *RINGS, *SEVERITIES):
        config.addinivalue_line("markers", f"{value}: gate class, ring or severity from the gate registry")
    state = config.stash[STATE]
    try:
        state.plan = build_plan(config)
    except pytest.UsageError as exc:
        if explicitly_asked(config):
            raise
        state.plan_error = str(exc)
    if state.plan is not None:
        env_doc = state.plan.contracts.environment(state.env_name)
        if not env_doc.ok:
            raise pytest.UsageError(f"--env {state.env_name}: " + render_all(env_doc.errors))
        state.waivers = WaiverBook.from_doc(state.plan.contracts.doc("gaps"))
    config.pluginmanager.register(RunRecorder(config), "infracore-verify-recorder")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(config), "infracore-verify-xdist")
    _use_embedded_suite(config)


def _has_tests(root: Path, patterns: list[str]) -> bool:
    """Return True when a file below `root` matches python_files (hidden and tool folders skipped)."""
    for _, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _SKIPPED_DIRS and not d.endswith(".egg-info")]
        if any(fnmatch.fnmatch(name, pattern) for name in files for pattern in patterns):
            return True
    return False


def _use_embedded_suite(config: pytest.Config) -> None:
    """Collect the embedded test layer when pytest was given no path and finds no test files to collect.

    That is the installed plugin run from any directory (`pytest -m fast` in an empty folder); a project
    with tests of its own, or any explicit path or testpaths, is left alone.
    """
    if (
        getattr(config, "workerinput", None) is not None
        or config.args_source != pytest.Config.ArgsSource.INVOCATION_DIR
    ):
        return
    patterns = [str(p) for p in config.getini("python_files")]
    if _has_tests(config.invocation_params.dir, patterns):
        return
    config.args[:] = [str(SUITE_DIR)]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the gate, probe and recovery items and record which are left after -m/-k deselection."""
    refs = [ref for ref in map(mark_item, items) if ref is not None]
    config.stash[STATE].select(refs)


def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """Handle --list-gates: print the gate table and exit."""
    if not config.getoption("list_gates"):
        return None
    config.stash[STATE] = SuiteState("", False, env_name(config))
    plan = build_plan(config)
    from infracore_verify.gates.checks import NATIVE

    rows = [("id", "name", "class", "ring", "severity", "domains", "fast", "implementation")]
    for gate_id in plan.selection.gate_ids:
        gate = plan.registry.by_id[gate_id]
        if gate.probes:
            impl = ("native+" if gate.id in NATIVE else "") + f"live({len(gate.probes)} probes)"
        elif gate.id in NATIVE:
            impl = "native"
        elif gate.composite_of:
            impl = "composite(" + ",".join(gate.composite_of) + ")"
        elif gate.check_script:
            impl = "script" if (plan.contracts.root / gate.check_script).is_file() else "script (missing)"
        else:
            impl = "missing"
        rows.append(
            (
                gate.id,
                gate.name,
                gate.gate_class,
                gate.ring,
                gate.severity,
                ",".join(plan.topology.domains_of(gate.id)) or "-",
                "yes" if gate.id in plan.fast_ids else "no",
                impl,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    print(f"\n{len(rows) - 1} gate(s), selection '{plan.selection.profile}' from {plan.selection.source}")
    return 0


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize `gate` with one test per selected gate, markers and labels from the registry."""
    if "gate" not in metafunc.fixturenames:
        return
    state = metafunc.config.stash[STATE]
    if state.plan is None:
        # Nothing to generate from: one failing test carries the reason instead of a collection traceback.
        metafunc.parametrize("gate", [pytest.param(None, id="contracts", marks=item_mark("gate", "contracts"))])
        return
    plan = state.plan
    params = []
    for gate_id in plan.selection.gate_ids:
        gate = plan.registry.by_id[gate_id]
        domains = plan.topology.domains_of(gate_id)
        in_fast = gate_id in plan.fast_ids
        budget = plan.budgets.get(gate.ring, plan.budgets["deep"])
        script = not gate.composite_of and gate.check_script is not None
        marks = [pytest.mark.gate, item_mark("gate", gate.id), pytest.mark.timeout(budget + 5 if script else budget)]
        if gate.probes:
            marks.append(pytest.mark.live)
        names = [
            *(["fast"] if in_fast else []),
            *(marker_name(d) for d in domains),
            gate.gate_class,
            gate.ring,
        ]
        if gate.severity in SEVERITIES:
            names.append(gate.severity)
        for name in dict.fromkeys(names):
            metafunc.config.addinivalue_line("markers", f"{name}: from the gate registry")
            marks.append(getattr(pytest.mark, name))
        gaps = state.waivers.linking(gate_id) if state.waivers is not None else []
        marks += report.gate_marks(gate, domains, in_fast, state.links, gaps)
        params.append(pytest.param(gate, id=gate.id, marks=marks))
    metafunc.parametrize("gate", params)


@pytest.fixture
def run_gate(request: pytest.FixtureRequest) -> GateRunner:
    """Runs a registry gate through the engine and fails the test with its findings (no traceback).

    An open gap that links a failing gate waives the failure until its review_by date (an expected failure);
    after that date the gate fails with `waiver expired`. A passing gate that an open gap links is flagged.
    """
    state = request.config.stash[STATE]
    plan = state.plan
    engine = plan.engine() if plan is not None else None

    def run(gate: Gate) -> GateResult:
        if engine is None:
            pytest.fail(f"no gate can run: {state.plan_error}", pytrace=False)
        if gate.probes and engine.probe_runner is None:
            # Live gates run smoke probes through the clients that fixtures/ provides.
            try:
                engine.probe_runner = request.getfixturevalue("smoke_runner").verdict
            except pytest.FixtureLookupError:
                engine.probe_runner = None
        result = engine.run(gate)
        decision = state.waivers.decide(gate.id, result.verdict) if state.waivers is not None else Decision()
        message = _gate_message(result, decision)
        request.node.user_properties.append((GATE_PROPERTY, json.dumps(_row(result, decision, message))))
        report.title(f"{gate.id} {gate.name}")
        if result.failure_class and decision.expired is None:
            report.label("failure_class", result.failure_class)
        for waiver in decision.waivers:
            report.waiver_labels(waiver.status, waiver.gap.id, waiver.gap.owner, waiver.gap.review_by)
            if waiver.status == "closable":
                request.node.warn(pytest.PytestWarning(waiver.closable_warning()))
        findings = [*result.findings, *(f for part in result.parts for f in part.findings)]
        if findings:
            report.attach_findings(findings)
        if result.parts:
            report.attach_text("composite parts", "\n".join(p.headline() for p in result.parts))
        if result.output:
            report.attach_text("script output", result.output)
        if result.verdict == Verdict.SKIP:
            pytest.skip(result.detail)
        if result.verdict == Verdict.FAIL:
            applied = decision.applied
            if applied is not None:
                pytest.xfail(applied.reason(result.headline()))
            pytest.fail(message, pytrace=False)
        return result

    return run


def _gate_message(result: GateResult, decision: Decision) -> str:
    """Return the failure text of a gate: `waiver expired: ...` first when its waiver lapsed, notes last."""
    if result.verdict != Verdict.FAIL:
        return result.headline()
    message = result.message()
    if decision.expired is not None:
        message = decision.expired.expired_message(message)
    return "\n".join([message, *(f"  note: {note}" for note in decision.notes)])


def _row(result: GateResult, decision: Decision, message: str) -> dict[str, Any]:
    applied = decision.applied
    return {
        "id": result.gate.id,
        "name": result.gate.name,
        "verdict": Verdict.WAIVED if applied is not None else result.verdict,
        "implementation": result.kind,
        "failure_class": result.failure_class or None,
        "message": applied.reason(result.headline()) if applied is not None else message,
        "findings": len(result.findings),
        "parts": [{"id": p.gate.id, "verdict": p.verdict, "message": p.headline()} for p in result.parts],
        "waivers": [w.row() for w in decision.waivers],
    }
