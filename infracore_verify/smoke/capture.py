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
                                                                     # in rule order (the catch-all has none);
                                                                     # ingress_source: local instead when
                                                                     # cloudflared's own file holds them
        registrar: [example.com, ...]                                # registrations' domain_name, sorted
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

The reads of each system are in `capture_systems.py`; this module runs them side by side, writes the baseline and
holds the command line.

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
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from infracore_verify.clients.http import ApiResult, Limits, MissingSettingError, PagedResult
from infracore_verify.contracts.model import SYSTEMS, mapping
from infracore_verify.redact import REDACTOR, HiddenEnviron
from infracore_verify.smoke.capture_systems import Clients, Recorder, capture_system

FORMAT = 1
"""Version of the baseline layout above."""
DEFAULT_OUT = Path("reports") / "baselines"
BASELINE_PREFIX = "baseline-"

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """Return the current time in UTC."""
    return dt.datetime.now(dt.UTC)


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
        futures = [(s, pool.submit(capture_system, s, clients, settings, recorder)) for s in systems]
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
"""Per system: required and optional credentials of its client (as infracore_verify/plugin/smoke.py builds them)."""


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
        environ: Mapping[str, str] = _sandbox_environ(env_data, box) if box is not None else HiddenEnviron()
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
