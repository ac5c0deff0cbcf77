"""Vaultwarden client: unauthenticated liveness and version probes, API-key login and an authenticated read.

The login (`POST /identity/connect/token`, grant_type client_credentials) is recorded with every form value
masked except the non-secret device fields, and its token response with only `expires_in`, `token_type`,
`scope` and the error fields visible; the returned body is masked the same way. The access token is kept
privately, registered with REDACTOR and renewed ahead of expiry (Vaultwarden issues no refresh token).

Vaultwarden never sends Retry-After, so a 429 backs off exponentially (bounded by the limits). A refused API
key (400 "Invalid client_id", "Incorrect client_secret", "Malformed client_id", a disabled user) is
`token_invalid`; the request guards answer 401, also `token_invalid`. Liveness probes make a single attempt:
a probe reports what it sees and the caller decides whether to wait.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

import requests

from infracore_verify.clients.http import (
    ApiResult,
    Clock,
    Limits,
    MissingSettingError,
    Sleep,
    redact_body,
    register_credentials,
)
from infracore_verify.clients.tokens import CachedToken, TokenLoginClient
from infracore_verify.redact import REDACTOR

SYSTEM = "vaultwarden"
TOKEN_PATH = "/identity/connect/token"
DEVICE_NAME = "infracore-verify"
DEVICE_TYPE = 14  # "Unknown Browser": what Vaultwarden maps unknown clients to anyway
PROBE_ATTEMPTS = 1
_ERROR_FIELDS = ("message", "error", "error_description", "errorModel", "validationErrors", "object")
LOGIN_FORM_SHOWN = ("grant_type", "scope", "device_identifier", "device_name", "device_type")
LOGIN_RESPONSE_SHOWN = ("expires_in", "token_type", "scope", *_ERROR_FIELDS)
_REFUSED_KEY = re.compile(r"client_id|client_secret|disabled", re.IGNORECASE)


class VaultwardenClient(TokenLoginClient):
    """Vaultwarden client: /alive, /api/version, /api/config, API-key login and revision-date."""

    def __init__(
        self,
        base_url: str,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        limits: Limits | None = None,
        session: requests.Session | None = None,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
        device_identifier: str | None = None,
    ) -> None:
        register_credentials(SYSTEM, [("client_id", client_id), ("client_secret", client_secret)])
        super().__init__(SYSTEM, base_url, limits, session, sleep=sleep, clock=clock)
        self._client_id = client_id or None
        self._client_secret = client_secret or None
        # Stable across runs for the same server and key, so logins reuse one device row (no new-device mail).
        self.device_identifier = device_identifier or str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"infracore-verify:{self.base_url}:{client_id or ''}")
        )
        self._access = CachedToken(clock)

    @property
    def has_api_key(self) -> bool:
        """Return True when the client has both halves of the user API key (so the authenticated check can run)."""
        return bool(self._client_id and self._client_secret)

    def classify(self, method: str, path: str, status: int, body: Any, is_json: bool) -> tuple[str | None, str | None]:
        """Classify like the base, and a 400 refusing the API key on the login as token_invalid."""
        failure, detail = super().classify(method, path, status, body, is_json)
        if path == TOKEN_PATH and status == 400 and detail and _REFUSED_KEY.search(detail):
            return "token_invalid", detail
        return failure, detail

    def error_detail(self, body: Any) -> str | None:
        """Return the error text of Vaultwarden's error body (or of its /api 404 body)."""
        if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
            inner = body["error"]
            return f"{inner.get('code', '')} {inner.get('reason', '')}: {inner.get('description', '')}".strip()
        return super().error_detail(body)

    def token_rejected(self, result: ApiResult) -> bool:
        """Return True when the server refused the bearer token."""
        return result.status == 401

    def alive(self) -> ApiResult:
        """Probe GET /alive (checks the database); the body is a JSON string timestamp."""
        return self.send("GET", "/alive", max_attempts=PROBE_ATTEMPTS)

    def api_alive(self) -> ApiResult:
        """Probe GET /api/alive (same handler as /alive under the API mount)."""
        return self.send("GET", "/api/alive", max_attempts=PROBE_ATTEMPTS)

    def version(self) -> ApiResult:
        """Fetch GET /api/version: the Vaultwarden release as a JSON string ("" when the build set none)."""
        return self.send("GET", "/api/version")

    def config(self) -> ApiResult:
        """Fetch GET /api/config (its `version` is the Bitwarden server version it mimics)."""
        return self.send("GET", "/api/config")

    def login(self) -> ApiResult:
        """Log in with the user API key (client_credentials); keeps the access token privately."""
        if not self._client_id or not self._client_secret:
            missing = [n for n, v in (("client_id", self._client_id), ("client_secret", self._client_secret)) if not v]
            raise MissingSettingError(f"vaultwarden: login needs an API key; missing: {', '.join(missing)}")
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "scope": "api",
            "device_identifier": self.device_identifier,
            "device_name": DEVICE_NAME,
            "device_type": str(DEVICE_TYPE),
        }
        result = self.send(
            "POST",
            TOKEN_PATH,
            data=form,
            mode="api_key",
            show_request=LOGIN_FORM_SHOWN,
            show_response=LOGIN_RESPONSE_SHOWN,
        )
        body = result.body
        if result.ok:
            token = body.get("access_token") if isinstance(body, Mapping) else None
            if not isinstance(token, str) or not token:
                result.failure_class = "parse_error"
                result.detail = "token response has no access_token"
            else:
                REDACTOR.register(token, label="vaultwarden.access_token")
                expires = body.get("expires_in")
                self._access.set(token, float(expires) if isinstance(expires, int | float) else None)
        result.body = redact_body(body, LOGIN_RESPONSE_SHOWN)
        return result

    def revision_date(self) -> ApiResult:
        """Fetch GET /api/accounts/revision-date with the access token (logging in first when needed).

        The body is the account's last change as milliseconds since the epoch (a JSON integer).
        """
        return self.request("GET", "/api/accounts/revision-date")
