"""The Cloudflare smoke probes: token posture, zones, DNS records, tunnels and their ingress, registrar, inventory sync.

What the contracts expect of live objects (capabilities.yaml, cloudflare.inventory.yaml, the baseline's
auth_posture): every inventory zone `active` (pending, initializing or moved fail), every inventory tunnel
`healthy` (degraded, down and inactive, i.e. never run, fail), both with class `status_drift` and a message naming
the object and its state. The API token verifies at its owner's endpoint and holds every permission the baseline
reads with: a token refused for one (403 code 10000, or 9109 for an IP restriction) fails
`cloudflare.token.verify` even when the Global API Key fallback keeps the other reads going. A read that needed
the fallback is listed in the probe's `details["auth_fallback"]` and warned about.

A tunnel configuration with `config: null` is not a schema problem: with `source: local` cloudflared's own config
file holds the ingress, which the API cannot show (said, not called drift); with `source: cloudflare` the tunnel is
managed remotely but not configured yet (its declared hostnames are missing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from infracore_verify.clients.cloudflare import TOKEN_OWNERS, token_owner
from infracore_verify.clients.http import ApiResult, PagedResult
from infracore_verify.contracts.model import as_list, mapping
from infracore_verify.contracts.sets import Contracts
from infracore_verify.smoke.context import ProbeContext, ProbeFailure, ProbeSetupError, probe

LOCAL_INGRESS = "ingress managed locally (source: local), not readable from the API"
UNCONFIGURED = "managed remotely but not configured yet (config: null)"
TUNNEL_STATES = {
    "degraded": "degraded (serving, but a connector is unhealthy)",
    "down": "down (no connection to the Cloudflare edge)",
    "inactive": "inactive (never run)",
}


def _names(items: Iterable[Any], key: str = "name") -> set[str]:
    return {str(mapping(i).get(key)) for i in items if mapping(i).get(key)}


def _fallback(ctx: ProbeContext, what: str, result: ApiResult | PagedResult) -> None:
    """Note a read that only succeeded through the Global API Key fallback (the token was refused)."""
    if result.fallback_used:
        ctx.details.setdefault("auth_fallback", []).append(what)


def _call(ctx: ProbeContext, what: str, result: ApiResult, schema: str) -> Any:
    _fallback(ctx, what, result)
    return ctx.call(what, result, schema)


def _listing(ctx: ProbeContext, what: str, result: PagedResult, schema: str) -> list[Any]:
    _fallback(ctx, what, result)
    return ctx.listing(what, result, schema)


def _token_owner_setting(ctx: ProbeContext) -> str:
    """Return `systems.cloudflare.token_owner` of the run's environment file (default `auto`: detect)."""
    contracts, name = ctx.settings.get("contracts"), ctx.settings.get("environment")
    if not isinstance(contracts, Contracts) or not name:
        return "auto"
    doc = contracts.environment(str(name))
    owner = mapping(mapping(mapping(doc.data).get("systems")).get("cloudflare")).get("token_owner", "auto")
    if owner not in TOKEN_OWNERS:
        raise ProbeSetupError(
            f"{doc.display} $.systems.cloudflare.token_owner: {owner!r} is not one of {', '.join(TOKEN_OWNERS)}"
        )
    return str(owner)


@probe("cloudflare.token.verify")
def cloudflare_token_verify(ctx: ProbeContext) -> None:
    """Verifies the API token at its owner's endpoint (user or account) and that it holds the baseline's permissions."""
    client = ctx.client("cloudflare")
    result = client.verify_token(_token_owner_setting(ctx))
    owner = token_owner(result)
    endpoint = "GET /accounts/{account}/tokens/verify" if owner == "account" else "GET /user/tokens/verify"
    body = ctx.call(endpoint, result, "cloudflare.token-verify")
    status = mapping(mapping(body).get("result")).get("status")
    if status != "active":
        raise ProbeFailure("token_invalid", f"expected token status active; got {status!r} [class token_invalid]")
    ctx.details.update(verify_endpoint=endpoint, token_owner=owner)
    checks = client.token_access()
    for check in checks:
        ctx.record(check.result)
    refused = [c for c in checks if c.refused]
    if refused:
        fallback = " (the Global API Key fallback keeps these reads going; it does not make the token fit)"
        raise ProbeFailure(
            "token_invalid",
            f"expected the {owner}-owned API token to hold every permission the baseline reads with; refused: "
            + "; ".join(c.describe() for c in refused)
            + (fallback if client.has_global_key else "")
            + " [class token_invalid]",
        )
    for check in checks:
        if not check.result.ok:
            raise ProbeFailure(
                check.result.failure_class or "api_error",
                f"expected GET {check.endpoint} -> 2xx with the API token ({check.permission}); got "
                f"{check.result.describe()} [class {check.result.failure_class}]",
            )
    granted = ", ".join(c.permission for c in checks) or "none asked"
    ctx.details["summary"] = f"token active, {owner}-owned, verified at {endpoint}; permissions granted: {granted}"


def _expect_status(
    ctx: ProbeContext,
    kind: str,
    items: list[Any],
    declared: set[str],
    expected: str,
    shown: Mapping[str, str] | None = None,
) -> None:
    """Fail with status_drift naming every inventory `kind` whose status is not `expected`; warn about the rest.

    `shown` maps a status to the words the messages use for it (default: the status itself).
    """
    bad: list[str] = []
    for item in map(mapping, items):
        name, status = str(item.get("name")), str(item.get("status"))
        if status == expected:
            continue
        state = (shown or {}).get(status, status)
        if name in declared:
            bad.append(f"{kind} {name} ({item.get('id')}) is {state}")
        else:
            ctx.warnings.append(f"{kind} {name} (not in the inventory) is {state}")
    if bad:
        raise ProbeFailure(
            "status_drift", f"expected every inventory {kind} {expected}; " + "; ".join(bad) + " [class status_drift]"
        )


def _inventory_zone_names(ctx: ProbeContext) -> set[str]:
    return _names(as_list(ctx.inventory.get("zones")))


@probe("cloudflare.zone.list")
def cloudflare_zone_list(ctx: ProbeContext) -> None:
    """Lists every zone, following all pages, expects at least one, and every inventory zone active."""
    zones = _listing(ctx, "GET /zones", ctx.client("cloudflare").zones(), "cloudflare.zones")
    if not zones:
        raise ProbeFailure("inventory_drift", "expected at least one zone; got none [class inventory_drift]")
    _expect_status(ctx, "zone", zones, _inventory_zone_names(ctx), "active")
    ctx.details["summary"] = f"{len(zones)} zones"


@probe("cloudflare.dns.records")
def cloudflare_dns_records(ctx: ProbeContext) -> None:
    """Lists the DNS records of every zone and notes zones without SPF or DMARC."""
    client = ctx.client("cloudflare")
    zones = _listing(ctx, "GET /zones", client.zones(), "cloudflare.zones")
    total = 0
    for zone in zones:
        name, zone_id = mapping(zone).get("name"), mapping(zone).get("id")
        records = _listing(
            ctx, f"GET /zones/{zone_id}/dns_records", client.dns_records(zone_id), "cloudflare.dns-records"
        )
        total += len(records)
        txt = [mapping(r) for r in records if mapping(r).get("type") == "TXT"]
        if not any(r.get("name") == name and "v=spf1" in str(r.get("content")) for r in txt):
            ctx.warnings.append(f"zone {name}: no SPF record (apex TXT v=spf1)")
        if not any(r.get("name") == f"_dmarc.{name}" and "v=DMARC1" in str(r.get("content")) for r in txt):
            ctx.warnings.append(f"zone {name}: no DMARC record (_dmarc TXT v=DMARC1)")
    ctx.details["summary"] = f"{total} records in {len(zones)} zones"


def _inventory_tunnels(ctx: ProbeContext) -> list[dict[str, Any]]:
    return [mapping(t) for t in as_list(ctx.inventory.get("tunnels"))]


@probe("cloudflare.tunnel.list")
def cloudflare_tunnel_list(ctx: ProbeContext) -> None:
    """Lists the live tunnels of the account (is_deleted=false) and expects every inventory tunnel healthy."""
    tunnels = _listing(
        ctx, "GET /accounts/{account}/cfd_tunnel", ctx.client("cloudflare").tunnels(), "cloudflare.tunnels"
    )
    _expect_status(ctx, "tunnel", tunnels, _names(_inventory_tunnels(ctx)), "healthy", TUNNEL_STATES)
    ctx.details["summary"] = f"{len(tunnels)} tunnels"


def ingress_state(body: Any) -> tuple[str, list[str]]:
    """Return where a configuration's ingress lives and its hostnames: (`remote`, hosts), (`local`, []), ...

    States: `remote` (config.ingress served), `local` (source local: cloudflared's config file, not readable),
    `unconfigured` (source cloudflare, config null), `unknown` (config null without a source).
    """
    result = mapping(mapping(body).get("result"))
    config = result.get("config")
    if isinstance(config, dict):
        hosts = [str(mapping(r)["hostname"]) for r in as_list(config.get("ingress")) if mapping(r).get("hostname")]
        return ("remote", hosts)
    source = result.get("source")
    return ({"local": "local", "cloudflare": "unconfigured"}.get(str(source), "unknown"), [])


def _declared_hosts(tunnel: dict[str, Any]) -> set[str]:
    return {str(mapping(r).get("hostname")) for r in as_list(tunnel.get("ingress")) if mapping(r).get("hostname")}


def _compare_ingress(ctx: ProbeContext, body: Any, tunnel: dict[str, Any], name: str) -> tuple[list[str], int]:
    """Return the ingress drift lines of one tunnel and its live rule count; a local tunnel is noted, not compared."""
    state, hosts = ingress_state(body)
    declared = _declared_hosts(tunnel)
    if state in ("local", "unknown"):
        why = LOCAL_INGRESS if state == "local" else "config: null without a source, no ingress readable from the API"
        ctx.details.setdefault("not_readable", []).append(
            f"tunnel {name}: {why}; {len(declared)} inventory hostname(s) not compared"
        )
        return [], 0
    if state == "unconfigured":
        gone = ", ".join(sorted(declared))
        return ([f"tunnel {name} is {UNCONFIGURED}: MISSING_INGRESS {gone}"] if declared else []), 0
    return _diff("INGRESS", set(hosts), declared, f" (tunnel {name})"), len(hosts)


@probe("cloudflare.tunnel.ingress.status")
def cloudflare_tunnel_ingress(ctx: ProbeContext) -> None:
    """Reads each inventory tunnel's configuration and compares remotely managed ingress with the inventory."""
    client = ctx.client("cloudflare")
    drift: list[str] = []
    routes = 0
    for tunnel in _inventory_tunnels(ctx):
        tunnel_id = str(tunnel.get("id"))
        body = _call(
            ctx,
            f"GET /accounts/{{account}}/cfd_tunnel/{tunnel_id}/configurations",
            client.tunnel_configuration(tunnel_id),
            "cloudflare.tunnel-configuration",
        )
        lines, count = _compare_ingress(ctx, body, tunnel, str(tunnel.get("name")))
        drift += lines
        routes += count
    if drift:
        raise ProbeFailure(
            "inventory_drift",
            "tunnel ingress drifts from cloudflare.inventory.yaml: " + "; ".join(drift) + " [class inventory_drift]",
        )
    local = ctx.details.get("not_readable", [])
    ctx.details["summary"] = f"{routes} ingress rules" + (f"; {'; '.join(local)}" if local else "")


def _diff(kind: str, live: set[str], declared: set[str], suffix: str = "") -> list[str]:
    return [f"MISSING_{kind} {n}{suffix}" for n in sorted(declared - live)] + [
        f"EXTRA_{kind} {n}{suffix}" for n in sorted(live - declared)
    ]


@probe("cloudflare.registrar.status")
def cloudflare_registrar(ctx: ProbeContext) -> None:
    """Lists the registrar registrations (all cursor pages) and expects every `registrar: true` inventory zone."""
    registrations = _listing(
        ctx,
        "GET /accounts/{account}/registrar/registrations",
        ctx.client("cloudflare").registrar_registrations(),
        "cloudflare.registrar-registrations",
    )
    live = {str(mapping(d).get("domain_name")) for d in registrations if mapping(d).get("domain_name")}
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
    ctx.details["summary"] = f"{len(live)} registrar registrations"


@probe("cloudflare.inventory.sync")
def cloudflare_inventory_sync(ctx: ProbeContext) -> None:
    """Compares live zones, tunnels and ingress hostnames with cloudflare.inventory.yaml, naming each difference."""
    client = ctx.client("cloudflare")
    zones = _listing(ctx, "GET /zones", client.zones(), "cloudflare.zones")
    tunnels = _listing(ctx, "GET /accounts/{account}/cfd_tunnel", client.tunnels(), "cloudflare.tunnels")
    drift = _diff("ZONE", _names(zones), _names(as_list(ctx.inventory.get("zones"))))
    drift += _diff("TUNNEL", _names(tunnels), _names(_inventory_tunnels(ctx)))
    live_ids = {str(mapping(t).get("name")): str(mapping(t).get("id")) for t in tunnels}
    for tunnel in _inventory_tunnels(ctx):
        name = str(tunnel.get("name"))
        if name not in live_ids:
            continue
        body = _call(
            ctx,
            f"GET /accounts/{{account}}/cfd_tunnel/{live_ids[name]}/configurations",
            client.tunnel_configuration(live_ids[name]),
            "cloudflare.tunnel-configuration",
        )
        drift += _compare_ingress(ctx, body, tunnel, name)[0]
    if drift:
        raise ProbeFailure(
            "inventory_drift",
            "live Cloudflare drifts from cloudflare.inventory.yaml: " + "; ".join(drift) + " [class inventory_drift]",
        )
    local = ctx.details.get("not_readable", [])
    ctx.details["summary"] = f"{len(zones)} zones and {len(tunnels)} tunnels match the inventory" + (
        f"; {'; '.join(local)}" if local else ""
    )
