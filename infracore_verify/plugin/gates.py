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
from infracore_verify.gates.checks.suite_gates import SUITE_MARKER, is_suite_gate
from infracore_verify.gates.engine import DEFAULT_HANG_GUARD, TIMEOUT_CLASS, Engine, GateResult
from infracore_verify.gates.profiles import domain_sources
from infracore_verify.plugin.allure import check_alluredir
from infracore_verify.plugin.planning import build_plan, domain_profile_ids
from infracore_verify.plugin.recorder import RunRecorder
from infracore_verify.plugin.state import (
    GATE_PROPERTY,
    STATE,
    GatePlan,
    GateRunner,
    SuiteState,
    check_reports_dir,
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
from infracore_verify.reporting.waivers import Decision, WaiverBook, gate_findings
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
        (SUITE_MARKER, "one of the suite's own gates (D900 and up), whatever registry the contracts come from"),
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
    hang_guard(config)  # a bad value is a usage error before anything runs
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
    if workerinput is None and not (config.option.help or config.getoption("list_gates")):
        check_reports_dir(config)  # output folders that cannot be written are usage errors, not INTERNALERRORs
        check_alluredir(config)
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
    rows = [("id", "name", "class", "ring", "severity", "domains", "fast", "implementation")]
    for gate_id in plan.selection.gate_ids:
        gate = plan.registry.by_id[gate_id]
        impl = _implementation(gate, plan)
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
    if config.getoption("domain"):
        for line in _domain_source_lines(str(config.getoption("domain")), plan):
            print(line)
    return 0


def _implementation(gate: Gate, plan: GatePlan) -> str:
    """Return how a gate runs, as --list-gates shows it (an inline gate ported natively: `native (inline)`)."""
    from infracore_verify.gates.engine import native_for

    if gate.probes:
        return ("native+" if native_for(gate) else "") + f"live({len(gate.probes)} probes)"
    if native_for(gate):
        return "native (inline)" if gate.inline else "native"
    if gate.composite_of:
        return "composite(" + ",".join(gate.composite_of) + ")"
    if gate.inline:
        return "inline (not ported: skipped)"
    if gate.check_script:
        return "script" if (plan.contracts.root / gate.check_script).is_file() else "script (missing)"
    return "missing"


def _domain_source_lines(domain: str, plan: GatePlan) -> list[str]:
    """Return the domain's gates by source, and how they differ, when the two sources disagree."""
    topo, listed = domain_sources(domain, plan.topology, domain_profile_ids(plan.contracts))
    if topo == listed:
        return [f"domain '{domain}': the topology and gate.domain.profiles.yaml list the same gates"]
    only_topo = [g for g in topo if g not in listed]
    only_listed = [g for g in listed if g not in topo]
    return [
        f"domain '{domain}': the sources differ",
        f"  topology gate_assignments (used by the suite{'' if topo else '; empty, so it falls back'}): "
        + (" ".join(topo) or "none"),
        "  gate.domain.profiles.yaml (what the ops runner uses: its topology query fails on yq): "
        + (" ".join(listed) or "none"),
        f"  only in the topology: {' '.join(only_topo) or 'none'}; "
        f"only in gate.domain.profiles.yaml: {' '.join(only_listed) or 'none'}",
    ]


def hang_guard(config: pytest.Config) -> float:
    """Return the seconds after which a single gate is stopped as hung (--gate-hang-guard, ini, default 300)."""
    raw = config.getoption("gate_hang_guard") or str(config.getini("infracore_gate_hang_guard") or "")
    if not raw:
        return DEFAULT_HANG_GUARD
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not seconds > 0 or seconds == float("inf"):
        raise pytest.UsageError(
            f"--gate-hang-guard / infracore_gate_hang_guard {raw!r}: not a positive number of seconds; "
            f"give e.g. {DEFAULT_HANG_GUARD:g}"
        )
    return seconds


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
        # The hang guard, not the ring budget: the engine kills a hung script at the guard, and pytest-timeout
        # stops a hung native gate a little later (the ring budget is measured for the whole run).
        marks = [pytest.mark.gate, item_mark("gate", gate.id), pytest.mark.timeout(hang_guard(metafunc.config) + 5)]
        if gate.probes:
            marks.append(pytest.mark.live)
        names = [
            *(["fast"] if in_fast else []),
            *([SUITE_MARKER] if is_suite_gate(gate_id) else []),
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

    An open gap that links a failing gate waives the findings it names (`waives`) until its review_by date;
    the gate is an expected failure only when every finding is waived, else it fails listing which were.
    After that date the gate fails with `waiver expired`. A passing gate that an open gap links is flagged.
    """
    state = request.config.stash[STATE]
    plan = state.plan
    engine = plan.engine() if plan is not None else None
    if engine is not None:
        engine.hang_guard = hang_guard(request.config)

    def run(gate: Gate) -> GateResult:
        if engine is None:
            pytest.fail(f"no gate can run: {state.plan_error}", pytrace=False)
        if gate.probes and engine.probe_runner is None:
            # Live gates run smoke probes through the clients that fixtures/ provides.
            try:
                engine.probe_runner = request.getfixturevalue("smoke_runner").verdict
            except pytest.FixtureLookupError:
                engine.probe_runner = None
        result = _guarded_run(engine, gate)
        failing = gate_findings(result) if result.verdict == Verdict.FAIL else []
        decision = state.waivers.decide(gate.id, result.verdict, failing) if state.waivers is not None else Decision()
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
        if result.verdict in (Verdict.SKIP, Verdict.NOT_APPLICABLE):
            pytest.skip(result.detail if result.verdict == Verdict.SKIP else result.headline())
        if result.verdict == Verdict.FAIL:
            if decision.applied is not None:
                pytest.xfail(decision.reason(result.headline()))
            pytest.fail(message, pytrace=False)
        return result

    return run


def _guarded_run(engine: Engine, gate: Gate) -> GateResult:
    """Run a gate; pytest-timeout stopping a hung native gate becomes a `timeout` result, not a crash."""
    try:
        return engine.run(gate)
    except pytest.fail.Exception as exc:
        if "Timeout" not in str(exc):  # only pytest-timeout's signal on a hung native gate is a timeout
            raise
    detail = f"no verdict: the hang guard stopped the gate after {engine.hang_guard + 5:g}s (--gate-hang-guard)"
    result = GateResult(gate, Verdict.FAIL, "native", detail=detail, timed_out=True)
    result.failure_class = TIMEOUT_CLASS
    return result


def _gate_message(result: GateResult, decision: Decision) -> str:
    """Return the failure text of a gate: `waiver expired: ...` first when its waiver lapsed, notes last."""
    if result.verdict != Verdict.FAIL:
        return result.headline()
    message = result.message()
    if decision.expired is not None:
        message = decision.expired.expired_message(message)
    return "\n".join([message, *decision.listing(), *(f"  note: {note}" for note in decision.notes)])


def _row(result: GateResult, decision: Decision, message: str) -> dict[str, Any]:
    applied = decision.applied
    return {
        "id": result.gate.id,
        "name": result.gate.name,
        "verdict": Verdict.WAIVED if applied is not None else result.verdict,
        "implementation": result.kind,
        "failure_class": result.failure_class or None,
        "message": decision.reason(result.headline()) if applied is not None else message,
        "findings": len(result.findings),
        "parts": [{"id": p.gate.id, "verdict": p.verdict, "message": p.headline()} for p in result.parts],
        "waivers": [w.row() for w in decision.waivers],
        **_finding_ids(decision),
    }


def _finding_ids(decision: Decision) -> dict[str, list[str]]:
    """Return the ids of the waived and the still failing findings when a gap named any of them."""
    if not decision.listing():
        return {}
    return {
        "waived_findings": [item.id for item, _ in decision.waived],
        "unwaived_findings": [item.id for item, _ in decision.unwaived],
    }
