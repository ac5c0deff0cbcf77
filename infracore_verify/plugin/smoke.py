"""Smoke probes as tests: the smoke options, probe parametrization, the probe runner and `run_probe`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from infracore_verify.contracts.findings import did_you_mean, render_all
from infracore_verify.contracts.model import SYSTEMS, mapping
from infracore_verify.contracts.sets import Contracts
from infracore_verify.contracts.verdict import Verdict
from infracore_verify.plugin.fixtures import Environment
from infracore_verify.plugin.state import PROBE_PROPERTY, STATE, contracts_of, item_mark
from infracore_verify.reporting import allure as report
from infracore_verify.smoke.registry import Probe, load_probes

if TYPE_CHECKING:
    # The probes and clients (requests) load when a probe first runs: a gates-only run never does.
    from infracore_verify.clients.credentials import CredentialResolver
    from infracore_verify.clients.http import Limits
    from infracore_verify.smoke.probes import ProbeOutcome
    from infracore_verify.smoke.runner import SmokeRunner

ProbeRun = Callable[[Probe], "ProbeOutcome"]


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the smoke options to the suite's option group."""
    group = parser.getgroup("infracore-verify", "infra-core verification")
    group.addoption(
        "--probe",
        action="append",
        default=[],
        metavar="ID",
        help="Run only these smoke probes (repeatable, comma lists allowed)",
    )
    group.addoption(
        "--sandbox-fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="Inject a fault into the sandbox: SYSTEM:KIND[=ARG][@[METHOD:]PATH][xTIMES] (repeatable)",
    )
    group.addoption(
        "--sandbox-unhealthy",
        action="append",
        default=[],
        metavar="SYSTEM",
        choices=SYSTEMS,
        help="Start the sandbox with this system unhealthy (its health endpoints fail until restarted)",
    )


def _requested_probes(config: pytest.Config) -> list[str]:
    return list(
        dict.fromkeys(
            p.strip() for value in config.getoption("probe") or [] for p in str(value).split(",") if p.strip()
        )
    )


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Register the system markers and validate --probe and --sandbox-fault before anything runs."""
    for system in SYSTEMS:
        config.addinivalue_line("markers", f"{system}: smoke probes and gates of {system}")
    for spec in config.getoption("sandbox_fault") or []:
        from infracore_verify.sandbox import parse_fault_spec

        try:
            parse_fault_spec(spec)
        except ValueError as exc:
            raise pytest.UsageError(f"--sandbox-fault {spec}: {exc}") from None
    wanted = _requested_probes(config)
    contracts = contracts_of(config)
    if wanted and contracts is not None:
        probes, problems = load_probes(contracts)
        if problems:
            raise pytest.UsageError("cannot select probes; these contracts do not load:\n" + render_all(problems))
        known = [p.id for p in probes]
        for probe_id in wanted:
            if probe_id not in known:
                raise pytest.UsageError(
                    f"--probe {probe_id}: no such smoke probe{did_you_mean(probe_id, known)}; known: {', '.join(known)}"
                )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize `probe` with one test per smoke capability of the baseline contract (id = capability id)."""
    if "probe" not in metafunc.fixturenames:
        return
    contracts = contracts_of(metafunc.config)
    probes, problems = load_probes(contracts) if contracts is not None else ([], [])
    if contracts is None or problems:
        metafunc.parametrize("probe", [pytest.param(None, id="contracts", marks=item_mark("probe", "contracts"))])
        return
    wanted = _requested_probes(metafunc.config)
    links = metafunc.config.stash[STATE].links
    params = [
        pytest.param(
            p,
            id=p.id,
            marks=[
                pytest.mark.smoke,
                item_mark("probe", p.id),
                getattr(pytest.mark, p.system),
                *report.probe_marks(p, links),
            ],
        )
        for p in probes
        if not wanted or p.id in wanted
    ]
    metafunc.parametrize("probe", params)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep the layers apart: --gate/--profile/--domain run only gates, --probe runs only probes."""
    gates_asked = bool(config.getoption("gate") or config.getoption("profile") or config.getoption("domain"))
    probes_asked = bool(config.getoption("probe"))
    if gates_asked == probes_asked:
        return
    drop_fixture = "probe" if gates_asked else "gate"
    keep = [item for item in items if drop_fixture not in getattr(item, "fixturenames", ())]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in keep])
        items[:] = keep


def _probe_settings(env: Environment, resolver: CredentialResolver, contracts: Contracts) -> dict[str, Any]:
    from infracore_verify.clients.credentials import references, split_secret_path

    source = mapping(env.data.get("credential_source"))
    settings: dict[str, Any] = {
        "infisical_project_id": resolver.values("infisical").get("project_id"),
        "contracts": contracts,
        "environment": env.name,
        "sandbox": env.is_sandbox,
    }
    if source.get("type") == "infisical":
        path = str(source.get("path") or "/")
        settings.update(
            infisical_environment=str(source.get("environment") or "prod"),
            infisical_path=path,
            infisical_required_keys=[
                split_secret_path(str(r.secret))[1]
                for r in references(env.data)
                if r.secret and split_secret_path(str(r.secret))[0] == path
            ],
        )
    return settings


@pytest.fixture(scope="session")
def smoke_runner(
    pytestconfig: pytest.Config,
    infracore_environment: Environment,
    make_client: Callable[[str], Any],
    credential_resolver: CredentialResolver,
    system_limits: dict[str, Limits],
) -> Iterator[SmokeRunner]:
    """Returns the run's probe runner: probes run concurrently, bounded per system, each probe once."""
    from infracore_verify.clients.http import Limits
    from infracore_verify.smoke.probes import ProbeContext, Slo
    from infracore_verify.smoke.runner import SmokeRunner

    contracts = contracts_of(pytestconfig)
    assert contracts is not None  # infracore_environment failed otherwise
    probes, _ = load_probes(contracts)
    slo_doc = contracts.doc("slo")
    inventory_doc = contracts.doc("inventory")
    settings = _probe_settings(infracore_environment, credential_resolver, contracts)
    slo = Slo.from_data(slo_doc.data if slo_doc.ok else {})
    runner = SmokeRunner(
        probes,
        lambda probe: ProbeContext(make_client, inventory_doc.data if inventory_doc.ok else {}, settings),
        slo,
        lambda system: system_limits.get(system, Limits()),
    )
    yield runner
    runner.close()


@pytest.fixture
def run_probe(
    request: pytest.FixtureRequest, smoke_runner: SmokeRunner, infracore_environment: Environment
) -> ProbeRun:
    """Runs a smoke probe (all selected probes start together on first use) and fails with its diagnosis."""
    if not hasattr(request.config, "workerinput") and not smoke_runner.session_submitted:
        # Serial run: start every selected probe once, so the run lasts about as long as the slowest one.
        smoke_runner.session_submitted = True
        smoke_runner.submit(
            item.callspec.params["probe"].id
            for item in request.session.items
            if hasattr(item, "callspec") and isinstance(item.callspec.params.get("probe"), Probe)
        )

    def run(probe: Probe) -> ProbeOutcome:
        if probe is None:
            pytest.fail("no probe can run: the baseline contract or capabilities.yaml does not load", pytrace=False)
        outcome = smoke_runner.outcome(probe.id)
        target = "sandbox" if infracore_environment.is_sandbox else infracore_environment.name
        row: dict[str, Any] = {**outcome.row(), "environment": target}
        if isinstance(outcome.details.get("drift"), dict):
            row["drift"] = outcome.details["drift"]  # written beside the receipt by the controller
        request.node.user_properties.append((PROBE_PROPERTY, json.dumps(row, default=str)))
        report.title(f"{probe.id} [{target}]")
        report.label("environment", target)
        if outcome.failure_class:
            report.label("failure_class", outcome.failure_class)
        if outcome.exchanges:
            report.attach_text("http exchanges (redacted)", outcome.exchanges_text(), extension="json")
        drift = outcome.details.get("drift")
        if isinstance(drift, dict):
            report.attach_text("drift matrix", str(drift.get("markdown", "")))
            report.attach_text(
                "drift matrix (json)", json.dumps(drift.get("json", drift), default=str), extension="json"
            )
        for warning in outcome.warnings:
            request.node.warn(pytest.PytestWarning(f"{probe.id}: {warning}"))
        if outcome.verdict == Verdict.FAIL:
            pytest.fail(outcome.message, pytrace=False)
        return outcome

    return run
