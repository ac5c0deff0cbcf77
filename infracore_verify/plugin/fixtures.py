"""The environment fixtures: the selected environment, the sandbox, base URLs, limits, credentials, clients.

Fixtures are layered and overridable (STYLE 5): session-scoped factories (`make_client`) over small
config fixtures (`infracore_environment`, `system_base_urls`, `system_limits`, `credential_resolver`).

Infisical: every login mints a token, uses up one `numUsesLimit` use and writes an audit entry, so the session
holds one Infisical client per (base URL, identity) (`make_infisical_client`), shared by the credential source,
`make_client("infisical")` (so every test module, probe and live gate) and the auth probe: a run logs in once.
Under pytest-xdist each worker is its own session and logs in once (`-n 2`: two logins); a run without xdist
logs in exactly once.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from infracore_verify.contracts.findings import render_all
from infracore_verify.contracts.model import mapping
from infracore_verify.plugin.state import STATE, contracts_of
from infracore_verify.redact import HiddenEnviron

if TYPE_CHECKING:
    # The clients (requests) load when a fixture first needs them: a gates-only run never does.
    from infracore_verify.clients.credentials import CredentialResolver
    from infracore_verify.clients.http import Limits


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


@pytest.fixture(scope="session")
def infracore_environment(pytestconfig: pytest.Config) -> Environment:
    """Returns the selected environment file (`--env`, default sandbox)."""
    state = pytestconfig.stash[STATE]
    contracts = contracts_of(pytestconfig)
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

    contracts = contracts_of(pytestconfig)
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
    from infracore_verify.clients.http import Limits

    return {
        str(system): Limits.from_mapping(mapping(entry).get("limits"))
        for system, entry in mapping(infracore_environment.data.get("systems")).items()
    }


def _sandbox_environ(env: Environment, sandbox: Any) -> dict[str, str]:
    from infracore_verify.clients.credentials import references

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


MakeInfisicalClient = Callable[[str, str, str], Any]
"""make_infisical_client(base_url, client_id, client_secret) -> the session's InfisicalClient for that identity."""


@pytest.fixture(scope="session")
def make_infisical_client(system_limits: dict[str, Limits]) -> Iterator[MakeInfisicalClient]:
    """Returns `make_infisical_client(base_url, client_id, client_secret)`: one client (one login) per identity."""
    from infracore_verify.clients.infisical import InfisicalClient

    built: dict[tuple[str, str, str], InfisicalClient] = {}

    def make(base_url: str, client_id: str, client_secret: str) -> InfisicalClient:
        key = (base_url.rstrip("/"), client_id, client_secret)
        if key not in built:
            built[key] = InfisicalClient(
                base_url, client_id=client_id, client_secret=client_secret, limits=system_limits.get("infisical")
            )
        return built[key]

    yield make
    for client in built.values():
        client.close()


@pytest.fixture(scope="session")
def credential_resolver(
    infracore_environment: Environment,
    sandbox: Any,
    system_base_urls: dict[str, str],
    make_infisical_client: MakeInfisicalClient,
) -> CredentialResolver:
    """Returns the resolver of the environment's credentials (env variables, or Infisical as the source)."""
    from infracore_verify.clients.credentials import CredentialError, CredentialResolver

    env = infracore_environment
    # The process environment is read through a mapping whose repr hides it (--showlocals), never copied.
    environ: Mapping[str, str] = _sandbox_environ(env, sandbox) if sandbox is not None else HiddenEnviron()
    source = mapping(env.data.get("credential_source"))
    fetch = None
    if source.get("type") == "infisical":
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
            client = make_infisical_client(base_url, client_id, client_secret)
            values: dict[str, str] = client.fetch_secrets(
                str(source.get("project_id")), str(source.get("environment") or "prod"), folder, keys
            )
            return values

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
    system_base_urls: dict[str, str],
    system_limits: dict[str, Limits],
    credential_resolver: CredentialResolver,
    make_infisical_client: MakeInfisicalClient,
) -> Iterator[Callable[[str], Any]]:
    """Returns `make_client(system)`: the system's authenticated client, built once per session.

    The Infisical client is the session's shared one for its identity (the credential source's too), so the
    run logs in to Infisical once.
    """
    from infracore_verify.clients.authentik import AuthentikClient
    from infracore_verify.clients.cloudflare import CloudflareClient
    from infracore_verify.clients.credentials import CredentialError
    from infracore_verify.clients.http import ApiClientError
    from infracore_verify.clients.infisical import InfisicalClient
    from infracore_verify.clients.vaultwarden import VaultwardenClient
    from infracore_verify.smoke.context import ProbeSetupError

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
            if system == "infisical":
                client = make_infisical_client(system_base_urls[system], creds["client_id"], creds["client_secret"])
            else:
                client = classes[system](system_base_urls[system], limits=system_limits.get(system), **creds)
        except ApiClientError as exc:
            # Say why the optional credentials were not there (an unset variable, a failed Infisical fetch).
            why = "; ".join(f"{name}: {text}" for name, text in credential_resolver.problems(system).items())
            raise ProbeSetupError(f"{exc}" + (f" ({why})" if why else "")) from None
        built[system] = client
        return client

    yield make
    for name, client in built.items():
        if name != "infisical":  # make_infisical_client closes the shared one
            client.close()
