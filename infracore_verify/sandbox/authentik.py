"""Authentik emulation: health endpoints and the /api/v3/ read surface (version, users/me, outposts, system).

Django REST framework behaviour (API_FACTS §4): failed or missing auth answers 403 `{detail}` (never 401):
"Authentication credentials were not provided.", "Malformed header", "Unsupported authentication type",
"Token invalid/expired". Paths keep Django's trailing slash; a request without it is redirected (werkzeug's
308, where Django sends 301). `admin/system/` echoes the request headers, Authorization included, under
Django META names (HTTP_AUTHORIZATION), exactly the leak the client's redaction must handle.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import platform
import re
from http import HTTPStatus
from typing import Any

from werkzeug.wrappers import Request

from infracore_verify.sandbox._http import EmulatedSystem, Reply, Route
from infracore_verify.sandbox.seed import OutpostSeed, stable_hex, stable_uuid

API = "/api/v3"
EMBEDDED = "goauthentik.io/outposts/embedded"
PAGE_SIZE = 100
_SESSION_COOKIE = re.compile(r"(authentik_session=)[^;]*")
OUTDATED_OUTPOST_VERSION = "2025.10.3"
"""What the instances of an outdated outpost report as their version (older than the seeded server)."""
_AVATAR = "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciLz4="


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Authentik(EmulatedSystem):
    """The Authentik surface the suite probes."""

    name = "authentik"
    strict_slashes = True

    def routes(self) -> list[Route]:
        """Return the emulated endpoints."""
        return [
            Route("/-/health/live/", "authentik.health-live", self.health_live),
            Route("/-/health/ready/", "authentik.health-ready", self.health_ready),
            Route(f"{API}/admin/version/", "authentik.version", self.version),
            Route(f"{API}/core/users/me/", "authentik.users-me", self.users_me),
            Route(f"{API}/outposts/instances/", "authentik.outposts", self.outposts),
            Route(f"{API}/outposts/instances/<outpost_id>/health/", "authentik.outpost-health", self.outpost_health),
            Route(f"{API}/admin/system/", "authentik.system", self.system),
        ]

    # -- error shapes -------------------------------------------------------------------------------------

    def detail(self, status: int, text: str) -> Reply:
        """Return DRF's `{detail}` error body."""
        return self.json(status, {"detail": text})

    def error(self, request: Request, status: int, message: str | None = None) -> Reply:
        """Return GenericError `{detail}` with the given status."""
        return self.detail(status, message or HTTPStatus(status).phrase)

    def rate_limited(self, request: Request, retry_after: int | None) -> Reply:
        """Return DRF's throttled answer (Retry-After only when the wait is known)."""
        if retry_after is None:
            return self.detail(429, "Request was throttled.")
        reply = self.detail(429, f"Request was throttled. Expected available in {retry_after} seconds.")
        reply.headers.append(("Retry-After", str(retry_after)))
        return reply

    def not_found(self, request: Request) -> Reply:
        """Return `{detail: "Not found."}`."""
        return self.detail(404, "Not found.")

    def method_not_allowed(self, request: Request, allowed: Any) -> Reply:
        """Return DRF's 405 body."""
        reply = self.detail(405, f'Method "{request.method}" not allowed.')
        reply.headers.append(("Allow", ", ".join(sorted(allowed))))
        return reply

    def drift(self, endpoint: str, payload: Any) -> Any:
        """Drop a required field (version_current, user.username, pagination, http_headers) or unwrap a list."""
        body = copy.deepcopy(payload)
        if endpoint == "authentik.outpost-health":
            return {"results": body}
        if endpoint == "authentik.users-me" and isinstance(body, dict):
            body.get("user", {}).pop("username", None)
            return body
        dropped = {
            "authentik.version": "version_current",
            "authentik.outposts": "pagination",
            "authentik.system": "http_headers",
        }.get(endpoint)
        if dropped and isinstance(body, dict):
            body.pop(dropped, None)
            return body
        return super().drift(endpoint, payload)

    # -- auth ---------------------------------------------------------------------------------------------

    def authenticate(self, request: Request) -> Reply | None:
        """Return DRF's 403 for missing or bad credentials, or None for the seeded API token."""
        header = request.headers.get("Authorization")
        if not header:
            return self.detail(403, "Authentication credentials were not provided.")
        parts = header.split()
        if len(parts) != 2:
            return self.detail(403, "Malformed header")
        if parts[0].lower() != "bearer":
            return self.detail(403, "Unsupported authentication type")
        if parts[1] != self.ctx.own["api_token"]:
            return self.detail(403, "Token invalid/expired")
        return None

    # -- data ---------------------------------------------------------------------------------------------

    def provider(self, pk: int, name: str, kind: str) -> dict[str, Any]:
        """Return a Provider object as nested in an outpost."""
        model = {"proxy": "proxyprovider", "ldap": "ldapprovider"}.get(kind, "proxyprovider")
        return {
            "pk": pk,
            "name": name,
            "authentication_flow": None,
            "authorization_flow": stable_uuid("flow", "authorization"),
            "invalidation_flow": stable_uuid("flow", "invalidation"),
            "property_mappings": [],
            "component": f"ak-provider-{kind}-form",
            "assigned_application_slug": name,
            "assigned_application_name": name,
            "assigned_backchannel_application_slug": None,
            "assigned_backchannel_application_name": None,
            "verbose_name": f"{kind.upper() if kind == 'ldap' else kind.title()} Provider",
            "verbose_name_plural": f"{kind.upper() if kind == 'ldap' else kind.title()} Providers",
            "meta_model_name": f"authentik_providers_{kind}.{model}",
        }

    def outpost_object(self, outpost: OutpostSeed, index: int) -> dict[str, Any]:
        """Return one outpost as the list endpoint serialises it."""
        embedded = outpost.managed == EMBEDDED
        provider_name = "vault" if embedded else f"{outpost.name}-provider"
        connection = (
            {
                "pk": stable_uuid("service-connection", "local"),
                "name": "Local Docker connection",
                "local": True,
                "component": "ak-service-connection-docker-form",
                "verbose_name": "Docker Service-Connection",
                "verbose_name_plural": "Docker Service-Connections",
                "meta_model_name": "authentik_outposts.dockerserviceconnection",
            }
            if embedded
            else None
        )
        return {
            "pk": outpost.id,
            "name": outpost.name,
            "type": outpost.type,
            "providers": [index + 1],
            "providers_obj": [self.provider(index + 1, provider_name, outpost.type)],
            "service_connection": connection["pk"] if connection else None,
            "service_connection_obj": connection,
            "refresh_interval_s": 300,
            "token_identifier": f"ak-outpost-{outpost.id}-api",
            "config": {
                "authentik_host": "https://auth.example.com",
                "log_level": "info",
                "object_naming_template": "ak-outpost-%(name)s",
            },
            "managed": outpost.managed,
        }

    def is_outdated(self, outpost: OutpostSeed) -> bool:
        """Return True when the outpost's instances run an older version: seeded so, or an `outpost_outdated` fault.

        The fault hits every outpost, or those whose health path (`/api/v3/outposts/instances/<uuid>/health/`)
        its path matches.
        """
        if outpost.outdated:
            return True
        path = f"{API}/outposts/instances/{outpost.id}/health/"
        return any(
            spec.kind == "outpost_outdated" and spec.matches("GET", path, path)
            for spec in self.ctx.faults.active(self.name)
        )

    # -- endpoints ----------------------------------------------------------------------------------------

    def health_live(self, request: Request) -> Reply:
        """GET /-/health/live/: 200, empty body."""
        return Reply.raw(200, b"", None)

    def health_ready(self, request: Request) -> Reply:
        """GET /-/health/ready/: 200, or 503 while unhealthy; empty body."""
        return Reply.raw(200 if self.ctx.healthy else 503, b"", None)

    def version(self, request: Request) -> Reply:
        """GET /api/v3/admin/version/: the Version object (all six fields)."""
        refusal = self.authenticate(request)
        if refusal is not None:
            return refusal
        current = self.ctx.seed.authentik_version
        return self.json(
            200,
            {
                "version_current": current,
                "version_latest": current,
                "version_latest_valid": True,
                "build_hash": "",
                "outdated": False,
                "outpost_outdated": any(self.is_outdated(o) for o in self.ctx.seed.authentik_outposts),
            },
        )

    def users_me(self, request: Request) -> Reply:
        """GET /api/v3/core/users/me/: SessionUser of the read-only service account."""
        refusal = self.authenticate(request)
        if refusal is not None:
            return refusal
        user = {
            "pk": 7,
            "username": "infracore-verify",
            "name": "infra-core verify (sandbox service account)",
            "is_active": True,
            "is_superuser": False,
            "is_current": True,
            "groups": [{"name": "infra-core readers", "pk": stable_uuid("group", "readers")}],
            "roles": [],
            "email": "infracore-verify@example.invalid",
            "avatar": _AVATAR,
            "uid": stable_hex("user", "infracore-verify", length=64),
            "settings": {},
            "type": "service_account",
            "system_permissions": [],
        }
        # `users` (the accounts of this session; required since 2026.8) holds just the token's own user.
        return self.json(200, {"user": user, "users": [user]})

    def outposts(self, request: Request) -> Reply:
        """GET /api/v3/outposts/instances/: paginated (page, page_size), name/managed filters, search."""
        refusal = self.authenticate(request)
        if refusal is not None:
            return refusal
        items = [(i, o) for i, o in enumerate(self.ctx.seed.authentik_outposts)]
        for param, attr, exact in (
            ("managed__iexact", "managed", True),
            ("managed__icontains", "managed", False),
            ("name__iexact", "name", True),
            ("name__icontains", "name", False),
            ("search", "name", False),
        ):
            wanted = request.args.get(param)
            if wanted is None:
                continue
            wanted = wanted.lower()
            items = [
                (i, o)
                for i, o in items
                if (value := (getattr(o, attr) or "").lower()) == wanted or (not exact and wanted in value)
            ]
        try:
            page = int(request.args.get("page", "1"))
        except ValueError:
            return self.detail(404, "Invalid page.")
        try:
            size = max(1, int(request.args.get("page_size", str(PAGE_SIZE))))
        except ValueError:
            size = PAGE_SIZE
        total_pages = max(1, math.ceil(len(items) / size))
        if not 1 <= page <= total_pages:
            return self.detail(404, "Invalid page.")
        chunk = items[(page - 1) * size : page * size]
        pagination = {
            "next": page + 1 if page < total_pages else 0,
            "previous": page - 1 if page > 1 else 0,
            "count": len(items),
            "current": page,
            "total_pages": total_pages,
            "start_index": (page - 1) * size + 1 if items else 0,
            "end_index": (page - 1) * size + len(chunk),
        }
        results = [self.outpost_object(o, i) for i, o in chunk]
        return self.json(200, {"pagination": pagination, "results": results, "autocomplete": {}})

    def outpost_health(self, request: Request, outpost_id: str) -> Reply:
        """GET /api/v3/outposts/instances/{uuid}/health/: one OutpostHealth per connected instance."""
        refusal = self.authenticate(request)
        if refusal is not None:
            return refusal
        outpost = next((o for o in self.ctx.seed.authentik_outposts if o.id == outpost_id), None)
        if outpost is None:
            return self.not_found(request)
        version = self.ctx.seed.authentik_version
        reported = OUTDATED_OUTPOST_VERSION if self.is_outdated(outpost) else version
        slug = re.sub(r"[^a-z0-9]+", "-", outpost.name.lower()).strip("-")
        return self.json(
            200,
            [
                {
                    "uid": stable_hex("outpost-instance", outpost.id, str(n)),
                    "last_seen": _now(),
                    "version": reported,
                    "golang_version": "go1.24.4",
                    "openssl_enabled": True,
                    "openssl_version": "OpenSSL 3.0.16 11 Feb 2025",
                    "fips_enabled": False,
                    "version_should": version,
                    "version_outdated": reported != version,
                    "build_hash": "",
                    "build_hash_should": "",
                    "hostname": f"{slug}-{n}",
                }
                for n in range(outpost.instances)
            ],
        )

    def system(self, request: Request) -> Reply:
        """GET /api/v3/admin/system/: SystemInfo; http_headers echoes the request headers, Authorization too."""
        refusal = self.authenticate(request)
        if refusal is not None:
            return refusal
        headers: dict[str, str] = {}
        for key, value in request.environ.items():
            if isinstance(value, str) and (key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH")):
                headers[key] = _SESSION_COOKIE.sub(r"\1***", value) if key == "HTTP_COOKIE" else value
        return self.json(
            200,
            {
                "http_headers": headers,
                "http_host": request.host,
                "http_is_secure": False,
                "runtime": {
                    "python_version": platform.python_version(),
                    "environment": "sandbox",
                    "architecture": platform.machine() or "unknown",
                    "platform": platform.system() or "unknown",
                    "uname": "sandbox",
                    "openssl_version": "OpenSSL 3.0.16 11 Feb 2025",
                    "openssl_fips_enabled": False,
                    "authentik_version": self.ctx.seed.authentik_version,
                },
                "brand": "authentik-default",
                "server_time": _now(),
                "embedded_outpost_disabled": False,
                "embedded_outpost_host": "",
                "base_url": "",
            },
        )
