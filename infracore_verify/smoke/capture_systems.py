"""The reads of one capture, system by system: what `capture()` (smoke/capture.py) asks each client, read-only.

Each system's reader returns its part of the capture mapping and records every failed call in `errors` instead of
raising; the layout of both is described in `smoke/capture.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import Any

from infracore_verify.clients.http import ApiClientError, ApiError, ApiResult, MissingSettingError, PagedResult
from infracore_verify.contracts.model import as_list, mapping
from infracore_verify.redact import REDACTOR

Clients = Callable[[str], Any]
"""clients(system) -> the system's client; may raise (the failure is recorded as a setup_error)."""
Recorder = Callable[[ApiResult | PagedResult], None]
"""Called with every result the capture receives (a probe keeps the redacted exchanges for its report)."""
FAILED: Any = object()
"""What `_Reader.get` returns for a failed read (a successful read may return None: an empty body)."""


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
                        entry.update(_ingress_entry(mapping(mapping(body).get("result"))))
            out["tunnels"] = live
    call = "GET /accounts/{account}/registrar/registrations"
    with read.guard("registrar", call):
        registrations = read.get("registrar", call, lambda: client.registrar_registrations())
        if registrations is not FAILED:
            out["registrar"] = sorted(
                {str(mapping(d)["domain_name"]) for d in registrations if mapping(d).get("domain_name")}
            )
    return out


def _ingress_entry(result: Mapping[str, Any]) -> dict[str, Any]:
    """Return a tunnel configuration as capture keys: `ingress` hostnames, or `ingress_source` when not served.

    `config: null` with `source: local` means cloudflared's own file holds the ingress (not readable from the API:
    no `ingress` key, `ingress_source: local`); with `source: cloudflare` the tunnel is not configured yet
    (`ingress: []`, `ingress_source: cloudflare`).
    """
    config = result.get("config")
    if isinstance(config, Mapping):
        rules = as_list(config.get("ingress"))
        return {"ingress": [str(mapping(r)["hostname"]) for r in rules if mapping(r).get("hostname")]}
    source = str(result.get("source") or "unknown")
    return {"ingress_source": source, **({"ingress": []} if source == "cloudflare" else {})}


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


def capture_system(
    system: str, clients: Clients, settings: Mapping[str, Any], record: Recorder | None
) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
    """Return (the system's part of the capture, or None when its client cannot be built; its errors)."""
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
