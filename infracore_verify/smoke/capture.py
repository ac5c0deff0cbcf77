"""Forensic capture: the live state of the four systems, read-only, as a dated YAML baseline (pytest-free).

`capture(clients, environment=..., is_sandbox=...)` reads each system through its client and returns::

    format: 1
    captured_at: "2026-11-26T14:52:23Z"          # UTC
    environment: sandbox
    sandbox: true
    systems:
      cloudflare:
        zones: [example.com, ...]                                    # sorted names
        dns_records: {example.com: ["A example.com 192.0.2.10", ...]}  # "TYPE name content", sorted
        tunnels: {infra-core: {id: ..., ingress: [vault.example.com, ...]}}  # live tunnels; ingress hostnames
                                                                     # in rule order (the catch-all has none)
        registrar: [example.com, ...]                                # registrar domain names, sorted
      vaultwarden: {version: "1.37.2", server_version: "2026.6.0"}   # /api/version and /api/config version
      infisical:
        status: Ok                                                   # /api/status message
        secret_scope: {environment: prod, path: /}                   # what was listed (recursively)
        secret_keys: {/: [LOG_LEVEL, ...], /infra-core: [...]}       # KEY NAMES ONLY, per folder, sorted
      authentik:
        version: "2026.2.2"
        outposts: [authentik Embedded Outpost, ...]                  # sorted names
        outpost_instances: {infra-core-ldap: 1, ...}                 # connected instances (health entries)
    errors:                                                          # one entry per failed call, never a crash
      - {system: vaultwarden, attribute: versions, call: GET /api/version, class: network_error, message: ...}

A key is absent when its call failed (the failure is in `errors`); a system is absent when its client could not
be built (class `setup_error`); a system that does not answer at all is not asked again (its other reads are
recorded as "not sent"). Only GET requests are sent, plus the Infisical universal-auth login that the
listing needs; secrets are listed with `viewSecretValue=false` and only their key names and folders are kept, so
a capture never holds a secret value. `write_baseline` writes `baseline-<YYYYmmdd-HHMMSS>Z.yaml` (sorted keys,
block style, registered secrets masked as a last line of defence; `-2`, `-3`... is appended rather than
overwriting an earlier baseline of the same second).

Command line (read-only; exit 0 when complete, 1 when written with errors, 2 on bad input)::

    python -m infracore_verify.smoke.capture --env sandbox [--contracts PATH] [--out DIR]

It builds the clients the way the pytest plugin does (environment file, credential references, limits) and, for
`--env sandbox`, starts the built-in sandbox in-process seeded from the contracts. It prints the baseline's path.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from infracore_verify.clients.http import ApiClientError, ApiError, ApiResult, Limits, MissingSettingError, PagedResult
from infracore_verify.contracts.model import SYSTEMS, as_list, mapping
from infracore_verify.redact import REDACTOR

FORMAT = 1
"""Version of the baseline layout above."""
DEFAULT_OUT = Path("reports") / "baselines"
BASELINE_PREFIX = "baseline-"

Clients = Callable[[str], Any]
"""clients(system) -> the system's client; may raise (the failure is recorded as a setup_error)."""
Recorder = Callable[[ApiResult | PagedResult], None]
"""Called with every result the capture receives (a probe keeps the redacted exchanges for its report)."""
Clock = Callable[[], dt.datetime]
FAILED: Any = object()
"""What `_Reader.get` returns for a failed read (a successful read may return None: an empty body)."""


def utc_now() -> dt.datetime:
    """Return the current time in UTC."""
    return dt.datetime.now(dt.UTC)


class _Errors:
    """Collects the failed calls of one capture as plain mappings (class and masked message)."""

    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, system: str, attribute: str, call: str, failure_class: str, message: str) -> None:
        self.items.append(
            {
                "system": system,
                "attribute": attribute,
                "call": call,
                "class": failure_class,
                "message": REDACTOR.mask(" ".join(message.split()))[:500],
            }
        )

    def result(self, system: str, attribute: str, call: str, result: ApiResult | PagedResult) -> None:
        failed = result.failure if isinstance(result, PagedResult) else result
        failure_class = (failed.failure_class if failed is not None else None) or "api_error"
        self.add(system, attribute, call, failure_class, result.describe())

    def exception(self, system: str, attribute: str, call: str, exc: BaseException) -> None:
        self.add(system, attribute, call, error_class(exc), f"{type(exc).__name__}: {exc}")


def error_class(exc: BaseException) -> str:
    """Return the failure class of an exception raised while capturing."""
    if isinstance(exc, ApiError):
        return exc.result.failure_class or "api_error"
    if isinstance(exc, MissingSettingError) or type(exc).__name__ in ("ProbeSetupError", "CredentialError"):
        return "setup_error"
    if isinstance(exc, ApiClientError):
        return "api_error"
    return "internal_error"


class _Reader:
    """Runs the reads of one system, recording each failure (result or exception) instead of raising.

    After a read got no response at all (network_error, timeout), the system's remaining reads are not sent:
    they are recorded with the same class, so an unreachable system costs one bounded retry loop, not one per read.
    Vaultwarden and Authentik start with their one-attempt liveness read (`/alive`, `/-/health/live/`), so an
    unreachable one costs a single attempt.
    """

    NO_RESPONSE = frozenset({"network_error", "timeout"})

    def __init__(self, system: str, errors: _Errors, record: Recorder | None) -> None:
        self.system = system
        self.errors = errors
        self.record = record
        self.unreachable: tuple[str, str] | None = None
        """(call, class) of the read that got no response."""

    @contextmanager
    def guard(self, attribute: str, call: str) -> Iterator[None]:
        """Record any exception of the block as a failed call."""
        try:
            yield
        except Exception as exc:  # a capture never crashes: every failure becomes an errors entry
            self.errors.exception(self.system, attribute, call, exc)

    def reachable(self, call: str, fetch: Callable[[], ApiResult]) -> None:
        """Send a one-attempt liveness read; when it gets no response, the system's reads are not sent."""
        try:
            result = fetch()
        except Exception:  # the reads that follow record whatever is wrong with the client
            return
        if self.record is not None:
            self.record(result)
        if result.failure_class in self.NO_RESPONSE:
            self.unreachable = (f"{call} ({result.describe()})", str(result.failure_class))

    def get(self, attribute: str, call: str, fetch: Callable[[], ApiResult | PagedResult]) -> Any:
        """Return the body (ApiResult) or the items (PagedResult) of a successful read; else record it, FAILED."""
        if self.unreachable is not None:
            first, failure_class = self.unreachable
            self.errors.add(
                self.system, attribute, call, failure_class, f"not sent: {self.system} did not answer {first}"
            )
            return FAILED
        try:
            result = fetch()
        except Exception as exc:  # a client error (e.g. a missing setting) is recorded like a failed call
            self.errors.exception(self.system, attribute, call, exc)
            return FAILED
        if self.record is not None:
            self.record(result)
        if not result.ok:
            self.errors.result(self.system, attribute, call, result)
            failed = result.failure if isinstance(result, PagedResult) else result
            if failed is not None and failed.failure_class in self.NO_RESPONSE:
                self.unreachable = (call, failed.failure_class)
            return FAILED
        return result.items if isinstance(result, PagedResult) else result.body


def _cloudflare(client: Any, read: _Reader) -> dict[str, Any]:
    out: dict[str, Any] = {}
    zone_ids: dict[str, str] = {}
    with read.guard("zones", "GET /zones"):
        zones = read.get("zones", "GET /zones", lambda: client.zones())
        if zones is not FAILED:
            zone_ids = {str(mapping(z).get("name")): str(mapping(z).get("id")) for z in zones if mapping(z).get("name")}
            out["zones"] = sorted(zone_ids)
    if "zones" in out:
        records: dict[str, list[str]] = {}
        for name, zone_id in sorted(zone_ids.items()):
            call = f"GET /zones/{zone_id}/dns_records"
            items: Any = FAILED
            with read.guard("dns", call):
                items = read.get("dns", call, partial(client.dns_records, zone_id))
            if items is FAILED:
                break  # the failure is recorded; the next zones would most likely fail the same way
            records[name] = sorted(
                f"{mapping(r).get('type')} {mapping(r).get('name')} {mapping(r).get('content')}" for r in items
            )
        else:
            out["dns_records"] = records
    with read.guard("tunnels", "GET /accounts/{account}/cfd_tunnel"):
        tunnels = read.get("tunnels", "GET /accounts/{account}/cfd_tunnel", lambda: client.tunnels())
        if tunnels is not FAILED:
            live: dict[str, dict[str, Any]] = {}
            for tunnel in tunnels:
                name, tunnel_id = str(mapping(tunnel).get("name")), str(mapping(tunnel).get("id"))
                live[name if name not in live else f"{name}#{tunnel_id}"] = {"id": tunnel_id}
            for entry in live.values():
                call = f"GET /accounts/{{account}}/cfd_tunnel/{entry['id']}/configurations"
                with read.guard("ingress", call):
                    body = read.get("ingress", call, partial(client.tunnel_configuration, entry["id"]))
                    if body is not FAILED:
                        rules = as_list(mapping(mapping(mapping(body).get("result")).get("config")).get("ingress"))
                        entry["ingress"] = [str(mapping(r)["hostname"]) for r in rules if mapping(r).get("hostname")]
            out["tunnels"] = live
    with read.guard("registrar", "GET /accounts/{account}/registrar/domains"):
        body = read.get("registrar", "GET /accounts/{account}/registrar/domains", lambda: client.registrar_domains())
        if body is not FAILED:
            domains = as_list(mapping(body).get("result"))
            out["registrar"] = sorted(
                {str(mapping(d).get("name") or mapping(d).get("id")) for d in domains if mapping(d)}
            )
    return out


def _vaultwarden(client: Any, read: _Reader) -> dict[str, Any]:
    out: dict[str, Any] = {}
    read.reachable("GET /alive", client.alive)
    with read.guard("versions", "GET /api/version"):
        body = read.get("versions", "GET /api/version", lambda: client.version())
        if body is not FAILED:
            out["version"] = None if body is None else str(body)
    with read.guard("versions", "GET /api/config"):
        body = read.get("versions", "GET /api/config", lambda: client.config())
        if body is not FAILED:
            version = mapping(body).get("version")
            out["server_version"] = None if version is None else str(version)
    return out


def _infisical(client: Any, read: _Reader, settings: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with read.guard("status", "GET /api/status"):
        body = read.get("status", "GET /api/status", lambda: client.status())
        if body is not FAILED:
            message = mapping(body).get("message")
            out["status"] = None if message is None else str(message)
    environment = str(settings.get("infisical_environment") or "prod")
    path = str(settings.get("infisical_path") or "/")
    project_id = settings.get("infisical_project_id")
    call = f"GET /api/v3/secrets/raw (environment {environment}, path {path}, recursive, values hidden)"
    out["secret_scope"] = {"environment": environment, "path": path}
    if not project_id:
        read.errors.add(
            "infisical",
            "secret_keys",
            call,
            "setup_error",
            "no Infisical project id: set systems.infisical.credentials.project_id",
        )
        return out
    with read.guard("secret_keys", call):
        body = read.get(
            "secret_keys",
            call,
            partial(client.list_secrets, str(project_id), environment, path, recursive=True, view_values=False),
        )
        if body is not FAILED:
            keys: dict[str, set[str]] = {}
            for secret in as_list(mapping(body).get("secrets")):
                key = mapping(secret).get("secretKey")
                if key:
                    folder = str(mapping(secret).get("secretPath") or path)
                    keys.setdefault(folder, set()).add(str(key))
            out["secret_keys"] = {folder: sorted(names) for folder, names in sorted(keys.items())}
    return out


def _authentik(client: Any, read: _Reader) -> dict[str, Any]:
    out: dict[str, Any] = {}
    read.reachable("GET /-/health/live/", client.health_live)
    with read.guard("versions", "GET /api/v3/admin/version/"):
        body = read.get("versions", "GET /api/v3/admin/version/", lambda: client.version())
        if body is not FAILED:
            version = mapping(body).get("version_current")
            out["version"] = None if version is None else str(version)
    with read.guard("outposts", "GET /api/v3/outposts/instances/"):
        outposts = read.get("outposts", "GET /api/v3/outposts/instances/", lambda: client.outposts())
        if outposts is not FAILED:
            out["outposts"] = sorted(str(mapping(o).get("name")) for o in outposts)
            instances: dict[str, int] = {}
            for outpost in outposts:
                uuid = str(mapping(outpost).get("pk"))
                call = f"GET /api/v3/outposts/instances/{uuid}/health/"
                with read.guard("outposts", call):
                    health = read.get("outposts", call, partial(client.outpost_health, uuid))
                    if health is not FAILED:
                        instances[str(mapping(outpost).get("name"))] = len(as_list(health))
            out["outpost_instances"] = instances
    return out


def _capture_system(
    system: str, clients: Clients, settings: Mapping[str, Any], record: Recorder | None
) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
    errors = _Errors()
    read = _Reader(system, errors, record)
    try:
        client = clients(system)
    except Exception as exc:  # a client that cannot be built is a recorded setup failure, not a crash
        errors.add(system, "presence", f"build the {system} client", "setup_error", str(exc))
        return None, errors.items
    if system == "cloudflare":
        return _cloudflare(client, read), errors.items
    if system == "vaultwarden":
        return _vaultwarden(client, read), errors.items
    if system == "infisical":
        return _infisical(client, read, settings), errors.items
    if system == "authentik":
        return _authentik(client, read), errors.items
    errors.add(system, "presence", "capture", "setup_error", f"no capture for system {system!r}")
    return None, errors.items


def capture(
    clients: Clients,
    *,
    environment: str,
    is_sandbox: bool,
    settings: Mapping[str, Any] | None = None,
    clock: Clock = utc_now,
    systems: Sequence[str] = SYSTEMS,
    record: Recorder | None = None,
) -> dict[str, Any]:
    """Read the live state of `systems` through `clients` (GETs and logins only) and return the capture mapping.

    The systems are read side by side (one thread each; each system's reads in order), so a capture takes about
    as long as its slowest system. `settings` holds the Infisical scope (`infisical_project_id`,
    `infisical_environment` default prod, `infisical_path` default /), as the probes get it; `record` is called
    with every result (serialised). Never raises for a failed call: see `errors`, in system order.
    """
    settings = settings or {}
    lock = threading.Lock()

    def locked(result: ApiResult | PagedResult) -> None:
        assert record is not None
        with lock:
            record(result)

    recorder = locked if record is not None else None
    with ThreadPoolExecutor(max_workers=max(1, len(systems)), thread_name_prefix="capture") as pool:
        futures = [(s, pool.submit(_capture_system, s, clients, settings, recorder)) for s in systems]
        outcomes = [(s, f.result()) for s, f in futures]
    when = clock().astimezone(dt.UTC)
    return {
        "format": FORMAT,
        "captured_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "environment": environment,
        "sandbox": bool(is_sandbox),
        "systems": {s: data for s, (data, _) in outcomes if data is not None},
        "errors": [e for _, (_, errors) in outcomes for e in errors],
    }


def dump_baseline(data: Mapping[str, Any]) -> str:
    """Return the capture as stable YAML text (sorted keys, block style), registered secrets masked."""
    text = yaml.safe_dump(dict(data), sort_keys=True, default_flow_style=False, allow_unicode=True, width=1000)
    return REDACTOR.mask(text)


def baseline_name(captured_at: str) -> str:
    """Return `baseline-<YYYYmmdd-HHMMSS>Z.yaml` for an ISO UTC timestamp such as 2026-11-26T14:52:23Z."""
    when = dt.datetime.strptime(captured_at, "%Y-%m-%dT%H:%M:%SZ")
    return f"{BASELINE_PREFIX}{when:%Y%m%d-%H%M%S}Z.yaml"


def write_baseline(data: Mapping[str, Any], directory: Path) -> Path:
    """Write the capture as `baseline-<stamp>Z.yaml` in `directory` (created) and return its path; never overwrites."""
    directory.mkdir(parents=True, exist_ok=True)
    name = baseline_name(str(data.get("captured_at")))
    text = dump_baseline(data)
    for n in range(1, 1000):
        path = directory / (name if n == 1 else name.replace("Z.yaml", f"Z-{n}.yaml"))
        try:
            with path.open("x", encoding="utf-8") as fh:
                fh.write(text)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"{directory / name}: 999 baselines of the same second already exist")


def load_baseline(path: Path) -> dict[str, Any]:
    """Read a baseline file back (safe loader); raise ValueError when it is not a capture mapping."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("systems"), dict):
        raise ValueError(f"{path}: not a baseline (a mapping with 'systems')")
    return data


# --- command line -----------------------------------------------------------------------------------------


class UsageError(Exception):
    """Bad input on the command line (exit 2, one line)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise UsageError(message)


CLIENT_CREDENTIALS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "cloudflare": ((), ("api_token", "api_email", "api_key", "account_id")),
    "vaultwarden": ((), ("client_id", "client_secret")),
    "infisical": (("client_id", "client_secret"), ()),
    "authentik": (("api_token",), ()),
}
"""Per system: required and optional credentials of its client (as fixtures/pytest_plugin.py builds them)."""


def _sandbox_environ(env_data: Mapping[str, Any], sandbox: Any) -> dict[str, str]:
    from infracore_verify.clients.credentials import references

    values: dict[str, str] = {}
    for ref in references(env_data):
        value = sandbox.credentials.get(ref.system, {}).get(ref.name)
        if ref.env and value:
            values[ref.env] = value
    identity = mapping(mapping(env_data.get("credential_source")).get("identity"))
    for name, ref in identity.items():
        env_name = mapping(ref).get("env")
        value = sandbox.credentials.get("infisical", {}).get(str(name))
        if env_name and value:
            values[str(env_name)] = value
    return values


class _Session:
    """The clients of one environment, built on demand like the pytest plugin builds them."""

    def __init__(
        self, env_data: Mapping[str, Any], display: str, base_urls: dict[str, str], environ: Mapping[str, str]
    ) -> None:
        from infracore_verify.clients.credentials import CredentialError, CredentialResolver

        self._credential_error = CredentialError
        self.base_urls = base_urls
        self.limits = {
            str(s): Limits.from_mapping(mapping(e).get("limits")) for s, e in mapping(env_data.get("systems")).items()
        }
        source = mapping(env_data.get("credential_source"))
        fetch = None
        if source.get("type") == "infisical":
            from infracore_verify.clients.infisical import InfisicalClient

            identity = {k: str(mapping(v).get("env") or "") for k, v in mapping(source.get("identity")).items()}
            base = str(source.get("base_url") or base_urls.get(str(source.get("system") or "infisical"), ""))

            def fetch(folder: str, keys: list[str]) -> dict[str, str]:
                client_id = environ.get(identity.get("client_id", ""))
                client_secret = environ.get(identity.get("client_secret", ""))
                if not client_id or not client_secret:
                    raise CredentialError(
                        f"credential_source.identity needs environment variables {identity.get('client_id')} and "
                        f"{identity.get('client_secret')}"
                    )
                client = InfisicalClient(
                    base, client_id=client_id, client_secret=client_secret, limits=self.limits.get("infisical")
                )
                try:
                    return client.fetch_secrets(
                        str(source.get("project_id")), str(source.get("environment") or "prod"), folder, keys
                    )
                finally:
                    client.close()

        self.resolver = CredentialResolver(env_data, environ, display, fetch)
        self.settings: dict[str, Any] = {}
        if source.get("type") == "infisical":
            path = str(source.get("path") or "/")
            self.settings.update(infisical_environment=str(source.get("environment") or "prod"), infisical_path=path)
        self.built: dict[str, Any] = {}

    def project_id(self) -> str | None:
        """Return the Infisical project id credential, if it resolves."""
        return self.resolver.values("infisical").get("project_id")

    def client(self, system: str) -> Any:
        """Return the system's client (built once), or raise naming the missing setting or credential."""
        if system in self.built:
            return self.built[system]
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
        if system not in classes or not self.base_urls.get(system):
            raise MissingSettingError(f"the environment has no base_url for {system}")
        required, optional = CLIENT_CREDENTIALS[system]
        try:
            creds = self.resolver.require(system, *required)
        except self._credential_error as exc:
            raise MissingSettingError(str(exc)) from None
        values = self.resolver.values(system)
        creds.update({k: values[k] for k in optional if k in values})
        client = classes[system](self.base_urls[system], limits=self.limits.get(system), **creds)
        self.built[system] = client
        return client

    def close(self) -> None:
        """Close every client built."""
        for client in self.built.values():
            client.close()


def run(env_name: str, contracts_path: Path | None, out: Path) -> tuple[Path, dict[str, Any]]:
    """Capture the environment `env_name` of the contract set and write the baseline; raise UsageError on bad input."""
    from infracore_verify.contracts.sets import BUNDLED_CONTRACTS, Contracts, ContractsPathError

    default = os.environ.get("INFRACORE_CONTRACTS")
    try:
        contracts = Contracts.open(contracts_path or (Path(default) if default else BUNDLED_CONTRACTS))
    except ContractsPathError as exc:
        raise UsageError(f"--contracts: {exc}") from None
    doc = contracts.environment(env_name)
    if not doc.ok:
        raise UsageError(f"--env {env_name}: " + "; ".join(f.render() for f in doc.errors))
    env_data = dict(doc.data)
    is_sandbox = env_data.get("kind") == "sandbox"
    box: Any = None
    if is_sandbox:
        from infracore_verify.sandbox import Sandbox, SandboxError, SandboxSeed

        try:
            box = Sandbox(SandboxSeed.from_contracts(contracts.path)).start()
        except SandboxError as exc:
            raise UsageError(f"the sandbox cannot start: {exc}") from None
    try:
        base_urls: dict[str, str] = {}
        for system, entry in mapping(env_data.get("systems")).items():
            base = str(mapping(entry).get("base_url") or "")
            base_urls[str(system)] = box.base_urls[system] if base == "sandbox" and box is not None else base
        environ = _sandbox_environ(env_data, box) if box is not None else dict(os.environ)
        session = _Session(env_data, doc.display, base_urls, environ)
        try:
            settings = {**session.settings, "infisical_project_id": session.project_id()}
            data = capture(session.client, environment=env_name, is_sandbox=is_sandbox, settings=settings)
        finally:
            session.close()
    finally:
        if box is not None:
            box.stop()
    try:
        path = write_baseline(data, out)
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot write the baseline: {exc.strerror or exc}") from None
    return path, data


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: print the baseline path; 0 complete, 1 written with errors, 2 bad input."""
    parser = _Parser(
        prog="python -m infracore_verify.smoke.capture",
        description="Read-only capture of the live state of Cloudflare, Vaultwarden, Infisical and Authentik.",
    )
    parser.add_argument("--env", required=True, metavar="NAME", help="environment file name (e.g. sandbox)")
    parser.add_argument("--contracts", type=Path, metavar="PATH", help="contract set (default: this checkout's)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR", help=f"default: {DEFAULT_OUT}")
    try:
        args = parser.parse_args(argv)
        path, data = run(args.env, args.contracts, args.out)
    except UsageError as exc:
        print(f"capture: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    print(path)
    for error in data["errors"]:
        print(
            f"capture: {error['system']}.{error['attribute']}: {error['call']}: {error['message']} [class {error['class']}]",
            file=sys.stderr,
        )
    return 1 if data["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
