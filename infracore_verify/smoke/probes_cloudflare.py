"""The Cloudflare smoke probes: token, zones, DNS records, tunnels and their ingress, registrar, inventory sync."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from infracore_verify.contracts.model import as_list, mapping
from infracore_verify.smoke.context import ProbeContext, ProbeFailure, probe


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
