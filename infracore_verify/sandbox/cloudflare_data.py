"""What the Cloudflare emulation serves: the world (seed plus state faults) and the API objects built from it.

`CloudflareWorld.of(seed, faults, account_id)` applies the Cloudflare state faults (`faults.CLOUDFLARE_STATE_KINDS`)
to the seed: the token's owner (`user_token`), tunnel management (`tunnel_remote`, `tunnel_unconfigured`) and
status (`tunnel_down`, `tunnel_degraded`, `tunnel_inactive`), zone status (`zone_pending`, `zone_moved`). A state
fault's PATH picks objects by their API path (`/zones/<id>`, `/accounts/<account>/cfd_tunnel/<id>`); later faults
win. The object builders render zones, DNS records, tunnels, tunnel configurations and registrar registrations
the way the v4 API and the `cloudflare` SDK's models (5.9.0) describe them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from infracore_verify.sandbox.faults import FaultSpec
from infracore_verify.sandbox.seed import SandboxSeed, TunnelSeed, ZoneSeed, stable_hex, stable_uuid

BASE_PATH = "/client/v4"
CREATED = "2026-01-15T09:30:00.123456Z"
MODIFIED = "2026-11-20T08:00:00.654321Z"
NAME_SERVERS = ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"]
_TUNNEL_STATUS = {"tunnel_down": "down", "tunnel_degraded": "degraded", "tunnel_inactive": "inactive"}
_ZONE_STATUS = {"zone_pending": "pending", "zone_moved": "moved"}


def _picks(spec: FaultSpec, relative_path: str) -> bool:
    return spec.matches("GET", relative_path, BASE_PATH + relative_path)


@dataclass(frozen=True)
class CloudflareWorld:
    """The Cloudflare state one request sees: token owner and restrictions, zones and tunnels with their status."""

    token_owner: str
    ip_restricted: tuple[FaultSpec, ...]
    zones: tuple[ZoneSeed, ...]
    tunnels: tuple[TunnelSeed, ...]

    @classmethod
    def of(cls, seed: SandboxSeed, faults: Iterable[FaultSpec], account_id: str) -> CloudflareWorld:
        """Return the seed with the active Cloudflare state faults applied."""
        owner = seed.cloudflare_token_owner
        restricted: list[FaultSpec] = []
        zones = list(seed.zones)
        tunnels = list(seed.tunnels)
        for spec in faults:
            if spec.kind == "user_token":
                owner = "user"
            elif spec.kind == "token_ip_restricted":
                restricted.append(spec)
            elif spec.kind in _ZONE_STATUS:
                zones = [
                    replace(z, status=_ZONE_STATUS[spec.kind]) if _picks(spec, f"/zones/{z.id}") else z for z in zones
                ]
            elif spec.kind.startswith("tunnel_"):
                tunnels = [
                    _tunnel_state(t, spec.kind) if _picks(spec, f"/accounts/{account_id}/cfd_tunnel/{t.id}") else t
                    for t in tunnels
                ]
        return cls(owner, tuple(restricted), tuple(zones), tuple(tunnels))

    def ip_refuses(self, method: str, relative_path: str, full_path: str) -> bool:
        """Return True when an IP restriction covers this Bearer request."""
        return any(spec.matches(method, relative_path, full_path) for spec in self.ip_restricted)


def _tunnel_state(tunnel: TunnelSeed, kind: str) -> TunnelSeed:
    if kind == "tunnel_remote":
        return replace(tunnel, source="cloudflare", configured=True)
    if kind == "tunnel_unconfigured":
        return replace(tunnel, source="cloudflare", configured=False)
    return replace(tunnel, status=_TUNNEL_STATUS[kind])


def name_matches(name: str, wanted: str) -> bool:
    """Match a zone name against the `name` filter (`contains:`, `starts_with:`, ... operators, else equality)."""
    operator, _, value = wanted.partition(":")
    if value and operator in ("contains", "starts_with", "ends_with", "equal", "not_equal"):
        return {
            "contains": value in name,
            "starts_with": name.startswith(value),
            "ends_with": name.endswith(value),
            "equal": name == value,
            "not_equal": name != value,
        }[operator]
    return name == wanted


def zone_object(seed: SandboxSeed, account_id: str, zone: ZoneSeed) -> dict[str, Any]:
    """Return the zone as the API lists it."""
    return {
        "id": zone.id,
        "name": zone.name,
        "status": zone.status,
        "paused": False,
        "type": "full",
        "development_mode": 0,
        "name_servers": list(NAME_SERVERS),
        "original_name_servers": None,
        "original_registrar": "cloudflare, inc." if zone.registrar else None,
        "original_dnshost": None,
        "created_on": CREATED,
        "modified_on": MODIFIED,
        "activated_on": CREATED if zone.status == "active" else None,
        "meta": {
            "step": 2,
            "custom_certificate_quota": 0,
            "page_rule_quota": 3,
            "phishing_detected": False,
        },
        "owner": {"id": stable_hex("owner", account_id), "type": "organization", "name": seed.account_name},
        "account": {"id": account_id, "name": seed.account_name},
        "permissions": ["#zone:read", "#dns_records:read"],
        "plan": {"id": stable_hex("plan", "free"), "name": "Free Website", "price": 0, "currency": "USD"},
    }


def dns_record_objects(seed: SandboxSeed, zone: ZoneSeed) -> list[dict[str, Any]]:
    """Return the zone's records: apex A, www CNAME, SPF and DMARC TXT, tunnel CNAMEs, optional filler."""
    plan: list[tuple[str, str, str, bool]] = [
        ("A", zone.name, "192.0.2.10", True),
        ("CNAME", f"www.{zone.name}", zone.name, True),
        ("TXT", zone.name, "v=spf1 -all", False),
        ("TXT", f"_dmarc.{zone.name}", f"v=DMARC1; p=reject; rua=mailto:dmarc@{zone.name}", False),
    ]
    for tunnel in seed.tunnels:
        if tunnel.deleted:
            continue
        for rule in tunnel.ingress:
            host = rule.hostname
            if host and (host == zone.name or host.endswith("." + zone.name)):
                plan.append(("CNAME", host, f"{tunnel.id}.cfargotunnel.com", True))
    for n in range(1, seed.extra_dns_records + 1):
        plan.append(("TXT", f"filler-{n:03d}.{zone.name}", f"sandbox filler record {n}", False))
    return [
        {
            "id": stable_hex("dns", zone.id, rtype, name, content),
            "zone_id": zone.id,
            "zone_name": zone.name,
            "name": name,
            "type": rtype,
            "content": content,
            "proxiable": rtype in ("A", "CNAME"),
            "proxied": proxied,
            "ttl": 1 if proxied else 3600,
            "settings": {},
            "meta": {"auto_added": False, "source": "primary"},
            "tags": [],
            "created_on": CREATED,
            "modified_on": MODIFIED,
        }
        for rtype, name, content, proxied in plan
    ]


def tunnel_object(account_id: str, tunnel: TunnelSeed) -> dict[str, Any]:
    """Return the tunnel as the API lists it (null timestamps left out, as the 2024 spec types them)."""
    body: dict[str, Any] = {
        "id": tunnel.id,
        "account_tag": account_id,
        "name": tunnel.name,
        "status": tunnel.status,
        "tun_type": "cfd_tunnel",
        "remote_config": tunnel.source == "cloudflare",
        "config_src": tunnel.source,
        "metadata": {},
        "created_at": CREATED,
        "connections": [],
    }
    if tunnel.deleted:
        body["deleted_at"] = MODIFIED
        body["conns_inactive_at"] = MODIFIED
    elif tunnel.status == "down":
        body["conns_active_at"] = CREATED
        body["conns_inactive_at"] = MODIFIED
    elif tunnel.status in ("healthy", "degraded"):
        body["conns_active_at"] = CREATED
        colos = ("fra06", "ams01") if tunnel.status == "healthy" else ("fra06",)
        body["connections"] = [
            {
                "id": stable_uuid("connection", tunnel.id, colo),
                "uuid": stable_uuid("connection", tunnel.id, colo),
                "client_id": stable_uuid("connector", tunnel.id),
                "client_version": "2026.11.0",
                "colo_name": colo,
                "is_pending_reconnect": tunnel.status == "degraded",
                "opened_at": MODIFIED,
                "origin_ip": "198.51.100.7",
            }
            for colo in colos
        ]
    return body


def configuration_object(account_id: str, tunnel: TunnelSeed) -> dict[str, Any]:
    """Return the tunnel's configuration: the ingress when managed remotely, else config null (source local)."""
    result: dict[str, Any] = {
        "account_id": account_id,
        "tunnel_id": tunnel.id,
        "version": 0,
        "source": tunnel.source,
        "created_at": MODIFIED,
        "config": None,
    }
    if tunnel.source != "cloudflare" or not tunnel.configured:
        return result
    ingress: list[dict[str, Any]] = []
    for rule in tunnel.ingress:
        item: dict[str, Any] = {}
        if rule.hostname:
            item["hostname"] = rule.hostname
        if rule.path:
            item["path"] = rule.path
        item["service"] = rule.service
        item["originRequest"] = {}
        ingress.append(item)
    result["version"] = 3
    result["config"] = {"ingress": ingress, "originRequest": {}, "warp-routing": {"enabled": False}}
    return result


def registration_object(zone: ZoneSeed) -> dict[str, Any]:
    """Return a registrar registration (`GET .../registrar/registrations`): the domain is `domain_name`."""
    return {
        "domain_name": zone.name,
        "status": "active",
        "auto_renew": True,
        "locked": True,
        "privacy_mode": "redaction",
        "created_at": CREATED,
        "expires_at": "2027-01-15T23:59:59Z",
    }
