"""The sandbox's Vaultwarden against the shapes the Bitwarden clients expect (identity token, /api/config, errors).

Vaultwarden has no official Python client. `pip download bitwarden-sdk` gives bitwarden-sdk 2.1.0: the Secrets
Manager SDK, a compiled Rust extension (`bitwarden_py`) whose only login is a machine-account access token with
scope `api.secrets`, which Vaultwarden does not implement (it answers "Scope not supported"), and whose wire
models live inside the extension, not in Python. It cannot parse a user API-key login or `/api/config`, so the
project does not install it. The npm packages of the Bitwarden clients (`@bitwarden/cli`) are whole
applications, not a library a test can call. So this module holds the sandbox against the field names and types
that the public Bitwarden clients read, written out below (`IdentityTokenResponse` and `ServerConfigResponse`
of the TypeScript clients, which look names up case-insensitively; `IdentityTokenSuccessResponse` of the Rust
SDK, which needs `access_token`, `expires_in`, `token_type` and `Kdf`), plus the error fields they read.

Endpoints our probes (`smoke/probes_vaultwarden.py`) and the capture (`smoke/capture_systems.py`) call:

| endpoint | checked as | fields we read |
| --- | --- | --- |
| GET /alive | a JSON string, RFC 3339 UTC with a Z | (status only) |
| GET /api/version | a JSON string | the Vaultwarden release |
| GET /api/config | ServerConfigResponse | version, server.name, environment URLs |
| POST /identity/connect/token (client_credentials) | IdentityTokenResponse | access_token, expires_in, token_type |
| GET /api/accounts/revision-date | a JSON integer (milliseconds; the clients build a Date from it) | the number |

Errors: a refused API key is 400 with the error body (`error`, `error_description`, `ErrorModel.Message`,
`message`); a missing or bad bearer token is 401 from Rocket's catcher; a throttled login is 429 "Too many login
requests" with no Retry-After (Vaultwarden never sends one).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

import requests

from infracore_verify.clients.vaultwarden import TOKEN_PATH, VaultwardenClient
from infracore_verify.sandbox import FaultSpec, Sandbox

TIMEOUT = 5.0

Check = Callable[[Any], bool]


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _str(value: Any) -> bool:
    return isinstance(value, str)


def _opt(check: Check) -> Check:
    return lambda value: value is None or check(value)


def _bool(value: Any) -> bool:
    return isinstance(value, bool)


IDENTITY_TOKEN: dict[str, tuple[bool, Check]] = {
    "access_token": (True, lambda v: _str(v) and bool(v)),
    "expires_in": (True, lambda v: _int(v) and v >= 0),
    "token_type": (True, lambda v: v == "Bearer"),
    "Kdf": (True, lambda v: v in (0, 1)),
    "refresh_token": (False, _opt(_str)),
    "scope": (False, _opt(_str)),
    "PrivateKey": (False, _opt(_str)),
    "Key": (False, _opt(_str)),
    "KdfIterations": (False, _opt(lambda v: _int(v) and v > 0)),
    "KdfMemory": (False, _opt(_int)),
    "KdfParallelism": (False, _opt(_int)),
    "ResetMasterPassword": (False, _opt(_bool)),
    "ForcePasswordReset": (False, _opt(_bool)),
    "UserDecryptionOptions": (False, _opt(lambda v: isinstance(v, Mapping))),
    "MasterPasswordPolicy": (False, _opt(lambda v: isinstance(v, Mapping))),
}
"""The identity token fields the Bitwarden clients read: (required, type check)."""

SERVER_CONFIG: dict[str, tuple[bool, Check]] = {
    "version": (True, _str),
    "gitHash": (True, _str),
    "server": (False, _opt(lambda v: isinstance(v, Mapping) and _str(v.get("name")) and _str(v.get("url")))),
    "environment": (True, lambda v: isinstance(v, Mapping)),
    "featureStates": (True, lambda v: isinstance(v, Mapping) and all(_str(k) for k in v)),
    "push": (False, _opt(lambda v: isinstance(v, Mapping) and _int(v.get("pushTechnology")))),
    "settings": (False, _opt(lambda v: isinstance(v, Mapping) and _bool(v.get("disableUserRegistration")))),
    "object": (False, _opt(lambda v: v == "config")),
}
"""The /api/config fields ServerConfigResponse reads: (required, type check)."""

ENVIRONMENT_URLS = ("vault", "api", "identity", "notifications", "sso")
"""EnvironmentServerConfigResponse: strings (sso may be empty); cloudRegion may be null."""


def field(body: Mapping[str, Any], name: str) -> Any:
    """Returns `name` as the TypeScript clients' getResponseProperty finds it (exact, PascalCase or camelCase)."""
    for candidate in (name, name[:1].upper() + name[1:], name[:1].lower() + name[1:]):
        if candidate in body:
            return body[candidate]
    return None


def shape_problems(body: Any, spec: Mapping[str, tuple[bool, Check]]) -> list[str]:
    """Returns the fields of `spec` that are missing (when required) or of the wrong type."""
    if not isinstance(body, Mapping):
        return [f"not an object: {type(body).__name__}"]
    problems: list[str] = []
    for name, (required, check) in spec.items():
        value = field(body, name)
        if value is None and not required and not any(k.lower() == name.lower() for k in body):
            continue
        if not check(value):
            problems.append(f"{name}: {value!r}")
    return problems


def login_form(sb: Sandbox, secret: str | None = None) -> dict[str, str]:
    """Returns the client_credentials form the Bitwarden CLI sends for `bw login --apikey`."""
    creds = sb.credentials["vaultwarden"]
    return {
        "grant_type": "client_credentials",
        "scope": "api",
        "client_id": creds["client_id"],
        "client_secret": secret or creds["client_secret"],
        "deviceIdentifier": "5f0c4c5e-1c1a-4f0e-9d8b-00000000000a",
        "deviceName": "linux",
        "deviceType": "8",
    }


def post_token(sb: Sandbox, secret: str | None = None) -> requests.Response:
    """Posts the API-key login as a Bitwarden client does (form, camelCase device fields)."""
    return requests.post(sb.base_urls["vaultwarden"] + TOKEN_PATH, data=login_form(sb, secret), timeout=TIMEOUT)


def test_the_identity_token_has_what_the_bitwarden_clients_read(sb: Sandbox) -> None:
    """Answers the API-key login with every field the clients need, typed; no refresh_token (API-key login)."""
    response = post_token(sb)
    assert response.status_code == 200
    body = response.json()
    assert shape_problems(body, IDENTITY_TOKEN) == []
    assert "refresh_token" not in body
    assert body["scope"] == "api"


def test_the_shape_check_has_teeth(sb: Sandbox) -> None:
    """Reports a token answer without access_token or with a string expires_in (as the drift fault serves)."""
    body = post_token(sb).json()
    assert shape_problems({**body, "expires_in": "7200"}, IDENTITY_TOKEN) == ["expires_in: '7200'"]
    sb.inject(FaultSpec("vaultwarden", "drift", path=TOKEN_PATH, times=1))
    assert shape_problems(post_token(sb).json(), IDENTITY_TOKEN) == ["access_token: None"]


def test_config_has_what_server_config_response_reads(sb: Sandbox) -> None:
    """Answers /api/config with version, gitHash, server, environment URLs, featureStates, push and settings."""
    body = requests.get(sb.base_urls["vaultwarden"] + "/api/config", timeout=TIMEOUT).json()
    assert shape_problems(body, SERVER_CONFIG) == []
    environment = body["environment"]
    assert all(_str(environment[name]) for name in ENVIRONMENT_URLS)
    assert environment["api"] == sb.base_urls["vaultwarden"] + "/api"
    assert environment["cloudRegion"] is None
    assert body["server"]["name"] == "Vaultwarden"
    assert body["version"] == sb.seed.vaultwarden_server_version


def test_revision_date_is_milliseconds_the_clients_can_read(sb: Sandbox) -> None:
    """Answers revision-date, with the login's bearer token, as integer milliseconds since the epoch."""
    token = post_token(sb).json()["access_token"]
    response = requests.get(
        sb.base_urls["vaultwarden"] + "/api/accounts/revision-date",
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200
    millis = response.json()
    assert _int(millis)
    assert dt.datetime.fromtimestamp(millis / 1000, dt.UTC).year >= 2025


def test_the_suites_client_runs_the_same_login_and_read(sb: Sandbox) -> None:
    """Logs in once with our client and reads the revision date with its cached token."""
    creds = sb.credentials["vaultwarden"]
    client = VaultwardenClient(
        sb.base_urls["vaultwarden"], client_id=creds["client_id"], client_secret=creds["client_secret"]
    )
    before = len(sb.requests("vaultwarden"))
    first, second = client.revision_date(), client.revision_date()
    client.close()
    assert first.ok
    assert second.ok
    assert first.body == second.body
    assert [r.path for r in sb.requests("vaultwarden")[before:]] == [
        TOKEN_PATH,
        "/api/accounts/revision-date",
        "/api/accounts/revision-date",
    ]


def test_a_refused_api_key_has_the_error_fields_the_clients_read(sb: Sandbox) -> None:
    """Answers a wrong client_secret with 400 and message, ErrorModel.Message, error and error_description."""
    response = post_token(sb, "sandbox-wrong-secret")
    assert response.status_code == 400
    body = response.json()
    assert field(body, "message") == "Incorrect client_secret"
    assert field(field(body, "errorModel"), "message") == "Incorrect client_secret"
    assert _str(body["error"])
    assert _str(body["error_description"])


def test_a_bad_bearer_token_is_401(sb: Sandbox) -> None:
    """Answers revision-date with 401 (Rocket's catcher) for a token it never issued."""
    response = requests.get(
        sb.base_urls["vaultwarden"] + "/api/accounts/revision-date",
        headers={"Authorization": "Bearer sandbox-not-a-token", "Accept": "application/json"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == 401


def test_a_throttled_login_is_429_without_retry_after(sb: Sandbox) -> None:
    """Answers a throttled login with 429 "Too many login requests" and, as Vaultwarden does, no Retry-After."""
    sb.inject(FaultSpec("vaultwarden", "rate_limit", 7, path=TOKEN_PATH, times=1))
    response = post_token(sb)
    assert response.status_code == 429
    assert "Retry-After" not in response.headers
    assert field(response.json(), "message") == "Too many login requests"
