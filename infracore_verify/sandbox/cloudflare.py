"""Cloudflare API v4 emulation under /client/v4: token verify, zones, DNS records, tunnels, tunnel config, registrar.

The world it serves is the seed with the Cloudflare state faults applied (`cloudflare_data.CloudflareWorld`); by
default it is today's real one: an account-owned API token, the inventory's tunnel managed locally (its
configuration answers `config: null`, `source: local`), and the retired registrar endpoint.

Token ownership (API_FACTS, corrections 2026-12): an account-owned token verifies only at
`/accounts/{account_id}/tokens/verify`; `/user/tokens/verify` answers it 401 code 1000 "Invalid API Token". A
user-owned token (`user_token`) is the other way round. Every other endpoint accepts either. An IP-restricted
token (`token_ip_restricted`) gets 403 code 9109 "Cannot use the access token from location: <ip>" on every
Bearer request; a permission-limited token is a `token_403` fault with a PATH (403 code 10000).

Registrar: `GET /accounts/{a}/registrar/domains` reached end of life on 2026-09-27 and answers like a route the API
no longer has, 404 code 7003 "No route for the URI" (the vendor documents no other post-EOL answer; this is the
sandbox's reading). `GET /accounts/{a}/registrar/registrations` replaces it: cursor paging (`cursor`, `per_page`
1-50, default 20; `result_info: {count, cursor, per_page}`, an empty cursor on the last page), each item names its
domain `domain_name`. A cursor the sandbox did not hand out answers 400 code 1004.

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

import base64
import binascii
import copy
import math
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from werkzeug.wrappers import Request

from infracore_verify.sandbox._http import EmulatedSystem, Reply, Route
from infracore_verify.sandbox.cloudflare_data import (
    CloudflareWorld,
    configuration_object,
    dns_record_objects,
    name_matches,
    registration_object,
    tunnel_object,
    zone_object,
)
from infracore_verify.sandbox.seed import stable_hex

VERIFY_MESSAGE = {"code": 10000, "message": "This API Token is valid and active", "type": None}
REGISTRATIONS_PER_PAGE = (20, 1, 50)
"""(default, min, max) per_page of the registrations listing: the sandbox's choice, the vendor documents none."""


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
    result: Any, result_info: Mapping[str, object] | None = None, messages: list[Any] | None = None
) -> dict[str, Any]:
    """Return the documented success envelope."""
    body: dict[str, Any] = {"success": True, "errors": [], "messages": messages or [], "result": result}
    if result_info is not None:
        body["result_info"] = dict(result_info)
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
            Route(f"{b}/accounts/<account_id>/tokens/verify", "cloudflare.account-token-verify", self.account_verify),
            Route(f"{b}/zones", "cloudflare.zones", self.zones),
            Route(f"{b}/zones/<zone_id>/dns_records", "cloudflare.dns-records", self.dns_records),
            Route(f"{b}/accounts/<account_id>/cfd_tunnel", "cloudflare.tunnels", self.tunnels),
            Route(
                f"{b}/accounts/<account_id>/cfd_tunnel/<tunnel_id>/configurations",
                "cloudflare.tunnel-configuration",
                self.tunnel_configuration,
            ),
            Route(
                f"{b}/accounts/<account_id>/registrar/registrations",
                "cloudflare.registrar-registrations",
                self.registrar_registrations,
            ),
            Route(f"{b}/accounts/<account_id>/registrar/domains", "cloudflare.retired", self.retired),
            Route(f"{b}/accounts/<account_id>/registrar/domains/<name>", "cloudflare.retired", self.retired),
        ]

    @property
    def account_id(self) -> str:
        """Return the account id the sandbox serves (the `account_id` credential)."""
        return self.ctx.own["account_id"]

    def world(self) -> CloudflareWorld:
        """Return what the API serves now: the seed with the active Cloudflare state faults applied."""
        return CloudflareWorld.of(self.ctx.seed, self.ctx.faults.active(self.name), self.account_id)

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
        """Drop result_info and each result object's `id`, `domain_name`, `config` and `source` (all documented)."""
        body = copy.deepcopy(payload)
        body.pop("result_info", None)
        result = body.get("result")
        items = result if isinstance(result, list) else [result]
        for item in items:
            if isinstance(item, dict):
                item.pop("id", None)
                for key in ("domain_name", "config", "source"):
                    item.pop(key, None)
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
            if self.world().ip_refuses(request.method, self.relative_path(request.path), request.path):
                where = request.remote_addr or "unknown"
                raise _AuthError(self.fail(403, 9109, f"Cannot use the access token from location: {where}"))
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

    def check_account(self, request: Request, account_id: str) -> Reply | None:
        """Return the refusal for this account (auth first, then existence), or None."""
        refusal = self.guarded(request)
        if refusal is not None:
            return refusal
        if account_id != self.account_id:
            return self.unknown_object(request)
        return None

    # -- endpoints ----------------------------------------------------------------------------------------

    def _verify(self, request: Request, owner: str) -> Reply:
        """Verify the Bearer token at the endpoint of `owner`; X-Auth-* headers get 400 1001."""
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
        if self.world().token_owner != owner:
            return self.fail(401, 1000, "Invalid API Token")
        token_id = stable_hex("token", self.ctx.own["api_token"])
        return self.json(200, success({"id": token_id, "status": "active"}, messages=[dict(VERIFY_MESSAGE)]))

    def token_verify(self, request: Request) -> Reply:
        """GET /user/tokens/verify: a user-owned token only; an account-owned one gets 401 1000."""
        return self._verify(request, "user")

    def account_verify(self, request: Request, account_id: str) -> Reply:
        """GET /accounts/{account_id}/tokens/verify: an account-owned token only; a user-owned one gets 401 1000."""
        reply = self._verify(request, "account")
        if reply.status == 200 and account_id != self.account_id:
            return self.unknown_object(request)
        return reply

    def zones(self, request: Request) -> Reply:
        """GET /zones: paginated (per_page 5-50, default 20), filters name/status/account.id/account.name."""
        refusal = self.guarded(request)
        if refusal is not None:
            return refusal
        zones = list(self.world().zones)
        name = request.args.get("name")
        if name:
            zones = [z for z in zones if name_matches(z.name, name)]
        status = request.args.get("status")
        if status:
            zones = [z for z in zones if z.status == status]
        account_id = request.args.get("account.id")
        if account_id and account_id != self.account_id:
            zones = []
        account_name = request.args.get("account.name")
        if account_name and account_name != self.ctx.seed.account_name:
            zones = []
        seed = self.ctx.seed
        return self.paged(request, [zone_object(seed, self.account_id, z) for z in zones], 20, 5, 50)

    def dns_records(self, request: Request, zone_id: str) -> Reply:
        """GET /zones/{zone_id}/dns_records: paginated (per_page default 100), filters type/name/content."""
        refusal = self.guarded(request)
        if refusal is not None:
            return refusal
        zone = next((z for z in self.ctx.seed.zones if z.id == zone_id), None)
        if zone is None:
            return self.unknown_object(request)
        records = dns_record_objects(self.ctx.seed, zone)
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
        tunnels = list(self.world().tunnels)
        is_deleted = request.args.get("is_deleted", "").lower()
        if is_deleted in ("false", "0"):
            tunnels = [t for t in tunnels if not t.deleted]
        elif is_deleted in ("true", "1"):
            tunnels = [t for t in tunnels if t.deleted]
        for key, attr in (("name", "name"), ("uuid", "id"), ("status", "status")):
            wanted = request.args.get(key)
            if wanted:
                tunnels = [t for t in tunnels if getattr(t, attr) == wanted]
        return self.paged(request, [tunnel_object(self.account_id, t) for t in tunnels], 20, 1, 1000)

    def tunnel_configuration(self, request: Request, account_id: str, tunnel_id: str) -> Reply:
        """GET /accounts/{a}/cfd_tunnel/{tunnel_id}/configurations: the ingress, or config null when not remote."""
        refusal = self.check_account(request, account_id)
        if refusal is not None:
            return refusal
        tunnel = next((t for t in self.world().tunnels if t.id == tunnel_id), None)
        if tunnel is None:
            return self.unknown_object(request)
        return self.json(200, success(configuration_object(self.account_id, tunnel)))

    def registrar_registrations(self, request: Request, account_id: str) -> Reply:
        """GET /accounts/{a}/registrar/registrations: one registration per registrar zone, cursor paging."""
        refusal = self.check_account(request, account_id)
        if refusal is not None:
            return refusal
        items = [registration_object(z) for z in self.ctx.seed.zones if z.registrar]
        default, low, high = REGISTRATIONS_PER_PAGE
        raw = request.args.get("per_page") or str(default)
        cursor = request.args.get("cursor") or ""
        try:
            per_page = min(high, max(low, int(raw)))
        except ValueError:
            return self.fail(400, 1004, f"Invalid value for parameter per_page: {raw!r} is not an integer")
        offset = _cursor_offset(cursor) if cursor else 0
        if offset is None or offset > len(items):
            return self.fail(400, 1004, "Invalid value for parameter cursor")
        chunk = items[offset : offset + per_page]
        end = offset + len(chunk)
        info = {"count": len(chunk), "per_page": per_page, "cursor": _cursor(end) if end < len(items) else ""}
        return self.json(200, success(chunk, info))

    def retired(self, request: Request, account_id: str, name: str | None = None) -> Reply:
        """GET /accounts/{a}/registrar/domains[/{name}]: past its end of life (2026-09-27), no route any more."""
        return self.not_found(request)


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"sandbox-offset:{offset}".encode()).decode().rstrip("=")


def _cursor_offset(cursor: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    prefix, _, number = text.partition(":")
    return int(number) if prefix == "sandbox-offset" and number.isdigit() else None
