"""Authentik client: health probes, and the read API (version, me, outposts, outpost health, system info).

Authentik answers 403 (never 401) for a missing, unknown or expired token, so 403 is `token_invalid`; a 403
whose `code` is `permission_denied` (or whose detail says "You do not have permission") is `http_403`: the
token is valid but lacks the right. Health probes send no token and make a single attempt; `health_state`
maps their result to healthy (200, 204), not_ready (503), starting (502), unreachable (no response) or
unhealthy (anything else).

`/api/v3/admin/system/` echoes the request headers, the caller's Bearer token included: the token is
registered with REDACTOR, the recorded exchange masks it, and the returned body's `http_headers` are masked.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import requests

from infracore_verify.clients.http import (
    DEFAULT_MAX_PAGES,
    ApiClient,
    ApiResult,
    Clock,
    Limits,
    MissingSettingError,
    PagedResult,
    Sleep,
    collect_pages,
    register_credentials,
)
from infracore_verify.redact import REDACTOR

SYSTEM = "authentik"
PROBE_ATTEMPTS = 1
HEALTHY_STATUSES = frozenset({200, 204})


def health_state(result: ApiResult) -> str:
    """Return healthy, not_ready (503), starting (502), unreachable (no response) or unhealthy."""
    if result.status in HEALTHY_STATUSES:
        return "healthy"
    if result.status == 503:
        return "not_ready"
    if result.status == 502:
        return "starting"
    if result.status == 0:
        return "unreachable"
    return "unhealthy"


class AuthentikClient(ApiClient):
    """Authentik client for the health endpoints and the /api/v3 read surfaces."""

    def __init__(
        self,
        base_url: str,
        *,
        api_token: str | None = None,
        limits: Limits | None = None,
        session: requests.Session | None = None,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        register_credentials(SYSTEM, [("api_token", api_token)])
        super().__init__(SYSTEM, base_url, limits, session, sleep=sleep, clock=clock)
        self._token = api_token or None

    def classify(self, method: str, path: str, status: int, body: Any, is_json: bool) -> tuple[str | None, str | None]:
        """Classify like the base; a 403 for a missing permission (valid token) is http_403."""
        failure, detail = super().classify(method, path, status, body, is_json)
        if status == 403 and isinstance(body, Mapping):
            code = body.get("code")
            text = str(body.get("detail", ""))
            if code == "permission_denied" or text.startswith("You do not have permission"):
                return "http_403", detail
        return failure, detail

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        max_attempts: int | None = None,
    ) -> ApiResult:
        """Send a request with the API token (raises MissingSettingError when none was given)."""
        if self._token is None:
            raise MissingSettingError(f"authentik: {method} {path} needs api_token (systems.authentik.credentials)")
        return self.send(
            method,
            path,
            params=params,
            json=json,
            headers={"Authorization": f"Bearer {self._token}"},
            mode="token",
            max_attempts=max_attempts,
        )

    def health_live(self) -> ApiResult:
        """Probe GET /-/health/live/ (no auth, no body; 200 or 204 when the process answers)."""
        return self.send("GET", "/-/health/live/", max_attempts=PROBE_ATTEMPTS, expect_json=False)

    def health_ready(self) -> ApiResult:
        """Probe GET /-/health/ready/ (no auth; 200/204 ready, 503 database down, 502 starting)."""
        return self.send("GET", "/-/health/ready/", max_attempts=PROBE_ATTEMPTS, expect_json=False)

    def version(self) -> ApiResult:
        """Fetch GET /api/v3/admin/version/ (version_current, version_latest, outdated, ...)."""
        return self.request("GET", "/api/v3/admin/version/")

    def me(self) -> ApiResult:
        """Fetch GET /api/v3/core/users/me/: the token's user (the cheapest token check)."""
        return self.request("GET", "/api/v3/core/users/me/")

    def outposts(self, page_size: int = 100, *, max_pages: int = DEFAULT_MAX_PAGES) -> PagedResult:
        """List every outpost (GET /api/v3/outposts/instances/), following pagination.next."""

        def fetch(page: int) -> ApiResult:
            return self.request("GET", "/api/v3/outposts/instances/", params={"page": page, "page_size": page_size})

        def extract(result: ApiResult, page: int) -> tuple[list[Any], int | None]:
            body = result.body
            results = body.get("results") if isinstance(body, Mapping) else None
            if not isinstance(results, list):
                result.failure_class, result.detail = "parse_error", "paginated body has no 'results' array"
                return [], None
            pagination = body.get("pagination") if isinstance(body, Mapping) else None
            pagination = pagination if isinstance(pagination, Mapping) else {}
            following = pagination.get("next")
            if isinstance(following, int) and not isinstance(following, bool):
                return results, (following if following > 0 else None)
            total_pages = pagination.get("total_pages")
            if isinstance(total_pages, int) and not isinstance(total_pages, bool) and page < total_pages:
                return results, page + 1
            return results, None

        return collect_pages(fetch, extract, max_pages=max_pages)

    def outpost_health(self, uuid: str) -> ApiResult:
        """Fetch GET /api/v3/outposts/instances/{uuid}/health/: one entry per connected instance (may be empty)."""
        return self.request("GET", f"/api/v3/outposts/instances/{quote(uuid, safe='')}/health/")

    def system(self) -> ApiResult:
        """Fetch GET /api/v3/admin/system/; the echoed request headers in the body come back masked."""
        result = self.request("GET", "/api/v3/admin/system/")
        body = result.body
        if isinstance(body, Mapping) and isinstance(body.get("http_headers"), Mapping):
            masked = dict(body)
            masked["http_headers"] = REDACTOR.mask_headers({str(k): str(v) for k, v in body["http_headers"].items()})
            result.body = masked
        return result
