"""pytest wiring for the smoke layer: environment, sandbox, credentials, clients and the probe runner.

Fixtures are layered and overridable (STYLE 5): session-scoped factories (`make_client`) over small
config fixtures (`infracore_environment`, `system_base_urls`, `system_limits`, `credential_resolver`).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from infracore_verify.clients.credentials import CredentialError, CredentialResolver, references, split_secret_path
from infracore_verify.clients.http import ApiClientError, Limits
from infracore_verify.contracts.findings import did_you_mean, render_all
from infracore_verify.contracts.model import SYSTEMS, mapping
from infracore_verify.contracts.sets import Contracts
from infracore_verify.plugin.core import PROBE_PROPERTY, STATE
from infracore_verify.reporting import allure as report
from infracore_verify.smoke.probes import ProbeContext, ProbeOutcome, ProbeSetupError, Slo
from infracore_verify.smoke.registry import Probe, load_probes
from infracore_verify.smoke.runner import SmokeRunner

ProbeRun = Callable[[Probe], ProbeOutcome]


@dataclass(frozen=True)
class Environment:
    """The selected environment file: name, kind (sandbox or deployment), data and where it lives."""

    name: str
    kind: str
    data: dict[str, Any]
    display: str

    @property
    def is_sandbox(self) -> bool:
        """Return True for the built-in sandbox (always labelled as such)."""
        return self.kind == "sandbox"


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


def _contracts(config: pytest.Config) -> Contracts | None:
    plan = config.stash[STATE].plan
    return plan.contracts if plan is not None else None


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
    contracts = _contracts(config)
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
    contracts = _contracts(metafunc.config)
    probes, problems = load_probes(contracts) if contracts is not None else ([], [])
    if contracts is None or problems:
        metafunc.parametrize("probe", [pytest.param(None, id="contracts")])
        return
    wanted = _requested_probes(metafunc.config)
    links = metafunc.config.stash[STATE].links
    params = [
        pytest.param(
            p,
            id=p.id,
            marks=[pytest.mark.smoke, getattr(pytest.mark, p.system), *report.probe_marks(p, links)],
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


@pytest.fixture(scope="session")
def infracore_environment(pytestconfig: pytest.Config) -> Environment:
    """Returns the selected environment file (`--env`, default sandbox)."""
    state = pytestconfig.stash[STATE]
    contracts = _contracts(pytestconfig)
    if contracts is None:
        pytest.fail(f"no environment can be loaded: {state.plan_error}", pytrace=False)
    doc = contracts.environment(state.env_name)
    if not doc.ok:
        pytest.fail(render_all(doc.errors), pytrace=False)
    return Environment(state.env_name, str(doc.data.get("kind")), dict(doc.data), doc.display)


@pytest.fixture(scope="session")
def sandbox(pytestconfig: pytest.Config, infracore_environment: Environment) -> Iterator[Any]:
    """Starts the built-in sandbox on 127.0.0.1 when the environment is the sandbox (else yields None)."""
    if not infracore_environment.is_sandbox:
        yield None
        return
    from infracore_verify.sandbox import Sandbox, SandboxError, SandboxSeed, parse_fault_spec

    contracts = _contracts(pytestconfig)
    try:
        seed = SandboxSeed.from_contracts(contracts.path) if contracts is not None else SandboxSeed.default()
        box = Sandbox(seed=seed)
        box.start()
    except SandboxError as exc:
        pytest.fail(f"the sandbox cannot start: {exc}", pytrace=False)
    try:
        for spec in pytestconfig.getoption("sandbox_fault") or []:
            box.inject(parse_fault_spec(spec))
        for system in pytestconfig.getoption("sandbox_unhealthy") or []:
            box.set_healthy(system, False)
        yield box
    finally:
        try:
            box.stop()
        except SandboxError as exc:
            warnings.warn(f"the sandbox did not stop cleanly: {exc}", stacklevel=1)


@pytest.fixture(scope="session")
def system_base_urls(infracore_environment: Environment, sandbox: Any) -> dict[str, str]:
    """Returns each system's base URL: the sandbox's ephemeral 127.0.0.1 ports, or the environment's URLs."""
    urls: dict[str, str] = {}
    for system, entry in mapping(infracore_environment.data.get("systems")).items():
        base = str(mapping(entry).get("base_url") or "")
        urls[str(system)] = sandbox.base_urls[system] if base == "sandbox" and sandbox is not None else base
    return urls


@pytest.fixture(scope="session")
def system_limits(infracore_environment: Environment) -> dict[str, Limits]:
    """Returns each system's client limits from the environment file (defaults where absent)."""
    return {
        str(system): Limits.from_mapping(mapping(entry).get("limits"))
        for system, entry in mapping(infracore_environment.data.get("systems")).items()
    }


def _sandbox_environ(env: Environment, sandbox: Any) -> dict[str, str]:
    # The sandbox accepts exactly the values it generated; the operator's own variables never leak in.
    values: dict[str, str] = {}
    for ref in references(env.data):
        value = sandbox.credentials.get(ref.system, {}).get(ref.name)
        if ref.env and value:
            values[ref.env] = value
    identity = mapping(mapping(env.data.get("credential_source")).get("identity"))
    for name, ref in identity.items():
        env_name = mapping(ref).get("env")
        value = sandbox.credentials.get("infisical", {}).get(str(name))
        if env_name and value:
            values[str(env_name)] = value
    return values


@pytest.fixture(scope="session")
def credential_resolver(
    infracore_environment: Environment, sandbox: Any, system_base_urls: dict[str, str], system_limits: dict[str, Limits]
) -> CredentialResolver:
    """Returns the resolver of the environment's credentials (env variables, or Infisical as the source)."""
    env = infracore_environment
    environ: dict[str, str] = _sandbox_environ(env, sandbox) if sandbox is not None else dict(os.environ)
    source = mapping(env.data.get("credential_source"))
    fetch = None
    if source.get("type") == "infisical":
        from infracore_verify.clients.infisical import InfisicalClient

        identity = mapping(source.get("identity"))
        ident_env = {k: str(mapping(v).get("env") or "") for k, v in identity.items()}
        base_url = str(source.get("base_url") or system_base_urls.get(str(source.get("system") or "infisical"), ""))

        def fetch(folder: str, keys: list[str]) -> dict[str, str]:
            if "<" in base_url or ">" in base_url or not base_url:
                raise CredentialError(f"credential_source points at {base_url!r}, not a real Infisical URL; set it")
            client_id, client_secret = (
                environ.get(ident_env.get("client_id", "")),
                environ.get(ident_env.get("client_secret", "")),
            )
            if not client_id or not client_secret:
                raise CredentialError(
                    f"credential_source.identity needs environment variables {ident_env.get('client_id')} and "
                    f"{ident_env.get('client_secret')}"
                )
            client = InfisicalClient(
                base_url, client_id=client_id, client_secret=client_secret, limits=system_limits.get("infisical")
            )
            return client.fetch_secrets(
                str(source.get("project_id")), str(source.get("environment") or "prod"), folder, keys
            )

    return CredentialResolver(env.data, environ, env.display, fetch)


CLIENT_CREDENTIALS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # system: (required credential names, optional ones)
    "cloudflare": ((), ("api_token", "api_email", "api_key", "account_id")),
    "vaultwarden": ((), ("client_id", "client_secret")),
    "infisical": (("client_id", "client_secret"), ("project_id",)),
    "authentik": (("api_token",), ()),
}


@pytest.fixture(scope="session")
def make_client(
    system_base_urls: dict[str, str], system_limits: dict[str, Limits], credential_resolver: CredentialResolver
) -> Iterator[Callable[[str], Any]]:
    """Returns `make_client(system)`: the system's authenticated client, built once per session."""
    from infracore_verify.clients.authentik import AuthentikClient
    from infracore_verify.clients.cloudflare import CloudflareClient
    from infracore_verify.clients.infisical import InfisicalClient
    from infracore_verify.clients.vaultwarden import VaultwardenClient

    classes: dict[str, Any] = {
        "cloudflare": CloudflareClient,
        "vaultwarden": VaultwardenClient,
        "infisical": InfisicalClient,
        "authentik": AuthentikClient,
    }
    built: dict[str, Any] = {}

    def make(system: str) -> Any:
        if system in built:
            return built[system]
        if system not in classes or not system_base_urls.get(system):
            raise ProbeSetupError(f"the environment has no base_url for {system}")
        if "<" in system_base_urls[system] or ">" in system_base_urls[system]:
            # A template value: never send it to a resolver.
            raise ProbeSetupError(
                f"systems.{system}.base_url is still the placeholder {system_base_urls[system]!r}; set the real URL"
            )
        required, optional = CLIENT_CREDENTIALS[system]
        try:
            creds = credential_resolver.require(system, *required)
        except CredentialError as exc:
            raise ProbeSetupError(str(exc)) from None
        values = credential_resolver.values(system)
        creds.update({k: values[k] for k in optional if k in values and k != "project_id"})
        try:
            client = classes[system](system_base_urls[system], limits=system_limits.get(system), **creds)
        except ApiClientError as exc:
            # Say why the optional credentials were not there (an unset variable, a failed Infisical fetch).
            why = "; ".join(f"{name}: {text}" for name, text in credential_resolver.problems(system).items())
            raise ProbeSetupError(f"{exc}" + (f" ({why})" if why else "")) from None
        built[system] = client
        return client

    yield make
    for client in built.values():
        client.close()


def _probe_settings(env: Environment, resolver: CredentialResolver, contracts: Contracts) -> dict[str, Any]:
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
    contracts = _contracts(pytestconfig)
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
        if outcome.verdict == "fail":
            pytest.fail(outcome.message, pytrace=False)
        return outcome

    return run
