"""The smoke probes: one read-only check per smoke capability, run through the authenticated clients.

A probe is a plain function `probe(ctx) -> None` registered with `@probe("<capability id>")`. It calls
clients through `ctx`, which records every result (status, class, redacted exchanges), validates bodies
against the project's own response schemas (`contracts/schemas/api/`) and raises `ProbeFailure` with what
was expected, what came back and how it was classified. `run_probe` turns that into a `ProbeOutcome`,
adding the SLO latency verdict from `infra.core.slo.yaml`.

Exceptions:

    ProbeFailure        a probe saw something wrong: carries the failure class and the message
    ProbeSetupError     the probe could not start (a credential or setting is missing); class setup_error
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match

from infracore_verify.clients.http import ApiClientError, ApiResult, Exchange, PagedResult
from infracore_verify.contracts.model import as_list, mapping
from infracore_verify.contracts.sets import BUNDLED_CONTRACTS
from infracore_verify.redact import REDACTOR

API_SCHEMAS = BUNDLED_CONTRACTS / "schemas" / "api"
HEALTHY_AUTHENTIK = (200, 204)


class ProbeFailure(Exception):
    """A probe saw something wrong: `failure_class` says what kind, the message says what and why."""

    def __init__(self, failure_class: str, message: str) -> None:
        super().__init__(message)
        self.failure_class = failure_class


class ProbeSetupError(Exception):
    """The probe could not start: a credential or a setting is missing (never skipped silently)."""


@dataclass(frozen=True)
class Slo:
    """Latency thresholds from infra.core.slo.yaml, in seconds."""

    warn: float = 3.0
    incident: float = 7.0

    @classmethod
    def from_data(cls, data: Any) -> Slo:
        """Read `budgets.latency_warn_ms` and `latency_incident_ms` (ops defaults 3000 / 7000)."""
        budgets = mapping(mapping(data).get("budgets"))
        return cls(
            float(budgets.get("latency_warn_ms", 3000)) / 1000, float(budgets.get("latency_incident_ms", 7000)) / 1000
        )


@dataclass
class ProbeOutcome:
    """What one probe run found: verdict, class, message, latency, warnings and the redacted exchanges."""

    probe_id: str
    system: str
    verdict: str
    failure_class: str | None
    message: str
    elapsed: float
    warnings: list[str] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        """Return the receipt row (no secrets: messages and details are built from masked data)."""
        return {
            "id": self.probe_id,
            "system": self.system,
            "verdict": self.verdict,
            "failure_class": self.failure_class,
            "message": REDACTOR.mask(self.message),
            "latency_seconds": round(self.elapsed, 4),
            "warnings": [REDACTOR.mask(w) for w in self.warnings],
            "requests": len(self.exchanges),
        }

    def exchanges_text(self) -> str:
        """Return the redacted HTTP exchanges as JSON (the report attachment)."""
        return REDACTOR.mask(json.dumps([e.__dict__ for e in self.exchanges], indent=2, default=str))


@lru_cache(maxsize=64)
def _validator(name: str) -> jsonschema.protocols.Validator:
    path = API_SCHEMAS / f"{name}.schema.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def schema_problem(body: Any, schema_name: str) -> str | None:
    """Return how `body` drifts from `contracts/schemas/api/<schema_name>.schema.json`, or None."""
    error = best_match(_validator(schema_name).iter_errors(body))
    if error is None:
        return None
    where = error.json_path
    if error.validator == "required":
        what = error.message.split(" is a required")[0]
        return f"{where}: missing required key {what}"
    return f"{where}: {REDACTOR.mask(error.message)[:200]}"


Clients = Callable[[str], Any]
"""clients(system) -> the system's client; raises ProbeSetupError when it cannot be built."""


class ProbeContext:
    """What a probe works with: clients, contracts data, schema checks, and the record of every call."""

    def __init__(self, clients: Clients, inventory: Any, settings: dict[str, Any] | None = None) -> None:
        self._clients = clients
        self.inventory = mapping(inventory)
        self.settings = settings or {}
        self.exchanges: list[Exchange] = []
        self.warnings: list[str] = []
        self.details: dict[str, Any] = {}

    def client(self, system: str) -> Any:
        """Return the system's client (built once per run by the fixtures)."""
        return self._clients(system)

    def record(self, result: ApiResult | PagedResult) -> None:
        """Keep a result's exchanges and warnings for the report."""
        pages = result.pages if isinstance(result, PagedResult) else [result]
        for page in pages:
            self.exchanges += page.exchanges
            self.warnings += [w for w in page.warnings if w not in self.warnings]
        if isinstance(result, PagedResult):
            self.warnings += [w for w in result.warnings if w not in self.warnings]

    def call(self, what: str, result: ApiResult, schema: str | None = None, expect: str = "2xx") -> Any:
        """Check one call: it succeeded and its body matches the schema; return the body."""
        self.record(result)
        if not result.ok:
            raise ProbeFailure(
                result.failure_class or "api_error",
                f"expected {what} -> {expect}; got {result.describe()} [class {result.failure_class}]",
            )
        if schema is not None:
            problem = schema_problem(result.body, schema)
            if problem:
                raise ProbeFailure(
                    "schema_drift",
                    f"expected {what} to match contracts/schemas/api/{schema}.schema.json; got {problem} "
                    "[class schema_drift]",
                )
        return result.body

    def listing(self, what: str, result: PagedResult, schema: str | None = None) -> list[Any]:
        """Check a paginated listing: every page succeeded and matches the schema; return all items."""
        self.record(result)
        if result.failure is not None:
            failure = result.failure
            raise ProbeFailure(
                failure.failure_class or "api_error",
                f"expected {what} -> 2xx on every page; page {len(result.pages)}: {failure.describe()} "
                f"[class {failure.failure_class}]",
            )
        if result.truncated:
            raise ProbeFailure("api_error", f"expected {what} to end; {result.describe()} [class api_error]")
        for number, page in enumerate(result.pages, start=1):
            problem = schema_problem(page.body, schema) if schema else None
            if problem:
                raise ProbeFailure(
                    "schema_drift",
                    f"expected {what} page {number} to match contracts/schemas/api/{schema}.schema.json; "
                    f"got {problem} [class schema_drift]",
                )
        return list(result.items)


ProbeFunc = Callable[[ProbeContext], None]
PROBES: dict[str, ProbeFunc] = {}


def probe(name: str) -> Callable[[ProbeFunc], ProbeFunc]:
    """Register a probe implementation under `name` (a capability id or a capability's `probe` key)."""

    def register(func: ProbeFunc) -> ProbeFunc:
        PROBES[name] = func
        return func

    return register


def run_probe(
    probe_id: str,
    implementation: str,
    system: str,
    ctx: ProbeContext,
    slo: Slo,
    clock: Callable[[], float] = time.monotonic,
) -> ProbeOutcome:
    """Run one probe and return its outcome; never raises for what the probe finds or cannot reach."""
    func = PROBES.get(implementation)
    started = clock()
    verdict, failure_class, message = "pass", None, f"{probe_id}: ok"
    if func is None:
        verdict, failure_class = "fail", "gate_bug"
        message = f"{probe_id}: no probe implements '{implementation}'; known: {', '.join(sorted(PROBES))}"
    else:
        try:
            func(ctx)
            summary = ctx.details.get("summary")
            if summary:
                message = f"{probe_id}: ok ({summary})"
        except ProbeFailure as exc:
            verdict, failure_class, message = "fail", exc.failure_class, f"{probe_id} ({system}): {exc}"
        except (ProbeSetupError, ApiClientError) as exc:
            verdict, failure_class = "fail", "setup_error"
            message = f"{probe_id} ({system}): cannot run: {exc} [class setup_error]"
    elapsed = clock() - started
    if verdict == "pass" and elapsed >= slo.incident:
        verdict, failure_class = "fail", "latency_incident"
        message = (
            f"{probe_id} ({system}): expected a latency under {slo.incident:.1f}s (SLO incident threshold); "
            f"took {elapsed:.2f}s [class latency_incident]"
        )
    elif elapsed >= slo.warn:
        ctx.warnings.append(f"latency {elapsed:.2f}s is at or over the SLO warn threshold {slo.warn:.1f}s")
    return ProbeOutcome(
        probe_id,
        system,
        verdict,
        failure_class,
        REDACTOR.mask(message),
        elapsed,
        ctx.warnings,
        ctx.exchanges,
        ctx.details,
    )


# --- Cloudflare -------------------------------------------------------------------------------------------


def _names(items: Iterable[Any], key: str = "name") -> set[str]:
    return {str(mapping(i).get(key)) for i in items if mapping(i).get(key)}


@probe("cloudflare.token.verify")
def cloudflare_token_verify(ctx: ProbeContext) -> None:
    """Verifies the API token (GET /user/tokens/verify) and expects status active."""
    body = ctx.call("GET /user/tokens/verify", ctx.client("cloudflare").verify_token(), "cloudflare.token-verify")
    status = mapping(mapping(body).get("result")).get("status")
    if status != "active":
        raise ProbeFailure("token_invalid", f"expected token status active; got {status!r} [class token_invalid]")
    ctx.details["summary"] = "token active"


@probe("cloudflare.zone.list")
def cloudflare_zone_list(ctx: ProbeContext) -> None:
    """Lists every zone, following all pages, and expects at least one."""
    zones = ctx.listing("GET /zones", ctx.client("cloudflare").zones(), "cloudflare.zones")
    if not zones:
        raise ProbeFailure("inventory_drift", "expected at least one zone; got none [class inventory_drift]")
    ctx.details["summary"] = f"{len(zones)} zones"


@probe("cloudflare.dns.records")
def cloudflare_dns_records(ctx: ProbeContext) -> None:
    """Lists the DNS records of every zone and notes zones without SPF or DMARC."""
    client = ctx.client("cloudflare")
    zones = ctx.listing("GET /zones", client.zones(), "cloudflare.zones")
    total = 0
    for zone in zones:
        name, zone_id = mapping(zone).get("name"), mapping(zone).get("id")
        records = ctx.listing(
            f"GET /zones/{zone_id}/dns_records", client.dns_records(zone_id), "cloudflare.dns-records"
        )
        total += len(records)
        txt = [mapping(r) for r in records if mapping(r).get("type") == "TXT"]
        if not any(r.get("name") == name and "v=spf1" in str(r.get("content")) for r in txt):
            ctx.warnings.append(f"zone {name}: no SPF record (apex TXT v=spf1)")
        if not any(r.get("name") == f"_dmarc.{name}" and "v=DMARC1" in str(r.get("content")) for r in txt):
            ctx.warnings.append(f"zone {name}: no DMARC record (_dmarc TXT v=DMARC1)")
    ctx.details["summary"] = f"{total} records in {len(zones)} zones"


@probe("cloudflare.tunnel.list")
def cloudflare_tunnel_list(ctx: ProbeContext) -> None:
    """Lists the live tunnels of the account (is_deleted=false)."""
    tunnels = ctx.listing(
        "GET /accounts/{account}/cfd_tunnel", ctx.client("cloudflare").tunnels(), "cloudflare.tunnels"
    )
    ctx.details["summary"] = f"{len(tunnels)} tunnels"


def _inventory_tunnels(ctx: ProbeContext) -> list[dict[str, Any]]:
    return [mapping(t) for t in as_list(ctx.inventory.get("tunnels"))]


@probe("cloudflare.tunnel.ingress.status")
def cloudflare_tunnel_ingress(ctx: ProbeContext) -> None:
    """Reads each inventory tunnel's ingress configuration and compares its hostnames with the inventory."""
    client = ctx.client("cloudflare")
    drift: list[str] = []
    routes = 0
    for tunnel in _inventory_tunnels(ctx):
        tunnel_id = str(tunnel.get("id"))
        body = ctx.call(
            f"GET /accounts/{{account}}/cfd_tunnel/{tunnel_id}/configurations",
            client.tunnel_configuration(tunnel_id),
            "cloudflare.tunnel-configuration",
        )
        ingress = [
            mapping(r) for r in as_list(mapping(mapping(mapping(body).get("result")).get("config")).get("ingress"))
        ]
        routes += len(ingress)
        drift += _diff(
            "INGRESS",
            {str(r["hostname"]) for r in ingress if r.get("hostname")},
            {str(mapping(r).get("hostname")) for r in as_list(tunnel.get("ingress")) if mapping(r).get("hostname")},
            f" (tunnel {tunnel.get('name')})",
        )
    if drift:
        raise ProbeFailure(
            "inventory_drift",
            "tunnel ingress drifts from cloudflare.inventory.yaml: " + "; ".join(drift) + " [class inventory_drift]",
        )
    ctx.details["summary"] = f"{routes} ingress rules"


def _diff(kind: str, live: set[str], declared: set[str], suffix: str = "") -> list[str]:
    return [f"MISSING_{kind} {n}{suffix}" for n in sorted(declared - live)] + [
        f"EXTRA_{kind} {n}{suffix}" for n in sorted(live - declared)
    ]


@probe("cloudflare.registrar.status")
def cloudflare_registrar(ctx: ProbeContext) -> None:
    """Reads the registrar domains and expects every inventory zone marked `registrar: true` among them."""
    body = ctx.call(
        "GET /accounts/{account}/registrar/domains",
        ctx.client("cloudflare").registrar_domains(),
        "cloudflare.registrar-domains",
    )
    live = {str(mapping(d).get("name") or mapping(d).get("id")) for d in as_list(mapping(body).get("result"))}
    wanted = {
        str(mapping(z).get("name")) for z in as_list(ctx.inventory.get("zones")) if mapping(z).get("registrar") is True
    }
    missing = sorted(wanted - live)
    if missing:
        raise ProbeFailure(
            "inventory_drift",
            "expected the registrar to hold "
            + ", ".join(missing)
            + f"; it holds {sorted(live) or 'nothing'} [class inventory_drift]",
        )
    ctx.details["summary"] = f"{len(live)} registrar domains"


@probe("cloudflare.inventory.sync")
def cloudflare_inventory_sync(ctx: ProbeContext) -> None:
    """Compares live zones, tunnels and ingress hostnames with cloudflare.inventory.yaml, naming each difference."""
    client = ctx.client("cloudflare")
    zones = ctx.listing("GET /zones", client.zones(), "cloudflare.zones")
    tunnels = ctx.listing("GET /accounts/{account}/cfd_tunnel", client.tunnels(), "cloudflare.tunnels")
    drift = _diff("ZONE", _names(zones), _names(as_list(ctx.inventory.get("zones"))))
    drift += _diff("TUNNEL", _names(tunnels), _names(_inventory_tunnels(ctx)))
    live_ids = {str(mapping(t).get("name")): str(mapping(t).get("id")) for t in tunnels}
    for tunnel in _inventory_tunnels(ctx):
        name = str(tunnel.get("name"))
        if name not in live_ids:
            continue
        body = ctx.call(
            f"GET /accounts/{{account}}/cfd_tunnel/{live_ids[name]}/configurations",
            client.tunnel_configuration(live_ids[name]),
            "cloudflare.tunnel-configuration",
        )
        ingress = as_list(mapping(mapping(mapping(body).get("result")).get("config")).get("ingress"))
        drift += _diff(
            "INGRESS",
            {str(mapping(r).get("hostname")) for r in ingress if mapping(r).get("hostname")},
            {str(mapping(r).get("hostname")) for r in as_list(tunnel.get("ingress")) if mapping(r).get("hostname")},
            f" (tunnel {name})",
        )
    if drift:
        raise ProbeFailure(
            "inventory_drift",
            "live Cloudflare drifts from cloudflare.inventory.yaml: " + "; ".join(drift) + " [class inventory_drift]",
        )
    ctx.details["summary"] = f"{len(zones)} zones and {len(tunnels)} tunnels match the inventory"


# --- Vaultwarden ------------------------------------------------------------------------------------------


@probe("vaultwarden.alive")
def vaultwarden_alive(ctx: ProbeContext) -> None:
    """Expects GET /alive to answer 200 with the server's current time."""
    ctx.call("GET /alive", ctx.client("vaultwarden").alive(), "vaultwarden.alive", expect="200 with a date-time")
    ctx.details["summary"] = "alive"


@probe("vaultwarden.version")
def vaultwarden_version(ctx: ProbeContext) -> None:
    """Reads the Vaultwarden release from GET /api/version."""
    body = ctx.call("GET /api/version", ctx.client("vaultwarden").version(), "vaultwarden.version")
    ctx.details["summary"] = f"version {body or 'unset'}"


@probe("vaultwarden.config")
def vaultwarden_config(ctx: ProbeContext) -> None:
    """Reads GET /api/config and expects the server to call itself Vaultwarden."""
    body = ctx.call("GET /api/config", ctx.client("vaultwarden").config(), "vaultwarden.config")
    name = mapping(mapping(body).get("server")).get("name")
    if name != "Vaultwarden":
        raise ProbeFailure("schema_drift", f"expected server.name 'Vaultwarden'; got {name!r} [class schema_drift]")
    ctx.details["summary"] = f"claims Bitwarden {mapping(body).get('version')}"


# --- Infisical --------------------------------------------------------------------------------------------


@probe("infisical.status")
def infisical_status(ctx: ProbeContext) -> None:
    """Expects GET /api/status to answer 200 with message Ok."""
    body = ctx.call("GET /api/status", ctx.client("infisical").status(), "infisical.status")
    if mapping(body).get("message") != "Ok":
        raise ProbeFailure(
            "api_error", f"expected message 'Ok'; got {mapping(body).get('message')!r} [class api_error]"
        )
    ctx.details["summary"] = "status Ok"


@probe("secrets.auth.status")
def infisical_login(ctx: ProbeContext) -> None:
    """Logs in with the machine identity (universal auth) and expects a bearer token."""
    ctx.call("POST /api/v1/auth/universal-auth/login", ctx.client("infisical").login(), "infisical.login")
    ctx.details["summary"] = "machine identity logged in"


@probe("secrets.namespace.status")
def infisical_namespace(ctx: ProbeContext) -> None:
    """Lists the secrets namespace (values hidden) and expects the keys the environment needs to exist."""
    client = ctx.client("infisical")
    project_id = ctx.settings.get("infisical_project_id")
    if not project_id:
        raise ProbeSetupError("no Infisical project id: set systems.infisical.credentials.project_id")
    environment = str(ctx.settings.get("infisical_environment", "prod"))
    path = str(ctx.settings.get("infisical_path", "/"))
    body = ctx.call(
        f"GET /api/v3/secrets/raw (environment {environment}, path {path})",
        client.list_secrets(project_id, environment, path, recursive=True, view_values=False),
        "infisical.secrets-raw",
    )
    keys = {str(mapping(s).get("secretKey")) for s in as_list(mapping(body).get("secrets"))}
    wanted = set(as_list(ctx.settings.get("infisical_required_keys")))
    missing = sorted(wanted - keys)
    if missing:
        raise ProbeFailure(
            "inventory_drift",
            f"expected keys {', '.join(missing)} under {path} in {environment}; they are absent [class inventory_drift]",
        )
    ctx.details["summary"] = f"{len(keys)} keys under {path}"


# --- Authentik --------------------------------------------------------------------------------------------


def _authentik_health(ctx: ProbeContext, what: str, result: ApiResult) -> None:
    ctx.record(result)
    if result.status in HEALTHY_AUTHENTIK:
        return
    meaning = {503: "not ready", 502: "starting"}.get(result.status, result.failure_class or "unhealthy")
    raise ProbeFailure(
        result.failure_class or "unhealthy",
        f"expected {what} -> 200 or 204; got {result.describe()} ({meaning}) [class {result.failure_class or 'unhealthy'}]",
    )


@probe("authentik.health.live")
def authentik_live(ctx: ProbeContext) -> None:
    """Expects GET /-/health/live/ to answer 200 or 204."""
    _authentik_health(ctx, "GET /-/health/live/", ctx.client("authentik").health_live())
    ctx.details["summary"] = "live"


@probe("authentik.health.ready")
def authentik_ready(ctx: ProbeContext) -> None:
    """Expects GET /-/health/ready/ to answer 200 or 204 (the database is reachable)."""
    _authentik_health(ctx, "GET /-/health/ready/", ctx.client("authentik").health_ready())
    ctx.details["summary"] = "ready"


@probe("authentik.version")
def authentik_version(ctx: ProbeContext) -> None:
    """Reads the running and latest version and warns when the server is outdated."""
    body = mapping(ctx.call("GET /api/v3/admin/version/", ctx.client("authentik").version(), "authentik.version"))
    if body.get("outdated"):
        ctx.warnings.append(
            f"authentik {body.get('version_current')} is outdated (latest {body.get('version_latest')})"
        )
    ctx.details["summary"] = f"version {body.get('version_current')}"


@probe("authentik.user.self")
def authentik_user_self(ctx: ProbeContext) -> None:
    """Reads the token's own user and expects it active."""
    body = mapping(ctx.call("GET /api/v3/core/users/me/", ctx.client("authentik").me(), "authentik.users-me"))
    user = mapping(body.get("user"))
    if user.get("is_active") is not True:
        raise ProbeFailure(
            "token_invalid",
            f"expected the API user to be active; got is_active={user.get('is_active')!r} [class token_invalid]",
        )
    ctx.details["summary"] = f"user {user.get('username')}"


@probe("authentik.outposts.status")
def authentik_outposts(ctx: ProbeContext) -> None:
    """Lists the outposts and reads each one's health; warns about outposts with no connected instance."""
    client = ctx.client("authentik")
    outposts = ctx.listing("GET /api/v3/outposts/instances/", client.outposts(), "authentik.outposts")
    for outpost in outposts:
        uuid = str(mapping(outpost).get("pk"))
        health = ctx.call(
            f"GET /api/v3/outposts/instances/{uuid}/health/", client.outpost_health(uuid), "authentik.outpost-health"
        )
        if not as_list(health):
            ctx.warnings.append(f"outpost {mapping(outpost).get('name')} has no connected instance")
    ctx.details["summary"] = f"{len(outposts)} outposts"


def implemented() -> list[str]:
    """Return the probe implementation keys."""
    return sorted(PROBES)


def schema_names() -> list[str]:
    """Return the response schema names the probes use (for a completeness test)."""
    return sorted(p.name.removesuffix(".schema.json") for p in Path(API_SCHEMAS).glob("*.schema.json"))


# --- Drift across the four systems ------------------------------------------------------------------------


@probe("infra.core.drift")
def infra_core_drift(ctx: ProbeContext) -> None:
    """Captures the live state read-only (secret key names, never values) and fails on unexpected drift from the contracts.

    Reads `settings["contracts"]` (a Contracts; default: the bundled set with this run's inventory),
    `settings["environment"]` and `settings["sandbox"]`. Stores the matrix in `details["drift"]` (markdown, json,
    summary). Unreadable observations (versions, outposts, status) are warnings; an unreadable attribute the
    contracts declare fails with its failure class, and unexpected differences fail as inventory_drift.
    """
    from dataclasses import replace

    from infracore_verify.contracts.sets import Contracts
    from infracore_verify.smoke.capture import capture
    from infracore_verify.smoke.drift import DriftContractError, Expected, drift_matrix, error_text

    environment = str(ctx.settings.get("environment") or "") or None
    contracts = ctx.settings.get("contracts")
    try:
        if isinstance(contracts, Contracts):
            expected = Expected.from_contracts(contracts, environment)
        else:
            expected = replace(
                Expected.from_contracts(Contracts.open(BUNDLED_CONTRACTS), environment), inventory=ctx.inventory
            )
    except DriftContractError as exc:
        raise ProbeSetupError(f"the contracts the drift comparison reads do not load: {exc}") from None
    data = capture(
        ctx.client,
        environment=environment or "unknown",
        is_sandbox=ctx.settings.get("sandbox") is True,
        settings=ctx.settings,
        record=ctx.record,
    )
    matrix = drift_matrix(expected, data)
    ctx.details["drift"] = {"markdown": matrix.to_markdown(), "json": matrix.to_json(), "summary": matrix.summary()}
    unreadable = {(c.system, c.attribute) for c in matrix.unreadable()}
    for error in as_list(data.get("errors")):
        if (error["system"], error["attribute"]) not in unreadable:
            ctx.warnings.append(f"not observed: {error['system']}.{error['attribute']}: {error_text(error)}")
    problems = [f"cannot compare {c.name}: {'; '.join(c.errors)}" for c in matrix.unreadable()]
    drift = matrix.unexpected_lines()
    if drift:
        raise ProbeFailure(
            "inventory_drift",
            "live state drifts from the contracts: " + "; ".join(drift + problems) + " [class inventory_drift]",
        )
    if problems:
        first = next(
            (str(e["class"]) for e in as_list(data.get("errors")) if (e["system"], e["attribute"]) in unreadable),
            "api_error",
        )
        raise ProbeFailure(first, "expected to compare the live state with the contracts; " + "; ".join(problems))
    ctx.details["summary"] = matrix.summary()
