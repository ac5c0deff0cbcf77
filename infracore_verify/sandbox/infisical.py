"""Infisical emulation: /api/status, the universal-auth login, secret listing (v3 raw and v4) and one secret (v3 raw).

Every error is Infisical's `{reqId, statusCode, message, error}` (API_FACTS §3.2): 401 UnauthorizedError
("Token missing", "Invalid credentials"), 403 TokenError (bad or expired token), 400 BadRequest (missing
project or environment, X-API-Key), 404 NotFound, 422 ValidationFailure (message = list of zod-style issues),
429 RateLimitExceeded, 500 InternalServerError ("Something went wrong", also while unhealthy).

The seeded project (credential `project_id`) has the environments of the seed; the credential environment and
path (prod, /infra-core) mirror the other systems' sandbox credentials under INFISICAL_CREDENTIAL_KEYS.
"""

from __future__ import annotations

import datetime as dt
import secrets
import string
import threading
import time
from http import HTTPStatus
from typing import Any

from werkzeug.wrappers import Request

from infracore_verify.sandbox._http import EmulatedSystem, Reply, Route, SystemContext, fake_jwt
from infracore_verify.sandbox.seed import INFISICAL_CREDENTIAL_KEYS, SecretSeed, stable_uuid

HIDDEN_VALUE = "<hidden-by-infisical>"
CREATED = "2026-02-01T10:00:00.000Z"
UPDATED = "2026-11-20T08:00:00.000Z"
PROJECT_SLUG = "infra-core"
_ERROR_NAMES = {
    400: "BadRequest",
    401: "UnauthorizedError",
    403: "PermissionDenied",
    404: "NotFound",
    410: "Gone",
    422: "ValidationFailure",
    429: "RateLimitExceeded",
    500: "InternalServerError",
    504: "GatewayTimeoutError",
}
_BOOLEAN_PARAMS = ("viewSecretValue", "recursive", "include_imports", "expandSecretReferences")
_ALNUM = string.ascii_letters + string.digits


def request_id() -> str:
    """Return a fastify-style request id: 'req-' and 14 alphanumerics."""
    return "req-" + "".join(secrets.choice(_ALNUM) for _ in range(14))


def _normalise_path(path: str) -> str:
    path = "/" + path.strip("/")
    return path


class Infisical(EmulatedSystem):
    """The Infisical surface the suite probes."""

    name = "infisical"
    json_content_type = "application/json; charset=utf-8"

    def __init__(self, context: SystemContext) -> None:
        super().__init__(context)
        self._tokens: dict[str, float | None] = {}
        self._tokens_lock = threading.Lock()

    def routes(self) -> list[Route]:
        """Return the emulated endpoints."""
        return [
            Route("/api/status", "infisical.status", self.status),
            Route("/api/v1/auth/universal-auth/login", "infisical.login", self.login, ("POST",)),
            Route("/api/v3/secrets/raw", "infisical.secrets-raw", self.secrets_raw),
            Route("/api/v3/secrets/raw/<secret_name>", "infisical.secret-raw", self.secret_raw),
            Route("/api/v4/secrets", "infisical.secrets", self.secrets_v4),
        ]

    # -- error shapes -------------------------------------------------------------------------------------

    def fail(self, status: int, message: Any, error: str | None = None) -> Reply:
        """Return Infisical's error body."""
        name = error or _ERROR_NAMES.get(status, HTTPStatus(status).phrase.replace(" ", ""))
        return self.json(status, {"reqId": request_id(), "statusCode": status, "message": message, "error": name})

    def error(self, request: Request, status: int, message: str | None = None) -> Reply:
        """Return the error body for an injected or internal status."""
        default = "Something went wrong" if status >= 500 else HTTPStatus(status).phrase
        return self.fail(status, message or default)

    def rate_limited(self, request: Request, retry_after: int | None) -> Reply:
        """Return 429 RateLimitExceeded; the wait is in the message, and in Retry-After when given."""
        wait = 60 if retry_after is None else retry_after
        reply = self.fail(429, f"Rate limit exceeded. Please try again in {wait} seconds")
        if retry_after is not None:
            reply.headers.append(("Retry-After", str(retry_after)))
        return reply

    def not_found(self, request: Request) -> Reply:
        """Return 404 for an unknown route (fastify answers unknown method/route pairs with 404 too)."""
        return self.fail(404, f"Route {request.method}:{request.path} not found")

    def method_not_allowed(self, request: Request, allowed: Any) -> Reply:
        """Return 404, as fastify does for a known path with another method."""
        return self.not_found(request)

    def drift(self, endpoint: str, payload: Any) -> Any:
        """Drop `message` (status), `accessToken` (login) or rename `secrets` to `data` (secret lists)."""
        if isinstance(payload, dict):
            if endpoint in ("infisical.secrets-raw", "infisical.secrets"):
                return {("data" if k == "secrets" else k): v for k, v in payload.items()}
            dropped = {"infisical.status": "message", "infisical.login": "accessToken"}.get(endpoint)
            return {k: v for k, v in payload.items() if k != dropped}
        return super().drift(endpoint, payload)

    # -- tokens -------------------------------------------------------------------------------------------

    def expire_tokens(self) -> None:
        """Make every access token issued so far expired (the next use answers 403 TokenError)."""
        with self._tokens_lock:
            for token in self._tokens:
                self._tokens[token] = 0.0

    def authenticate(self, request: Request) -> Reply | None:
        """Return the refusal for the request's token, or None when it is a live access token."""
        if "X-API-Key" in request.headers:
            return self.fail(400, "API key authentication is not supported anymore")
        authorization = request.headers.get("Authorization")
        if not authorization:
            return self.fail(401, "Token missing")
        # Infisical slices the header after its first 7 characters: only "Bearer <token>" works.
        token = authorization[7:]
        with self._tokens_lock:
            known = token in self._tokens
            expiry = self._tokens.get(token)
        if not known:
            return self.fail(403, "Invalid token", "TokenError")
        if expiry is not None and self.ctx.clock() >= expiry:
            return self.fail(403, "Your token has expired. Please re-authenticate.", "TokenError")
        return None

    # -- data ---------------------------------------------------------------------------------------------

    def all_secrets(self) -> list[SecretSeed]:
        """Return the project's secrets: the credential mirror plus the seed's other keys."""
        seed = self.ctx.seed
        mirror = [
            SecretSeed(
                seed.infisical_credentials_environment,
                seed.infisical_credentials_path,
                key,
                self.ctx.credentials[system][name],
                f"sandbox copy of the {system} {name} credential",
            )
            for key, (system, name) in INFISICAL_CREDENTIAL_KEYS.items()
        ]
        return mirror + list(seed.infisical_secrets)

    def secret_object(self, secret: SecretSeed, show: bool) -> dict[str, Any]:
        """Return one secret as the raw listing serialises it."""
        secret_id = stable_uuid("secret", secret.environment, secret.path, secret.key)
        return {
            "id": secret_id,
            "_id": secret_id,
            "workspace": self.ctx.own["project_id"],
            "environment": secret.environment,
            "version": 1,
            "type": "shared",
            "secretKey": secret.key,
            "secretValue": secret.value if show else HIDDEN_VALUE,
            "secretComment": secret.comment,
            "secretReminderNote": None,
            "secretReminderRepeatDays": None,
            "skipMultilineEncoding": False,
            "createdAt": CREATED,
            "updatedAt": UPDATED,
            "actor": None,
            "isRotatedSecret": False,
            "rotationId": None,
            "secretValueHidden": not show,
            "secretPath": secret.path,
            "tags": [],
            "secretMetadata": [],
        }

    def secret_raw(self, request: Request, secret_name: str) -> Reply:
        """GET /api/v3/secrets/raw/{name}?workspaceId=&environment=&secretPath=: one secret as `{secret}`.

        What infisicalsdk's `get_secret_by_name` calls (the suite's own client lists instead).
        """
        listing = self.list_secrets(request, request.args.get("workspaceId"), "workspace id")
        if listing.status != 200:
            return listing
        found = [s for s in listing.payload["secrets"] if s["secretKey"] == secret_name]
        if not found:
            return self.fail(404, f"Secret with name '{secret_name}' not found")
        return self.json(200, {"secret": found[0]})

    def list_secrets(self, request: Request, project: str | None, project_words: str) -> Reply:
        """Answer a secret listing for `project` (shared by v3 raw and v4)."""
        if not self.ctx.healthy:
            return self.error(request, 500)
        refusal = self.authenticate(request)
        if refusal is not None:
            return refusal
        environment = request.args.get("environment")
        if not project or not environment:
            return self.fail(400, f"Missing {project_words} or environment")
        issues = [
            {
                "code": "invalid_enum_value",
                "options": ["true", "false"],
                "path": [name],
                "message": f"Invalid enum value. Expected 'true' | 'false', received '{request.args[name]}'",
            }
            for name in _BOOLEAN_PARAMS
            if name in request.args and request.args[name] not in ("true", "false")
        ]
        if issues:
            return self.fail(422, issues)
        if project not in (self.ctx.own["project_id"], PROJECT_SLUG):
            return self.fail(404, f"Project with ID '{project}' not found")
        if environment not in self.ctx.seed.infisical_environments:
            return self.fail(404, f"Environment with slug '{environment}' in project with ID '{project}' not found")
        path = _normalise_path(request.args.get("secretPath") or "/")
        recursive = request.args.get("recursive") == "true"
        show = request.args.get("viewSecretValue", "true") == "true"
        chosen = [
            s
            for s in self.all_secrets()
            if s.environment == environment
            and (
                _normalise_path(s.path) == path
                or (recursive and _normalise_path(s.path).startswith(path.rstrip("/") + "/"))
            )
        ]
        chosen.sort(key=lambda s: (s.path, s.key))
        return self.json(200, {"secrets": [self.secret_object(s, show) for s in chosen], "imports": []})

    # -- endpoints ----------------------------------------------------------------------------------------

    def status(self, request: Request) -> Reply:
        """GET /api/status: the documented fields, message "Ok"; 500 while unhealthy."""
        if not self.ctx.healthy:
            return self.error(request, 500)
        now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return self.json(
            200,
            {
                "date": now,
                "message": "Ok",
                "emailConfigured": False,
                "inviteOnlySignup": False,
                "redisConfigured": True,
                "secretScanningConfigured": False,
                "auditLogStorageDisabled": False,
            },
        )

    def login(self, request: Request) -> Reply:
        """POST /api/v1/auth/universal-auth/login with JSON {clientId, clientSecret}."""
        if not self.ctx.healthy:
            return self.error(request, 500)
        body = request.get_json(silent=True, force=True)
        issues: list[dict[str, Any]] = []
        if not isinstance(body, dict):
            issues.append(
                {
                    "code": "invalid_type",
                    "expected": "object",
                    "received": type(body).__name__,
                    "path": [],
                    "message": "Expected object",
                }
            )
        else:
            for name in ("clientId", "clientSecret"):
                value = body.get(name)
                if not isinstance(value, str):
                    received = "undefined" if value is None else type(value).__name__
                    message = "Required" if value is None else f"Expected string, received {received}"
                    issues.append(
                        {
                            "code": "invalid_type",
                            "expected": "string",
                            "received": received,
                            "path": [name],
                            "message": message,
                        }
                    )
        if issues or not isinstance(body, dict):
            return self.fail(422, issues)
        creds = self.ctx.own
        if (body["clientId"].strip(), body["clientSecret"].strip()) != (creds["client_id"], creds["client_secret"]):
            return self.fail(401, "Invalid credentials")
        ttl = self.ctx.seed.infisical_token_ttl
        issued = int(time.time())
        claims: dict[str, Any] = {
            "identityId": stable_uuid("identity", creds["client_id"]),
            "clientSecretId": stable_uuid("client-secret", creds["client_id"]),
            "identityAccessTokenId": stable_uuid("access-token", str(time.monotonic_ns())),
            "authTokenType": "identityAccessToken",
            "iat": issued,
            "sandbox": True,
        }
        if ttl:
            claims["exp"] = issued + ttl
        token = fake_jwt(claims)
        with self._tokens_lock:
            self._tokens[token] = self.ctx.clock() + ttl if ttl else None
        return self.json(
            200,
            {
                "accessToken": token,
                "expiresIn": ttl,
                "accessTokenMaxTTL": self.ctx.seed.infisical_token_max_ttl,
                "tokenType": "Bearer",
            },
        )

    def secrets_raw(self, request: Request) -> Reply:
        """GET /api/v3/secrets/raw?workspaceId=&environment=&secretPath=&recursive=&viewSecretValue=."""
        project = request.args.get("workspaceId") or request.args.get("workspaceSlug")
        return self.list_secrets(request, project, "workspace id")

    def secrets_v4(self, request: Request) -> Reply:
        """GET /api/v4/secrets?projectId=&environment=&...: the same listing keyed by projectId."""
        return self.list_secrets(request, request.args.get("projectId"), "project id")
