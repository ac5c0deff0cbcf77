"""The pytest plugin: options, gate parametrization and markers, selection, budget, receipt and summary."""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from infracore_verify import __version__
from infracore_verify.contracts.findings import render_all
from infracore_verify.contracts.loader import file_sha256
from infracore_verify.contracts.model import (
    GATE_CLASSES,
    RINGS,
    Gate,
    Registry,
    RunProfiles,
    Topology,
    gate_number,
    ring_budgets,
)
from infracore_verify.contracts.sets import BUNDLED_CONTRACTS, SUITE_ROOT, Contracts, ContractsPathError
from infracore_verify.gates.classify import Classifier
from infracore_verify.gates.engine import Engine, GateResult
from infracore_verify.gates.profiles import Selection, SelectionError, resolve_domain, resolve_fast, resolve_release
from infracore_verify.redact import REDACTOR, install_log_masking, mask_exception, scrub_tree
from infracore_verify.reporting import allure as report
from infracore_verify.reporting.receipt import git_revision, new_run_key, utc_iso, write_receipt
from infracore_verify.reporting.waivers import Decision, WaiverBook
from infracore_verify.reporting.waivers import summary as waiver_summary
from infracore_verify.smoke.drift import write_report as write_drift_report

SEVERITIES = ("critical", "high", "medium", "low")
GATE_PROPERTY = "infracore.gate"
PROBE_PROPERTY = "infracore.probe"
"""user_properties name under which a smoke probe's row travels to the controller (set by fixtures/)."""
_GATE_NODE = re.compile(r"::test_gate\[(?P<id>[^\]]+)\]$")
_PROBE_NODE = re.compile(r"::test_probe\[(?P<id>[^\]]+)\]$")
RECOVERY_PROPERTY = "infracore.recovery"
"""user_properties name under which a recovery action's row travels to the controller (set by fixtures/)."""
_RECOVERY_NODE = re.compile(r"::test_recovery\[(?P<id>[^\]]+)\]$")

GateRunner = Callable[[Gate], GateResult]


@dataclass
class GatePlan:
    """Everything collection needs: the contract views, the fast set and the requested selection."""

    contracts: Contracts
    registry: Registry
    topology: Topology
    profiles: RunProfiles
    budgets: dict[str, int]
    classifier: Classifier
    fast_ids: tuple[str, ...]
    selection: Selection
    explicit: bool
    """True when --gate, --profile or --domain chose the gates (the ring is then the selection's)."""

    def engine(self) -> Engine:
        """Return an engine for this plan's contracts."""
        return Engine(self.contracts, self.registry, self.classifier, self.budgets)


@dataclass
class SuiteState:
    """Per-run plugin state, kept in `config.stash`."""

    run_key: str
    is_worker: bool
    env_name: str
    started: float = field(default_factory=time.time)
    plan: GatePlan | None = None
    plan_error: str | None = None
    """Why the gates cannot be planned (shown as one failing gate test when nothing asked for gates)."""
    selected_ids: list[str] | None = None
    selected_probes: list[str] = field(default_factory=list)
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    probe_rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    recovery_rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    durations: dict[str, float] = field(default_factory=dict)
    receipt_path: Path | None = None
    receipt: dict[str, Any] | None = None
    links: report.LinkPatterns = field(default_factory=lambda: report.LinkPatterns(report.default_runbook_url()))
    waivers: WaiverBook | None = None
    """The gaps of the contract set, judged on today's UTC date (None when no plan)."""
    test_starts: dict[str, float] = field(default_factory=dict)
    """When each test started (controller side; dates the result of a test whose worker crashed)."""


STATE = pytest.StashKey[SuiteState]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the suite's options in one group, with ini twins where they make sense."""
    group = parser.getgroup("infracore-verify", "infra-core verification")
    group.addoption("--contracts", metavar="PATH", help="Contract set: a contracts directory or an ops repository root")
    group.addoption(
        "--gate",
        action="append",
        default=[],
        metavar="ID",
        help="Run only these gates (repeatable, comma lists allowed)",
    )
    group.addoption("--profile", choices=("fast", "domain", "release"), help="Run a verify profile the ops way")
    group.addoption("--domain", metavar="NAME", help="Domain for --profile domain (implies it)")
    group.addoption("--list-gates", action="store_true", help="Print the gate table and exit")
    group.addoption("--env", metavar="NAME", help="Target environment from contracts/environments (default: sandbox)")
    group.addoption("--reports-dir", metavar="DIR", help="Where receipts go (default: reports)")
    group.addoption(
        "--budget-blocking",
        action="store_true",
        default=None,
        help="Fail the run when it exceeds its ring budget",
    )
    parser.addini(
        "infracore_runbook_url",
        "Runbook link pattern; {id} is the gate, probe or recovery action id (default: docs/runbook.md#{id})",
        default="",
    )
    parser.addini(
        "infracore_gap_url",
        f"Operational gap link pattern; {{id}} is the gap id (default: {report.DEFAULT_GAP_URL})",
        default="",
    )
    parser.addini("infracore_contracts", "Contract set used when --contracts is not given", default="")
    parser.addini("infracore_env", "Target environment used when --env is not given", default="")
    parser.addini("infracore_reports_dir", "Where receipts go", default="reports")
    parser.addini(
        "infracore_budget_blocking",
        "Fail the run when it exceeds its ring budget",
        type="bool",
        default=False,
    )


def _contracts_path(config: pytest.Config) -> Path:
    option = config.getoption("contracts")
    if option:
        return Path(option)
    if os.environ.get("INFRACORE_CONTRACTS"):
        return Path(os.environ["INFRACORE_CONTRACTS"])
    ini = str(config.getini("infracore_contracts"))
    if ini:
        return config.rootpath / ini
    return BUNDLED_CONTRACTS


def _env_name(config: pytest.Config) -> str:
    return str(
        config.getoption("env") or os.environ.get("INFRACORE_ENV") or config.getini("infracore_env") or "sandbox"
    )


def _reports_dir(config: pytest.Config) -> Path:
    value = config.getoption("reports_dir") or str(config.getini("infracore_reports_dir")) or "reports"
    path = Path(value)
    return path if path.is_absolute() else config.rootpath / path


def _requested_ids(config: pytest.Config) -> list[str]:
    ids: list[str] = []
    for value in config.getoption("gate") or []:
        for part in str(value).split(","):
            part = part.strip()
            if part:
                ids.append(part.upper() if re.fullmatch(r"[dD]\d+", part) else part)
    return list(dict.fromkeys(ids))


def _closest_ids(wanted: str, registry: Registry) -> str:
    number = gate_number(wanted)
    ids = list(registry.by_id)
    if number >= 0:
        ids.sort(key=lambda g: (abs(gate_number(g) - number), g))
    else:
        ids = difflib.get_close_matches(wanted, ids, n=3, cutoff=0.0)
    return ", ".join(ids[:3]) or "none"


def _load_for_selection(contracts: Contracts) -> tuple[Registry, Topology, RunProfiles]:
    problems = []
    for name in ("registry", "topology", "run_profiles"):
        doc = contracts.doc(name)
        problems += doc.errors
    if problems:
        raise pytest.UsageError("cannot select gates; these contracts do not load:\n" + render_all(problems))
    return (
        Registry.from_doc(contracts.doc("registry")),
        Topology.from_doc(contracts.doc("topology")),
        RunProfiles.from_doc(contracts.doc("run_profiles")),
    )


def build_plan(config: pytest.Config) -> GatePlan:
    """Resolve the contract set and the gate selection from the options; raise UsageError when impossible."""
    try:
        contracts = Contracts.open(_contracts_path(config), config.invocation_params.dir)
    except ContractsPathError as exc:
        raise pytest.UsageError(f"--contracts {exc}") from None
    registry, topology, profiles = _load_for_selection(contracts)
    budgets = ring_budgets(contracts.doc("ring_policy"))
    classifier = Classifier.from_doc(contracts.doc("classification"))
    ids = _requested_ids(config)
    profile, domain = config.getoption("profile"), config.getoption("domain")
    if ids and (profile or domain):
        raise pytest.UsageError("--gate cannot be combined with --profile or --domain; use one of them")
    if domain and profile not in (None, "domain"):
        raise pytest.UsageError(f"--domain goes with --profile domain, not --profile {profile}")
    if profile == "domain" and not domain:
        raise pytest.UsageError("--profile domain needs --domain NAME; domains: " + ", ".join(topology.domains))
    try:
        fast = resolve_fast(registry, topology, profiles)
        explicit = True
        if ids:
            selection = _gate_selection(ids, registry, budgets)
        elif profile == "fast":
            selection = fast
        elif domain:
            selection = resolve_domain(domain, registry, topology, profiles, _domain_profile_ids(contracts))
        elif profile == "release":
            selection = resolve_release(registry)
        else:
            explicit = False
            release = resolve_release(registry)
            rest = [g for g in release.gate_ids if g not in fast.gate_ids]
            selection = Selection("all", (*fast.gate_ids, *rest), "deep", "gate.registry.yaml (all active gates)")
    except SelectionError as exc:
        raise pytest.UsageError(f"empty or invalid selection: {exc}") from None
    return GatePlan(contracts, registry, topology, profiles, budgets, classifier, fast.gate_ids, selection, explicit)


def _gate_selection(ids: list[str], registry: Registry, budgets: dict[str, int]) -> Selection:
    for gate_id in ids:
        gate = registry.by_id.get(gate_id)
        if gate is None:
            raise pytest.UsageError(
                f"--gate {gate_id}: no such gate in the registry; closest registered ids: {_closest_ids(gate_id, registry)}"
            )
        if gate.retired:
            raise pytest.UsageError(f"--gate {gate_id}: the gate is retired and never runs")
    return Selection("gate", tuple(ids), _widest_ring(ids, registry, budgets), "--gate")


def _widest_ring(ids: list[str] | tuple[str, ...], registry: Registry, budgets: dict[str, int]) -> str:
    rings = [registry.by_id[g].ring for g in ids if g in registry.by_id]
    known = [r for r in rings if r in budgets] or ["deep"]
    return max(known, key=lambda r: budgets[r])


def _domain_profile_ids(contracts: Contracts) -> dict[str, list[str]]:
    if not contracts.exists("domain_profiles"):
        return {}
    doc = contracts.doc("domain_profiles")
    if not doc.ok:
        return {}
    return {
        str(k): [str(g) for g in (v or {}).get("gate_ids") or []] for k, v in (doc.data.get("domains") or {}).items()
    }


def _explicitly_asked(config: pytest.Config) -> bool:
    return bool(
        config.getoption("gate")
        or config.getoption("profile")
        or config.getoption("domain")
        or config.getoption("contracts")
    )


def _marker_name(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", value)


def _link_patterns(config: pytest.Config) -> report.LinkPatterns:
    runbook = str(config.getini("infracore_runbook_url")) or report.default_runbook_url()
    gap = str(config.getini("infracore_gap_url")) or report.DEFAULT_GAP_URL
    for name, pattern, example in (
        ("infracore_runbook_url", runbook, report.default_runbook_url()),
        ("infracore_gap_url", gap, report.DEFAULT_GAP_URL),
    ):
        problem = report.LinkPatterns.problem(pattern)
        if problem:
            raise pytest.UsageError(f"{name} = {pattern!r}: {problem}, e.g. {example}")
    return report.LinkPatterns(runbook, gap)


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
    config.stash[STATE] = SuiteState(run_key or new_run_key(), workerinput is not None, _env_name(config))
    config.stash[STATE].links = _link_patterns(config)
    for name, text in (
        ("gate", "a registry gate"),
        ("fast", "gate is in the fast profile"),
        ("smoke", "a live read-only smoke probe"),
        ("live", "needs live systems and credentials"),
        ("recovery", "a recovery action (runs only with --allow-recovery)"),
        ("browser", "drives a real browser"),
        ("slow", "takes more than a few seconds"),
    ):
        config.addinivalue_line("markers", f"{name}: {text}")
    for value in (*GATE_CLASSES, *RINGS, *SEVERITIES):
        config.addinivalue_line("markers", f"{value}: gate class, ring or severity from the gate registry")
    state = config.stash[STATE]
    try:
        state.plan = build_plan(config)
    except pytest.UsageError as exc:
        if _explicitly_asked(config):
            raise
        state.plan_error = str(exc)
    if state.plan is not None:
        env_doc = state.plan.contracts.environment(state.env_name)
        if not env_doc.ok:
            raise pytest.UsageError(f"--env {state.env_name}: " + render_all(env_doc.errors))
        state.waivers = WaiverBook.from_doc(state.plan.contracts.doc("gaps"))
    config.pluginmanager.register(_RunRecorder(config), "infracore-verify-recorder")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(config), "infracore-verify-xdist")


class _XdistHooks:
    """Controller-side xdist hooks (registered only when pytest-xdist is installed)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem: str, report: pytest.TestReport, sched: Any) -> None:
        """Write a `broken` Allure result for the test whose worker crashed (it would have none otherwise)."""
        alluredir = getattr(self.config.option, "allure_report_dir", None)
        if not alluredir:
            return
        state = self.config.stash[STATE]
        now = time.time()
        meta, parameter = _report_meta(state, crashitem)
        detail = str(report.longrepr) if report.longrepr else f"the worker running {crashitem} died"
        _allure_write_broken(Path(alluredir), crashitem, meta, f"worker crashed: {detail}", state, now, parameter)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """Learn the secrets a worker resolved, so the controller's final scrub masks them too."""
        for value in getattr(node, "workeroutput", {}).get("infracore_secrets", []):
            REDACTOR.register(value, "secret")

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """Hand the controller's run key to each worker."""
        node.workerinput["infracore_run_key"] = node.config.stash[STATE].run_key

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """Record which gates the workers selected (the controller collects nothing itself)."""
        state = node.config.stash[STATE]
        if state.selected_ids is None:
            state.selected_ids = [m.group("id") for m in map(_GATE_NODE.search, ids) if m]
            state.selected_probes = [m.group("id") for m in map(_PROBE_NODE.search, ids) if m]


def _report_meta(state: SuiteState, nodeid: str) -> tuple[report.ReportMeta | None, tuple[str, Any] | None]:
    """Return the report metadata and parameter of a gate or probe test from its node id (None otherwise)."""
    plan = state.plan
    gate_match, probe_match = _GATE_NODE.search(nodeid), _PROBE_NODE.search(nodeid)
    if plan is not None and gate_match and gate_match.group("id") in plan.registry.by_id:
        gate = plan.registry.by_id[gate_match.group("id")]
        gaps = state.waivers.linking(gate.id) if state.waivers is not None else []
        domains = plan.topology.domains_of(gate.id)
        meta = report.gate_meta(gate, domains, gate.id in plan.fast_ids, state.links, gaps)
        return meta, ("gate", gate)
    if plan is not None and probe_match:
        from infracore_verify.smoke.registry import load_probes

        probes = {p.id: p for p in load_probes(plan.contracts)[0]}
        probe = probes.get(probe_match.group("id"))
        if probe is not None:
            return report.probe_meta(probe, state.links), ("probe", probe)
    return None, None


def _allure_write_broken(
    alluredir: Path,
    nodeid: str,
    meta: report.ReportMeta | None,
    message: str,
    state: SuiteState,
    now: float,
    parameter: tuple[str, Any] | None,
) -> Path:
    started = state.test_starts.get(nodeid, now)
    return report.write_broken_result(
        alluredir, nodeid, meta, message, start_ms=int(started * 1000), stop_ms=int(now * 1000), parameter=parameter
    )


def contracts_digest(contracts: Contracts) -> str:
    """Return one sha256 over every contract file of the set, keyed by logical name (layout-independent)."""
    digest = hashlib.sha256()
    for doc in sorted(contracts.documents(), key=lambda d: d.name):
        digest.update(f"{doc.name}\t{doc.sha256 or file_sha256(doc.path) or 'missing'}\n".encode())
    return digest.hexdigest()


def _write_allure_run_files(config: pytest.Config, state: SuiteState) -> None:
    """Write environment.properties, executor.json and categories.json (controller only, never deleting)."""
    alluredir = getattr(config.option, "allure_report_dir", None)
    if not alluredir or state.is_worker:
        return
    plan = state.plan
    env_doc = plan.contracts.environment(state.env_name) if plan is not None else None
    kind = str(env_doc.data.get("kind")) if env_doc is not None and env_doc.ok else "unknown"
    environment = {
        "environment": state.env_name,
        "environment.kind": kind,
        "sandbox": "true" if kind == "sandbox" else "false",
        "contracts.path": str(plan.contracts.path) if plan is not None else f"not loaded: {state.plan_error}",
        "contracts.layout": plan.contracts.layout if plan is not None else "unknown",
        "contracts.sha256": contracts_digest(plan.contracts) if plan is not None else "unknown",
        "git.revision": (git_revision(plan.contracts.root) if plan is not None else None) or "unknown",
        "suite.git.revision": git_revision(SUITE_ROOT) or "unknown",
        "run.key": state.run_key,
        "suite.version": __version__,
    }
    executor = {
        "name": "infracore-verify",
        "type": "pytest",
        "buildName": state.run_key,
        "reportName": f"infracore-verify {__version__}: {_env_label(state.env_name, None if kind == 'unknown' else kind)}",
    }
    report.write_run_files(Path(alluredir), environment, executor)


def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """Handle --list-gates: print the gate table and exit."""
    if not config.getoption("list_gates"):
        return None
    config.stash[STATE] = SuiteState("", False, _env_name(config))
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
        metafunc.parametrize("gate", [pytest.param(None, id="contracts")])
        return
    plan = state.plan
    params = []
    for gate_id in plan.selection.gate_ids:
        gate = plan.registry.by_id[gate_id]
        domains = plan.topology.domains_of(gate_id)
        in_fast = gate_id in plan.fast_ids
        budget = plan.budgets.get(gate.ring, plan.budgets["deep"])
        script = not gate.composite_of and gate.check_script is not None
        marks = [pytest.mark.gate, pytest.mark.timeout(budget + 5 if script else budget)]
        if gate.probes:
            marks.append(pytest.mark.live)
        names = [
            *(["fast"] if in_fast else []),
            *(_marker_name(d) for d in domains),
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
        if result.verdict == "skip":
            pytest.skip(result.detail)
        if result.verdict == "fail":
            applied = decision.applied
            if applied is not None:
                pytest.xfail(applied.reason(result.headline()))
            pytest.fail(message, pytrace=False)
        return result

    return run


def _gate_message(result: GateResult, decision: Decision) -> str:
    """Return the failure text of a gate: `waiver expired: ...` first when its waiver lapsed, notes last."""
    if result.verdict != "fail":
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
        "verdict": "waived" if applied is not None else result.verdict,
        "implementation": result.kind,
        "failure_class": result.failure_class or None,
        "message": applied.reason(result.headline()) if applied is not None else message,
        "findings": len(result.findings),
        "parts": [{"id": p.gate.id, "verdict": p.verdict, "message": p.headline()} for p in result.parts],
        "waivers": [w.row() for w in decision.waivers],
    }


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Mask registered secrets in the report and the exception before any reporter (terminal, JUnit, Allure) reads them."""
    report: pytest.TestReport = yield
    if REDACTOR.values():
        if call.excinfo is not None:
            mask_exception(call.excinfo.value)
        if report.longrepr is not None and REDACTOR.contains_secret(report.longreprtext):
            report.longrepr = REDACTOR.mask(report.longreprtext)
        report.sections = [(title, REDACTOR.mask(body)) for title, body in report.sections]
        report.user_properties = [
            (name, REDACTOR.mask(value) if isinstance(value, str) else value) for name, value in report.user_properties
        ]
    return report


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Record the gates left after -m/-k deselection (without xdist; workers report theirs)."""
    state = config.stash[STATE]
    state.selected_ids = [m.group("id") for m in (_GATE_NODE.search(item.nodeid) for item in items) if m]
    state.selected_probes = [m.group("id") for m in (_PROBE_NODE.search(item.nodeid) for item in items) if m]


class _RunRecorder:
    """Per-config hooks that gather gate verdicts and write the receipt (one instance per pytest run)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.state = config.stash[STATE]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Collect each gate's and probe's verdict for the receipt (on the controller under xdist)."""
        state = self.state
        if state.is_worker:
            return
        probe = _PROBE_NODE.search(report.nodeid)
        if probe:
            _record(state, state.probe_rows, probe.group("id"), PROBE_PROPERTY, report, "setup_error")
            return
        recovery = _RECOVERY_NODE.search(report.nodeid)
        if recovery:
            for name, value in report.user_properties:
                if name == RECOVERY_PROPERTY:
                    state.recovery_rows[recovery.group("id")] = json.loads(str(value))
            return
        gate = _GATE_NODE.search(report.nodeid)
        if gate:
            # A gate failing outside the engine has no class yet; the receipt classifies it from the registry.
            _record(state, state.rows, gate.group("id"), GATE_PROPERTY, report, None)

    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        """Note when each test started (dates the result of a test whose xdist worker crashes)."""
        if not self.state.is_worker:
            self.state.test_starts[nodeid] = time.time()

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Start the run clock and describe the run in the Allure results folder."""
        self.state.started = time.time()
        _write_allure_run_files(self.config, self.state)

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """Scrub registered secrets from files other plugins wrote (Allure results, JUnit XML) as a last guard."""
        if self.state.is_worker:
            return
        allure_dir = getattr(config.option, "allure_report_dir", None)
        if allure_dir:
            scrub_tree(allure_dir)
        xml = getattr(config.option, "xmlpath", None)
        if xml and Path(xml).is_file() and REDACTOR.contains_secret(Path(xml).read_text(errors="replace")):
            Path(xml).write_text(REDACTOR.mask(Path(xml).read_text(errors="replace")))

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Write the run receipt once (on the controller) and apply a blocking budget overrun."""
        state = self.state
        workeroutput = getattr(self.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput["infracore_secrets"] = REDACTOR.values()
        if (
            state.is_worker
            or state.plan is None
            or not (state.rows or state.selected_ids or state.probe_rows or state.recovery_rows)
        ):
            return
        plan = state.plan
        receipt = _build_receipt(self.config, plan, state, time.time(), exitstatus)
        blocking = bool(self.config.getoption("budget_blocking") or self.config.getini("infracore_budget_blocking"))
        if receipt["budget"]["exceeded"] and blocking and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        receipt["budget"]["blocking"] = blocking
        receipt["exit_status"] = int(session.exitstatus)
        receipts_dir = _reports_dir(self.config) / "receipts"
        drift_reports = []
        for row in receipt["probes"]:
            drift = row.pop("drift", None)
            if isinstance(drift, dict):
                drift_reports.append(str(write_drift_report(drift, receipts_dir, state.run_key)))
        receipt["drift_reports"] = drift_reports
        state.receipt = receipt
        state.receipt_path = write_receipt(receipts_dir, state.run_key, receipt)


def _record(
    state: SuiteState,
    rows: dict[str, dict[str, Any]],
    item_id: str,
    prop: str,
    report: pytest.TestReport,
    default_class: str | None,
) -> None:
    """Keep a gate's or probe's row from its report; a failure outside its runner still gets a row."""
    key = item_id if rows is state.rows else f"probe:{item_id}"
    state.durations[key] = state.durations.get(key, 0.0) + report.duration
    for name, value in report.user_properties:
        if name == prop:
            rows[item_id] = json.loads(str(value))
    row = rows.get(item_id)
    if report.failed and (row is None or row["verdict"] != "fail"):
        # Failed outside the engine or the probe runner: a timeout, a crashed worker, a setup or teardown error.
        lines = str(report.longreprtext).strip().splitlines()
        rows[item_id] = {
            "id": item_id,
            "verdict": "fail",
            **({"implementation": row.get("implementation")} if row and "implementation" in row else {}),
            "failure_class": (row or {}).get("failure_class") or default_class,
            "message": f"{item_id} FAIL ({report.when}): {lines[-1] if lines else 'no detail'}",
        }
    elif report.skipped and row is None:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        rows[item_id] = {"id": item_id, "verdict": "skip", "failure_class": None, "message": reason}


def _build_receipt(
    config: pytest.Config, plan: GatePlan, state: SuiteState, finished: float, exitstatus: int
) -> dict[str, Any]:
    selected = state.selected_ids if state.selected_ids is not None else list(plan.selection.gate_ids)
    probes = []
    for probe_id in state.selected_probes or list(state.probe_rows):
        row = dict(state.probe_rows.get(probe_id) or {"id": probe_id, "verdict": "not-run", "message": "not run"})
        row["duration_seconds"] = round(state.durations.get(f"probe:{probe_id}", 0.0), 4)
        probes.append(row)
    selection = plan.selection
    if not plan.explicit:
        if selected and set(selected) == set(plan.fast_ids):
            selection = Selection("fast", tuple(selected), plan.profiles.fast_ring, "fast markers (-m fast)")
        else:
            ring = _widest_ring(selected, plan.registry, plan.budgets)
            selection = Selection("custom", tuple(selected), ring, "collected gates (-m/-k or paths)")
    gates = []
    for gate_id in selected:
        row = dict(state.rows.get(gate_id) or {"id": gate_id, "verdict": "not-run", "message": "not run"})
        if row["verdict"] == "fail" and not row.get("failure_class"):
            gate = plan.registry.by_id.get(gate_id)
            row["failure_class"] = plan.classifier.classify(gate, False) if gate else "gate_bug"
        row["duration_seconds"] = round(state.durations.get(gate_id, 0.0), 4)
        gates.append(row)
    verdicts = [g["verdict"] for g in gates]
    failing = [g["id"] for g in gates if g["verdict"] == "fail"]
    classes = {
        c: sum(1 for g in gates if g.get("failure_class") == c and g["verdict"] == "fail")
        for c in ("deterministic", "freshness", "gate_bug")
    }
    elapsed = finished - state.started
    budget_seconds = plan.budgets.get(selection.ring, plan.budgets["deep"])
    env_doc = plan.contracts.environment(state.env_name)
    env_kind = env_doc.data.get("kind") if env_doc.ok else None
    totals = {
        "total": len(gates),
        "pass": verdicts.count("pass"),
        "fail": verdicts.count("fail"),
        "skipped": verdicts.count("skip"),
        "not_run": verdicts.count("not-run"),
        "waived": verdicts.count("waived"),
    }
    line = f"total={totals['total']} pass={totals['pass']} fail={totals['fail']}"
    if totals["waived"]:
        line += f" waived={totals['waived']}"
    waivers = [entry for g in gates for entry in g.get("waivers") or []]
    return {
        "run_key": state.run_key,
        "suite": {"name": "infracore-verify", "version": __version__},
        "started_utc": utc_iso(state.started),
        "finished_utc": utc_iso(finished),
        "elapsed_seconds": round(elapsed, 3),
        "environment": {
            "name": state.env_name,
            "kind": env_kind,
            "sandbox": env_kind == "sandbox",
            "label": _env_label(state.env_name, env_kind),
        },
        "contracts": {
            "path": str(plan.contracts.path),
            "layout": plan.contracts.layout,
            "files": plan.contracts.fingerprint(),
            "sha256": contracts_digest(plan.contracts),
        },
        "git_revision": git_revision(plan.contracts.root),
        "selection": {
            "profile": selection.profile,
            "ring": selection.ring,
            "source": selection.source,
            "requested": {
                "gate": _requested_ids(config),
                "profile": config.getoption("profile"),
                "domain": config.getoption("domain"),
                "markexpr": config.getoption("markexpr") or None,
            },
            "gate_ids": list(selected),
        },
        "gates": gates,
        "probes": probes,
        "recoveries": list(state.recovery_rows.values()),
        "probe_totals": {
            "total": len(probes),
            "pass": sum(1 for p in probes if p["verdict"] == "pass"),
            "fail": sum(1 for p in probes if p["verdict"] == "fail"),
            "skipped": sum(1 for p in probes if p["verdict"] == "skip"),
        },
        "totals": {**totals, "line": line},
        "failing_gate_ids": failing,
        "waivers": waivers,
        "failure_class": classes,
        "budget": {
            "ring": selection.ring,
            "budget_seconds": budget_seconds,
            "elapsed_seconds": round(elapsed, 3),
            "exceeded": elapsed > budget_seconds,
            "delta_seconds": round(elapsed - budget_seconds, 3),
        },
        "exit_status": exitstatus,
    }


def _env_label(name: str, kind: str | None) -> str:
    if kind == "sandbox":
        return f"{name}: built-in sandbox emulation on 127.0.0.1 (not real infrastructure)"
    if kind is None:
        return f"{name}: environment file does not load"
    return f"{name}: {kind}"


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say which contracts and environment the run uses (and that the sandbox is the sandbox)."""
    state = config.stash.get(STATE, None)
    if state is None or state.is_worker:
        return []
    if state.plan is None:
        return [f"infracore-verify {__version__}: no gate can run: {state.plan_error}"]
    contracts = state.plan.contracts
    env_doc = contracts.environment(state.env_name)
    kind = env_doc.data.get("kind") if env_doc.ok else None
    return [
        f"infracore-verify {__version__}: contracts {contracts.path} ({contracts.layout} layout)",
        f"environment: {_env_label(state.env_name, kind)}",
        f"run key: {state.run_key}",
    ]


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Print the ops-style totals, failure classes and budget, ending with the run key and receipt path."""
    state = config.stash.get(STATE, None)
    if state is None or state.receipt is None:
        return
    r = state.receipt
    tr = terminalreporter
    tr.section("infracore-verify")
    tr.write_line(f"environment: {r['environment']['label']}")
    sel = r["selection"]
    if sel["gate_ids"]:
        tr.write_line(
            f"selection: profile={sel['profile']} ring={sel['ring']} gates={len(sel['gate_ids'])} source={sel['source']}"
        )
        tr.write_line(f"wrapper: {r['totals']['line']}")
        tr.write_line("failing_gate_ids: " + (" ".join(r["failing_gate_ids"]) or "none"))
        fc = r["failure_class"]
        tr.write_line(
            f"failure_class: deterministic={fc['deterministic']} freshness={fc['freshness']} gate_bug={fc['gate_bug']}"
        )
    if r["probes"]:
        pt = r["probe_totals"]
        failing = [f"{p['id']}({p.get('failure_class')})" for p in r["probes"] if p["verdict"] == "fail"]
        tr.write_line(f"smoke: total={pt['total']} pass={pt['pass']} fail={pt['fail']} skipped={pt['skipped']}")
        tr.write_line("failing_probes: " + (" ".join(failing) or "none"))
    if r["waivers"]:
        counts = waiver_summary(r["waivers"])
        tr.write_line("waivers: " + " ".join(f"{k}={v}" for k, v in counts.items()))
        for w in r["waivers"]:
            tr.write_line(
                f"    {w['gate']} {w['gap']}: {w['status']} (owner {w['owner'] or 'unassigned'}, "
                f"review by {w['review_by'] or 'not set'})"
            )
    for row in r["recoveries"]:
        mark = " ESCALATED" if row.get("escalated") else ""
        tr.write_line(
            f"recovery {row['id']}: {row['result']}{mark} (trigger {row.get('trigger')}) {row.get('detail', '')}".rstrip()
        )
        if row.get("escalation_alert"):
            tr.write_line(f"    escalation alert: {row['escalation_alert']}")
        for command in row.get("commands", []):
            tr.write_line(f"    {'would run' if row['result'] == 'dry-run' else 'ran'}: {command}")
    b = r["budget"]
    status = "EXCEEDED" if b["exceeded"] else "ok"
    tr.write_line(
        f"budget: {status} (ring={b['ring']} elapsed={b['elapsed_seconds']:.2f}s budget={b['budget_seconds']}s "
        f"delta={b['delta_seconds']:+.2f}s)"
    )
    tr.write_line(f"Run Key: {state.run_key}")
    tr.write_line(f"Receipt: {state.receipt_path}")
