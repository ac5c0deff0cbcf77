"""Vaultwarden emulation: /alive, /api/alive|now|version|config, the client_credentials login, revision-date.

Error shapes (API_FACTS §2): Vaultwarden's own errors are the full JSON error body (400 unless another status is
given; 429 "Too many login requests" / "Too many requests", never a Retry-After header). Request-guard failures
(missing or bad access token: 401) and database trouble (503 while unhealthy) come from Rocket's default
catcher: HTML, or `{"error": {code, reason, description}}` when the client prefers JSON. Unknown `/api/*`
routes get the JSON 404 catcher, other unknown routes Rocket's HTML 404.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from http import HTTPStatus
from typing import Any

from werkzeug.wrappers import Request

from infracore_verify.sandbox._http import EmulatedSystem, Reply, Route, SystemContext, fake_jwt

REVISION_DATE_MS = 1763625600000
"""The account's revision date (2025-11-20T08:00:00Z) in milliseconds, as /api/accounts/revision-date answers."""
_FIELDS = ("client_id", "client_secret", "scope", "device_identifier", "device_name", "device_type")
_CATCHER_TEXT = {
    401: "The request requires user authentication.",
    404: "The requested resource could not be found.",
    500: "The server encountered an internal error while processing this request.",
    503: "The server is currently unavailable.",
}


def now_rfc3339() -> str:
    """Return the current UTC time as Vaultwarden formats it: RFC 3339, microseconds, 'Z'."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def error_body(message: str) -> dict[str, Any]:
    """Return Vaultwarden's full JSON error body."""
    return {
        "message": message,
        "validationErrors": {"": [message]},
        "errorModel": {"message": message, "object": "error"},
        "error": "",
        "error_description": "",
        "exceptionMessage": None,
        "exceptionStackTrace": None,
        "innerExceptionMessage": None,
        "object": "error",
    }


class Vaultwarden(EmulatedSystem):
    """The Vaultwarden surface the suite probes."""

    name = "vaultwarden"

    def __init__(self, context: SystemContext) -> None:
        super().__init__(context)
        self._tokens: dict[str, float] = {}
        self._tokens_lock = threading.Lock()

    def routes(self) -> list[Route]:
        """Return the emulated endpoints."""
        return [
            Route("/alive", "vaultwarden.alive", self.alive),
            Route("/api/alive", "vaultwarden.alive", self.alive),
            Route("/api/now", "vaultwarden.now", self.now),
            Route("/api/version", "vaultwarden.version", self.version),
            Route("/api/config", "vaultwarden.config", self.config),
            Route("/identity/connect/token", "vaultwarden.token", self.token, ("POST",)),
            Route("/api/accounts/revision-date", "vaultwarden.revision-date", self.revision_date),
        ]

    # -- error shapes -------------------------------------------------------------------------------------

    def catcher(self, request: Request, status: int) -> Reply:
        """Return Rocket's default catcher page: JSON when the client prefers JSON, else HTML."""
        phrase = HTTPStatus(status).phrase
        text = _CATCHER_TEXT.get(status, phrase)
        accepted = [value for value, _ in request.accept_mimetypes]
        if accepted and accepted[0] == "application/json":
            return self.json(status, {"error": {"code": status, "reason": phrase, "description": text}})
        html = (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n    <meta charset="utf-8">\n'
            f'    <title>{status} {phrase}</title>\n</head>\n<body align="center">\n'
            f'    <div role="main" align="center">\n        <h1>{status}: {phrase}</h1>\n'
            f"        <p>{text}</p>\n        <hr />\n    </div>\n"
            '    <div role="contentinfo" align="center">\n        <small>Rocket</small>\n    </div>\n'
            "</body>\n</html>"
        )
        return Reply.raw(status, html.encode(), "text/html; charset=utf-8")

    def fail(self, message: str, status: int = 400) -> Reply:
        """Return Vaultwarden's JSON error body."""
        return self.json(status, error_body(message))

    def error(self, request: Request, status: int, message: str | None = None) -> Reply:
        """Return the JSON error body with the given status."""
        return self.fail(message or HTTPStatus(status).phrase, status)

    def rate_limited(self, request: Request, retry_after: int | None) -> Reply:
        """Return 429 with the JSON error body; Vaultwarden never sends Retry-After."""
        login = request.path.startswith("/identity/")
        return self.fail("Too many login requests" if login else "Too many requests", 429)

    def not_found(self, request: Request) -> Reply:
        """Return the /api JSON 404 catcher, or Rocket's HTML 404 elsewhere."""
        if request.path == "/api" or request.path.startswith("/api/"):
            text = _CATCHER_TEXT[404]
            return self.json(404, {"error": {"code": 404, "reason": "Not Found", "description": text}})
        return self.catcher(request, 404)

    def drift(self, endpoint: str, payload: Any) -> Any:
        """Return a shape the documented schemas reject (numbers for dates, objects for strings, keys dropped)."""
        if endpoint in ("vaultwarden.alive", "vaultwarden.now"):
            return int(time.time())
        if endpoint == "vaultwarden.version":
            return {"version": payload}
        if endpoint == "vaultwarden.revision-date":
            return str(payload)
        if isinstance(payload, dict):
            dropped = {"vaultwarden.config": "version", "vaultwarden.token": "access_token"}.get(endpoint)
            return {k: v for k, v in payload.items() if k != dropped}
        return super().drift(endpoint, payload)

    # -- tokens -------------------------------------------------------------------------------------------

    def expire_tokens(self) -> None:
        """Make every access token issued so far invalid (as if it had expired)."""
        with self._tokens_lock:
            self._tokens.clear()

    def _token_valid(self, token: str) -> bool:
        with self._tokens_lock:
            expiry = self._tokens.get(token)
        return expiry is not None and self.ctx.clock() < expiry

    # -- endpoints ----------------------------------------------------------------------------------------

    def alive(self, request: Request) -> Reply:
        """GET/HEAD /alive and GET /api/alive: the time as a JSON string; 503 (catcher) while unhealthy."""
        if not self.ctx.healthy:
            return self.catcher(request, 503)
        return self.json(200, now_rfc3339())

    def now(self, request: Request) -> Reply:
        """GET /api/now: the time as a JSON string."""
        return self.json(200, now_rfc3339())

    def version(self, request: Request) -> Reply:
        """GET /api/version: the Vaultwarden release as a JSON string."""
        return self.json(200, self.ctx.seed.vaultwarden_version)

    def config(self, request: Request) -> Reply:
        """GET /api/config: the Bitwarden-compatible server config (URLs built from the request's host)."""
        domain = request.host_url.rstrip("/")
        seed = self.ctx.seed
        return self.json(
            200,
            {
                "version": seed.vaultwarden_server_version,
                "gitHash": "sandbox0",
                "server": {"name": "Vaultwarden", "url": "https://github.com/dani-garcia/vaultwarden"},
                "settings": {"disableUserRegistration": True, "suppressOnboardingInterstitials": False},
                "environment": {
                    "vault": domain,
                    "api": f"{domain}/api",
                    "identity": f"{domain}/identity",
                    "notifications": f"{domain}/notifications",
                    "sso": "",
                    "cloudRegion": None,
                },
                "push": {"pushTechnology": 0, "vapidPublicKey": None},
                "featureStates": {"duo-redirect": True, "email-verification": True, "unauth-ui-refresh": True},
                "communication": None,
                "object": "config",
            },
        )

    def token(self, request: Request) -> Reply:
        """POST /identity/connect/token with grant_type=client_credentials and the user API key."""
        if not self.ctx.healthy:
            return self.catcher(request, 503)
        form = {key.lower().replace("_", ""): value for key, value in request.form.items()}
        grant_type = form.get("granttype", "")
        if not grant_type:
            return self.fail("grant_type cannot be blank")
        if grant_type != "client_credentials":
            return self.fail("Invalid type")
        for name in _FIELDS:
            if not form.get(name.replace("_", "")):
                return self.fail(f"{name} cannot be blank")
        scope, client_id = form["scope"], form["clientid"]
        if scope not in ("api", "api.organization"):
            return self.fail("Scope not supported")
        prefix = "user." if scope == "api" else "organization."
        if not client_id.startswith(prefix):
            return self.fail("Malformed client_id")
        if scope != "api" or client_id != self.ctx.own["client_id"]:
            return self.fail("Invalid client_id")
        if form["clientsecret"] != self.ctx.own["client_secret"]:
            return self.fail("Incorrect client_secret")
        ttl = self.ctx.seed.vaultwarden_token_ttl
        issued = int(time.time())
        access_token = fake_jwt(
            {
                "nbf": issued,
                "exp": issued + ttl,
                "iss": f"{request.host_url.rstrip('/')}|login",
                "sub": client_id.removeprefix("user."),
                "email": "sandbox-user@example.invalid",
                "scope": ["api"],
                "amr": ["Application"],
                "sandbox": True,
            }
        )
        with self._tokens_lock:
            self._tokens[access_token] = self.ctx.clock() + ttl
        return self.json(
            200,
            {
                "access_token": access_token,
                "expires_in": ttl,
                "token_type": "Bearer",
                "scope": "api",
                "Key": "2.c2FuZGJveA==|ZmFrZS1rZXk=|bm90LXJlYWw=",
                "PrivateKey": "2.c2FuZGJveA==|ZmFrZS1wcml2YXRl|bm90LXJlYWw=",
                "Kdf": 0,
                "KdfIterations": 600000,
                "KdfMemory": None,
                "KdfParallelism": None,
                "ResetMasterPassword": False,
                "ForcePasswordReset": False,
                "AccountKeys": None,
                "UserDecryptionOptions": {
                    "HasMasterPassword": True,
                    "MasterPasswordUnlock": None,
                    "Object": "userDecryptionOptions",
                },
                "MasterPasswordPolicy": {"Object": "masterPasswordPolicy"},
                "unofficialServer": True,
            },
        )

    def revision_date(self, request: Request) -> Reply:
        """GET /api/accounts/revision-date with the access token: milliseconds since the epoch."""
        if not self.ctx.healthy:
            return self.catcher(request, 503)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not self._token_valid(token):
            return self.catcher(request, 401)
        return self.json(200, REVISION_DATE_MS)
