"""Infisical client: status probe, Universal Auth login with a cached, renewed token, and secret listings.

The access token from `POST /api/v1/auth/universal-auth/login` is kept privately, registered with REDACTOR
and reused until min(60 s, 10 % of its `expiresIn`) is left, then renewed by logging in again (`expiresIn: 0`
means it never expires). Each login mints a token row, uses up one `numUsesLimit` use and writes an audit
entry, so a run shares one client and one login: `session_login()` returns the login that minted the cached
token (the auth probe's check) and only logs in when there is none; `logins` counts the logins sent. A 401 or 403 on an authenticated call drops the cached token, so the next call logs
in again. Recorded login exchanges show only `expiresIn`, `accessTokenMaxTTL`, `tokenType` and the error
fields.

Secret values: a listing with `view_values=False` asks the server to hide them, and `mask_data` masks every
`secretValue` in recorded exchanges anyway. With values, every value is registered with REDACTOR before the
result is returned, so any later output masks them.

Classification refines the base: 401 and a 403 `TokenError` are `token_invalid`; a 403 for missing permission
(`PermissionDenied`, `ForbiddenError`, ...) is `http_403`, since the token itself is fine.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import requests

from infracore_verify.clients.http import (
    ApiClientError,
    ApiError,
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

SYSTEM = "infisical"
LOGIN_PATH = "/api/v1/auth/universal-auth/login"
SECRETS_PATH = "/api/v3/secrets/raw"
PROBE_ATTEMPTS = 1
_ERROR_FIELDS = ("reqId", "statusCode", "message", "error", "details")
LOGIN_RESPONSE_SHOWN = ("expiresIn", "accessTokenMaxTTL", "tokenType", *_ERROR_FIELDS)


class InfisicalSecretMissingError(ApiClientError):
    """Wanted secret keys are absent at a path; names the path and keys, never a value."""

    def __init__(self, project_id: str, environment: str, path: str, missing: list[str]) -> None:
        self.project_id = project_id
        self.environment = environment
        self.path = path
        self.missing = missing
        noun = "secret" if len(missing) == 1 else "secrets"
        super().__init__(
            f"infisical: {noun} {', '.join(missing)} not found at {path} in environment {environment} "
            f"of project {project_id}; add {'it' if len(missing) == 1 else 'them'} there or fix the reference"
        )


class InfisicalClient(TokenLoginClient):
    """Infisical client with Universal Auth (machine identity) login and token reuse."""

    def __init__(
        self,
        base_url: str,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        limits: Limits | None = None,
        session: requests.Session | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        register_credentials(SYSTEM, [("client_id", client_id), ("client_secret", client_secret)])
        super().__init__(SYSTEM, base_url, limits, session, sleep=sleep, clock=clock)
        self._client_id = client_id or None
        self._client_secret = client_secret or None
        self._access = CachedToken(clock)
        self._last_login: ApiResult | None = None
        self.logins = 0
        """Number of login requests made (each mints a token and writes an audit-log entry)."""

    def classify(self, method: str, path: str, status: int, body: Any, is_json: bool) -> tuple[str | None, str | None]:
        """Classify like the base; a 403 other than TokenError is http_403 (permission, not a bad token)."""
        failure, detail = super().classify(method, path, status, body, is_json)
        if status == 403 and isinstance(body, Mapping) and body.get("error") not in (None, "TokenError"):
            return "http_403", detail
        return failure, detail

    def error_detail(self, body: Any) -> str | None:
        """Return "<error>: <message>" from Infisical's error body (422 messages are lists of issues)."""
        if isinstance(body, Mapping) and "message" in body:
            message = body.get("message")
            text = message if isinstance(message, str) else str(message)
            error = body.get("error")
            return " ".join(f"{error}: {text}".split()) if error else " ".join(text.split())
        return super().error_detail(body)

    def status(self) -> ApiResult:
        """Probe GET /api/status (no auth); healthy means 200 with message "Ok"."""
        return self.send("GET", "/api/status", max_attempts=PROBE_ATTEMPTS)

    def login(self) -> ApiResult:
        """Log in with Universal Auth; keeps the access token privately and records its expiry."""
        if not self._client_id or not self._client_secret:
            missing = [n for n, v in (("client_id", self._client_id), ("client_secret", self._client_secret)) if not v]
            raise MissingSettingError(f"infisical: Universal Auth login needs {', '.join(missing)}")
        self.logins += 1
        result = self.send(
            "POST",
            LOGIN_PATH,
            json={"clientId": self._client_id, "clientSecret": self._client_secret},
            mode="universal_auth",
            show_request=(),
            show_response=LOGIN_RESPONSE_SHOWN,
        )
        body = result.body
        if result.ok:
            token = body.get("accessToken") if isinstance(body, Mapping) else None
            expires = body.get("expiresIn") if isinstance(body, Mapping) else None
            if not isinstance(token, str) or not token:
                result.failure_class, result.detail = "parse_error", "login response has no accessToken"
            else:
                REDACTOR.register(token, label="infisical.access_token")
                self._access.set(token, float(expires) if isinstance(expires, int | float) else None)
        result.body = redact_body(body, LOGIN_RESPONSE_SHOWN)
        self._last_login = result if result.ok and self._access.get() is not None else None
        return result

    def session_login(self) -> ApiResult:
        """Return the login behind the cached token; log in (once, under the token lock) only when none is fresh.

        Every caller of one client shares one login per token lifetime: the auth probe, the secret listings and
        the credential source.
        """
        with self._access.lock:
            if self._last_login is not None and self._access.get() is not None:
                return self._last_login
            return self.login()

    def token_rejected(self, result: ApiResult) -> bool:
        """Return True when the server refused the bearer token."""
        return result.failure_class == "token_invalid"

    def list_secrets(
        self,
        project_id: str,
        environment: str,
        path: str = "/",
        recursive: bool = False,
        view_values: bool = False,
    ) -> ApiResult:
        """List the secrets at a path (GET /api/v3/secrets/raw); values only when `view_values` (then registered)."""
        params = {
            "workspaceId": project_id,
            "environment": environment,
            "secretPath": path,
            "recursive": _flag(recursive),
            "viewSecretValue": _flag(view_values),
        }
        result = self.request("GET", SECRETS_PATH, params=params)
        if result.ok and view_values:
            for secret in _secrets(result.body):
                value = secret.get("secretValue")
                if isinstance(value, str):
                    REDACTOR.register(value, label=f"infisical.{secret.get('secretKey', 'secret')}")
        return result

    def fetch_secrets(self, project_id: str, environment: str, path: str, keys: Iterable[str]) -> dict[str, str]:
        """Return the wanted keys' values at a path (registered with REDACTOR); raise when any is missing."""
        wanted = list(dict.fromkeys(keys))
        result = self.list_secrets(project_id, environment, path, view_values=True)
        if not result.ok:
            raise ApiError(result)
        found: dict[str, str] = {}
        for secret in _secrets(result.body):
            key, value = secret.get("secretKey"), secret.get("secretValue")
            if key in wanted and key not in found and isinstance(value, str):
                found[key] = value
        missing = [k for k in wanted if k not in found]
        if missing:
            raise InfisicalSecretMissingError(project_id, environment, path, missing)
        return {k: found[k] for k in wanted}


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _secrets(body: Any) -> list[Mapping[str, Any]]:
    secrets = body.get("secrets") if isinstance(body, Mapping) else None
    return [s for s in secrets if isinstance(s, Mapping)] if isinstance(secrets, list) else []
