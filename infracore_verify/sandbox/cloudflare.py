"""Cloudflare API v4 emulation under /client/v4: token verify, zones, DNS records, tunnels, tunnel config, registrar.

Auth, as observed on the real API (API_FACTS §1.4):

- both X-Auth-Email and X-Auth-Key present: Global API Key auth. A malformed email (no '@') gives 400 6003 with
  error_chain 6102, a malformed key (empty, whitespace, or the API token sent as a key) 400 6003 with chain 6103,
  a well-formed but wrong pair 403 10000 "Authentication error".
- otherwise `Authorization: Bearer <token>`: the Global API Key sent as a token (or a malformed header) gives
  400 6003 with chain 6111, a wrong token 403 10000.
- only one X-Auth-* header, or nothing: 400 9106 "Missing X-Auth-Key, X-Auth-Email or Authorization headers".
- `/user/tokens/verify` is token-only: without a Bearer header it answers 400 1001 'Missing "Authorization" header'.

Unknown routes answer 404 code 7003 "No route for the URI"; unknown account, zone or tunnel ids 404 code 7003
"Could not route to <path>, perhaps your object identifier is invalid?". Codes for 405 (7001) and bad
paging parameters (1004) are the sandbox's own choice: the vendor documents none.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from werkzeug.wrappers import Request

from infracore_verify.sandbox._http import EmulatedSystem, Reply, Route
from infracore_verify.sandbox.seed import TunnelSeed, ZoneSeed, stable_hex, stable_uuid

CREATED = "2026-01-15T09:30:00.123456Z"
MODIFIED = "2026-11-20T08:00:00.654321Z"
VERIFY_MESSAGE = {"code": 10000, "message": "This API Token is valid and active", "type": None}
NAME_SERVERS = ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"]


def _message(code: int, message: str, chain: Iterable[tuple[int, str]] = ()) -> dict[str, Any]:
    item: dict[str, Any] = {"code": code, "message": message}
    links = [{"code": c, "message": m} for c, m in chain]
    if links:
        item["error_chain"] = links
    return item


def failure(*errors: dict[str, Any]) -> dict[str, Any]:
    """Return the documented failure envelope."""
    return {"success": False, "errors": list(errors), "messages": [], "result": None}


def success(
    result: Any, result_info: dict[str, int] | None = None, messages: list[Any] | None = None
) -> dict[str, Any]:
    """Return the documented success envelope."""
    body: dict[str, Any] = {"success": True, "errors": [], "messages": messages or [], "result": result}
    if result_info is not None:
        body["result_info"] = result_info
    return body


class _AuthError(Exception):
    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


class Cloudflare(EmulatedSystem):
    """The Cloudflare API v4 read surface the suite probes."""

    name = "cloudflare"
    base_path = "/client/v4"

    def routes(self) -> list[Route]:
        """Return the emulated endpoints."""
        b = self.base_path
        return [
            Route(f"{b}/user/tokens/verify", "cloudflare.token-verify", self.token_verify),
            Route(f"{b}/zones", "cloudflare.zones", self.zones),
            Route(f"{b}/zones/<zone_id>/dns_records", "cloudflare.dns-records", self.dns_records),
            Route(f"{b}/accounts/<account_id>/cfd_tunnel", "cloudflare.tunnels", self.tunnels),
            Route(
                f"{b}/accounts/<account_id>/cfd_tunnel/<tunnel_id>/configurations",
                "cloudflare.tunnel-configuration",
                self.tunnel_configuration,
            ),
            Route(
                f"{b}/accounts/<account_id>/registrar/domains", "cloudflare.registrar-domains", self.registrar_domains
            ),
        ]

    @property
    def account_id(self) -> str:
        """Return the account id the sandbox serves (the `account_id` credential)."""
        return self.ctx.own["account_id"]

    # -- error shapes -------------------------------------------------------------------------------------

    def fail(self, status: int, code: int, message: str, chain: Iterable[tuple[int, str]] = ()) -> Reply:
        """Return a failure envelope with one error."""
        return self.json(status, failure(_message(code, message, chain)))

    def error(self, request: Request, status: int, message: str | None = None) -> Reply:
        """Return the failure envelope for an injected or internal status."""
        code = {401: 10000, 403: 10000, 404: 7003, 405: 7001, 429: 971}.get(status, 1000)
        return self.fail(status, code, message or HTTPStatus(status).phrase)

    def rate_limited(self, request: Request, retry_after: int | None) -> Reply:
        """Return 429 code 971 with Retry-After when given."""
        reply = self.fail(429, 971, "Please wait and consider throttling your request speed")
        if retry_after is not None:
            reply.headers.append(("Retry-After", str(retry_after)))
        return reply

    def not_found(self, request: Request) -> Reply:
        """Return 404 code 7003 for an unknown route."""
        return self.fail(404, 7003, "No route for the URI")

    def method_not_allowed(self, request: Request, allowed: Iterable[str]) -> Reply:
        """Return 405 with the failure envelope."""
        reply = self.fail(405, 7001, "Method not allowed for this route")
        reply.headers.append(("Allow", ", ".join(sorted(allowed))))
        return reply

    def token_rejected(self, request: Request, status: int) -> Reply:
        """Reject a Bearer-authenticated request (token fault); the Global API Key is not affected."""
        return self.fail(status, 10000, "Authentication error")

    def unknown_object(self, request: Request) -> Reply:
        """Return 404 7003 for an unknown account, zone or tunnel id."""
        return self.fail(404, 7003, f"Could not route to {request.path}, perhaps your object identifier is invalid?")

    def drift(self, endpoint: str, payload: Any) -> Any:
        """Drop result_info and the `id` of every result object (the documented shape requires both)."""
        body = copy.deepcopy(payload)
        body.pop("result_info", None)
        result = body.get("result")
        items = result if isinstance(result, list) else [result]
        for item in items:
            if isinstance(item, dict):
                item.pop("id", None)
                item.pop("config", None)
        return body

    # -- auth ---------------------------------------------------------------------------------------------

    def authenticate(self, request: Request) -> str:
        """Return "token" or "global" for good credentials; raise _AuthError with the vendor's answer otherwise."""
        creds = self.ctx.own
        email = request.headers.get("X-Auth-Email")
        key = request.headers.get("X-Auth-Key")
        if email is not None and key is not None:
            if "@" not in email or any(c.isspace() for c in email):
                raise _AuthError(
                    self.fail(400, 6003, "Invalid request headers", [(6102, "Invalid format for X-Auth-Email header")])
                )
            if not key or any(c.isspace() for c in key) or key == creds["api_token"]:
                raise _AuthError(
                    self.fail(400, 6003, "Invalid request headers", [(6103, "Invalid format for X-Auth-Key header")])
                )
            if (email, key) != (creds["api_email"], creds["api_key"]):
                raise _AuthError(self.fail(403, 10000, "Authentication error"))
            return "global"
        authorization = request.headers.get("Authorization")
        if authorization is not None:
            scheme, _, token = authorization.partition(" ")
            if scheme != "Bearer" or not token or token == creds["api_key"]:
                raise _AuthError(
                    self.fail(400, 6003, "Invalid request headers", [(6111, "Invalid format for Authorization header")])
                )
            if token != creds["api_token"]:
                raise _AuthError(self.fail(403, 10000, "Authentication error"))
            return "token"
        raise _AuthError(self.fail(400, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers"))

    def guarded(self, request: Request) -> Reply | None:
        """Return the refusal for a read endpoint (health or auth), or None when the request may proceed."""
        if not self.ctx.healthy:
            return self.fail(503, 1000, "Service Unavailable")
        try:
            self.authenticate(request)
        except _AuthError as error:
            return error.reply
        return None

    # -- paging -------------------------------------------------------------------------------------------

    def page(
        self, request: Request, items: list[Any], default: int, low: int, high: int
    ) -> tuple[list[Any], dict[str, int]] | Reply:
        """Slice `items` by page/per_page (per_page clamped to [low, high]) and build result_info."""
        values: dict[str, int] = {}
        for name, fallback in (("page", 1), ("per_page", default)):
            raw = request.args.get(name)
            if raw is None or raw == "":
                values[name] = fallback
                continue
            try:
                values[name] = int(raw)
            except ValueError:
                return self.fail(400, 1004, f"Invalid value for parameter {name}: {raw!r} is not an integer")
        page = max(1, values["page"])
        per_page = min(high, max(low, values["per_page"]))
        chunk = items[(page - 1) * per_page : page * per_page]
        info = {
            "page": page,
            "per_page": per_page,
            "count": len(chunk),
            "total_count": len(items),
            "total_pages": max(1, math.ceil(len(items) / per_page)),
        }
        return chunk, info

    def paged(self, request: Request, items: list[Any], default: int, low: int, high: int) -> Reply:
        """Return a paginated success envelope."""
        sliced = self.page(request, items, default, low, high)
        if isinstance(sliced, Reply):
            return sliced
        chunk, info = sliced
        return self.json(200, success(chunk, info))

    # -- data ---------------------------------------------------------------------------------------------

    def zone_object(self, zone: ZoneSeed) -> dict[str, Any]:
        """Return the zone as the API lists it."""
        seed = self.ctx.seed
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
            "activated_on": CREATED,
            "meta": {
                "step": 2,
                "custom_certificate_quota": 0,
                "page_rule_quota": 3,
                "phishing_detected": False,
            },
            "owner": {"id": stable_hex("owner", self.account_id), "type": "organization", "name": seed.account_name},
            "account": {"id": self.account_id, "name": seed.account_name},
            "permissions": ["#zone:read", "#dns_records:read"],
            "plan": {"id": stable_hex("plan", "free"), "name": "Free Website", "price": 0, "currency": "USD"},
        }

    def dns_record_objects(self, zone: ZoneSeed) -> list[dict[str, Any]]:
        """Return the zone's records: apex A, www CNAME, SPF and DMARC TXT, tunnel CNAMEs, optional filler."""
        plan: list[tuple[str, str, str, bool]] = [
            ("A", zone.name, "192.0.2.10", True),
            ("CNAME", f"www.{zone.name}", zone.name, True),
            ("TXT", zone.name, "v=spf1 -all", False),
            ("TXT", f"_dmarc.{zone.name}", f"v=DMARC1; p=reject; rua=mailto:dmarc@{zone.name}", False),
        ]
        for tunnel in self.ctx.seed.tunnels:
            if tunnel.deleted:
                continue
            for rule in tunnel.ingress:
                host = rule.hostname
                if host and (host == zone.name or host.endswith("." + zone.name)):
                    plan.append(("CNAME", host, f"{tunnel.id}.cfargotunnel.com", True))
        for n in range(1, self.ctx.seed.extra_dns_records + 1):
            plan.append(("TXT", f"filler-{n:03d}.{zone.name}", f"sandbox filler record {n}", False))
        records = []
        for rtype, name, content, proxied in plan:
            records.append(
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
            )
        return records

    def tunnel_object(self, tunnel: TunnelSeed) -> dict[str, Any]:
        """Return the tunnel as the API lists it (null timestamps left out, as the 2024 spec types them)."""
        body: dict[str, Any] = {
            "id": tunnel.id,
            "account_tag": self.account_id,
            "name": tunnel.name,
            "status": tunnel.status,
            "tun_type": "cfd_tunnel",
            "remote_config": True,
            "metadata": {},
            "created_at": CREATED,
            "connections": [],
        }
        if tunnel.deleted:
            body["deleted_at"] = MODIFIED
            body["conns_inactive_at"] = MODIFIED
        elif tunnel.status in ("healthy", "degraded"):
            body["conns_active_at"] = CREATED
            body["connections"] = [
                {
                    "id": stable_uuid("connection", tunnel.id, colo),
                    "uuid": stable_uuid("connection", tunnel.id, colo),
                    "client_id": stable_uuid("connector", tunnel.id),
                    "client_version": "2026.11.0",
                    "colo_name": colo,
                    "is_pending_reconnect": False,
                    "opened_at": MODIFIED,
                    "origin_ip": "198.51.100.7",
                }
                for colo in ("fra06", "ams01")
            ]
        return body

    def check_account(self, request: Request, account_id: str) -> Reply | None:
        """Return the refusal for this account (auth first, then existence), or None."""
        refusal = self.guarded(request)
        if refusal is not None:
            return refusal
        if account_id != self.account_id:
            return self.unknown_object(request)
        return None

    # -- endpoints ----------------------------------------------------------------------------------------

    def token_verify(self, request: Request) -> Reply:
        """GET /user/tokens/verify: token-only; X-Auth-* headers get 400 1001."""
        if not self.ctx.healthy:
            return self.fail(503, 1000, "Service Unavailable")
        if "Authorization" not in request.headers:
            return self.fail(400, 1001, 'Missing "Authorization" header')
        try:
            mode = self.authenticate(request)
        except _AuthError as error:
            return error.reply
        if mode != "token":
            return self.fail(400, 1001, 'Missing "Authorization" header')
        token_id = stable_hex("token", self.ctx.own["api_token"])
        return self.json(200, success({"id": token_id, "status": "active"}, messages=[dict(VERIFY_MESSAGE)]))

    def zones(self, request: Request) -> Reply:
        """GET /zones: paginated (per_page 5-50, default 20), filters name/status/account.id/account.name."""
        refusal = self.guarded(request)
        if refusal is not None:
            return refusal
        zones = list(self.ctx.seed.zones)
        name = request.args.get("name")
        if name:
            zones = [z for z in zones if _name_matches(z.name, name)]
        status = request.args.get("status")
        if status:
            zones = [z for z in zones if z.status == status]
        account_id = request.args.get("account.id")
        if account_id and account_id != self.account_id:
            zones = []
        account_name = request.args.get("account.name")
        if account_name and account_name != self.ctx.seed.account_name:
            zones = []
        return self.paged(request, [self.zone_object(z) for z in zones], 20, 5, 50)

    def dns_records(self, request: Request, zone_id: str) -> Reply:
        """GET /zones/{zone_id}/dns_records: paginated (per_page default 100), filters type/name/content."""
        refusal = self.guarded(request)
        if refusal is not None:
            return refusal
        zone = next((z for z in self.ctx.seed.zones if z.id == zone_id), None)
        if zone is None:
            return self.unknown_object(request)
        records = self.dns_record_objects(zone)
        for key in ("type", "name", "content"):
            wanted = request.args.get(key)
            if wanted:
                records = [r for r in records if str(r[key]).lower() == wanted.lower()]
        return self.paged(request, records, 100, 1, 5_000_000)

    def tunnels(self, request: Request, account_id: str) -> Reply:
        """GET /accounts/{account_id}/cfd_tunnel: is_deleted/name/uuid/status filters, paginated."""
        refusal = self.check_account(request, account_id)
        if refusal is not None:
            return refusal
        tunnels = list(self.ctx.seed.tunnels)
        is_deleted = request.args.get("is_deleted", "").lower()
        if is_deleted in ("false", "0"):
            tunnels = [t for t in tunnels if not t.deleted]
        elif is_deleted in ("true", "1"):
            tunnels = [t for t in tunnels if t.deleted]
        for key, attr in (("name", "name"), ("uuid", "id"), ("status", "status")):
            wanted = request.args.get(key)
            if wanted:
                tunnels = [t for t in tunnels if getattr(t, attr) == wanted]
        return self.paged(request, [self.tunnel_object(t) for t in tunnels], 20, 1, 1000)

    def tunnel_configuration(self, request: Request, account_id: str, tunnel_id: str) -> Reply:
        """GET /accounts/{a}/cfd_tunnel/{tunnel_id}/configurations: the remotely managed ingress."""
        refusal = self.check_account(request, account_id)
        if refusal is not None:
            return refusal
        tunnel = next((t for t in self.ctx.seed.tunnels if t.id == tunnel_id), None)
        if tunnel is None:
            return self.unknown_object(request)
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
        result = {
            "account_id": self.account_id,
            "tunnel_id": tunnel.id,
            "version": 3,
            "source": "cloudflare",
            "created_at": MODIFIED,
            "config": {"ingress": ingress, "originRequest": {}, "warp-routing": {"enabled": False}},
        }
        return self.json(200, success(result))

    def registrar_domains(self, request: Request, account_id: str) -> Reply:
        """GET /accounts/{a}/registrar/domains: one domain per registrar zone, a single page."""
        refusal = self.check_account(request, account_id)
        if refusal is not None:
            return refusal
        domains = [_registrar_domain(z) for z in self.ctx.seed.zones if z.registrar]
        info = {"page": 1, "per_page": max(20, len(domains)), "count": len(domains), "total_count": len(domains)}
        info["total_pages"] = 1
        return self.json(200, success(domains, info))


def _name_matches(name: str, wanted: str) -> bool:
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


def _registrar_domain(zone: ZoneSeed) -> dict[str, Any]:
    return {
        "id": zone.id,
        "name": zone.name,
        "available": False,
        "can_register": False,
        "created_at": CREATED,
        "updated_at": MODIFIED,
        "expires_at": "2027-01-15T23:59:59Z",
        "current_registrar": "Cloudflare",
        "locked": True,
        "auto_renew": True,
        "privacy": True,
        "supported_tld": True,
        "registry_statuses": "clientTransferProhibited",
        "transfer_in": {
            "accept_foa": "ok",
            "approve_transfer": "ok",
            "can_cancel_transfer": False,
            "disable_privacy": "ok",
            "enter_auth_code": "ok",
            "unlock_domain": "ok",
        },
        "registrant_contact": {
            "id": stable_hex("contact", zone.id),
            "first_name": "Sandbox",
            "last_name": "Operator",
            "organization": "infracore-verify sandbox",
            "address": "1 Example Street",
            "city": "Exampleton",
            "state": "EX",
            "zip": "00000",
            "country": "US",
            "phone": "+1 555-0100",
            "email": f"hostmaster@{zone.name}",
        },
    }
