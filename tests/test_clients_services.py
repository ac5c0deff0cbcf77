"""Vaultwarden, Infisical and Authentik clients against a real pytest-httpserver on 127.0.0.1."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request

from infracore_verify.clients.authentik import AuthentikClient, health_state
from infracore_verify.clients.http import ApiError, Limits, MissingSettingError
from infracore_verify.clients.infisical import LOGIN_PATH, InfisicalClient, InfisicalSecretMissingError
from infracore_verify.clients.vaultwarden import VaultwardenClient
from infracore_verify.redact import MASK, REDACTOR
from tests.clocks import SettableClock
from tests.conftest import base

pytestmark = pytest.mark.timeout(20)

FAST = Limits(
    connect_timeout=1.0,
    read_timeout=2.0,
    max_attempts=3,
    retry_after_clamp=(0.01, 0.05),
    backoff_base=0.01,
    backoff_max=0.02,
    max_total_wait=1.0,
)
VW_ID = "user.00000000-fake-4000-8000-000000000001"
VW_SECRET = "FAKE-vw-secret-3c9d1e"
VW_ACCESS = "FAKE-vw-access-jwt-77aa01"
INF_ID = "FAKE-inf-client-id-9f1e"
INF_SECRET = "FAKE-inf-client-secret-2b7c"
INF_ACCESS = "FAKE-inf-access-jwt-51de"
AK_TOKEN = "FAKE-ak-api-token-8c3b02"
PROJECT = "proj-fake-1"


def sent(server: HTTPServer, path: str | None = None) -> list[Request]:
    """Return the requests the server received (optionally only those for `path`), in order."""
    return [r for r, _ in server.log if path is None or r.path == path]


# -- Vaultwarden -------------------------------------------------------------------------------------------

VW_TOKEN_BODY = {
    "access_token": VW_ACCESS,
    "expires_in": 7200,
    "token_type": "Bearer",
    "scope": "api",
    "Key": "2.FAKEencryptedUserKey",
    "PrivateKey": "2.FAKEencryptedPrivateKey",
    "Kdf": 0,
}


def vw(server: HTTPServer, **kwargs: Any) -> VaultwardenClient:
    """Return a Vaultwarden client on the test server with a fake API key."""
    return VaultwardenClient(base(server), client_id=VW_ID, client_secret=VW_SECRET, limits=FAST, **kwargs)


def test_vaultwarden_unauthenticated_probes(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/alive").respond_with_json("2026-08-20T20:03:56.123456Z")
    httpserver.expect_request("/api/alive").respond_with_json("2026-08-20T20:03:56.223456Z")
    httpserver.expect_request("/api/version").respond_with_json("1.37.2")
    httpserver.expect_request("/api/config").respond_with_json(
        {"version": "2026.6.0", "server": {"name": "Vaultwarden", "url": "https://vw.example.test"}, "object": "config"}
    )
    client = vw(httpserver)
    alive = client.alive()
    assert (alive.ok, alive.body, alive.mode) == (True, "2026-08-20T20:03:56.123456Z", "none")
    assert client.api_alive().ok
    assert client.version().body == "1.37.2"
    assert client.config().body["server"]["name"] == "Vaultwarden"
    assert all("Authorization" not in r.headers for r in sent(httpserver))


def test_vaultwarden_alive_503_is_a_single_attempt_api_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/alive").respond_with_data("<h1>503 Service Unavailable</h1>", status=503)
    result = vw(httpserver).alive()
    assert (result.failure_class, result.status, result.attempts) == ("api_error", 503, 1)


def test_vaultwarden_login_form_on_the_wire_and_redacted_record(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/identity/connect/token", method="POST").respond_with_json(VW_TOKEN_BODY)
    client = vw(httpserver)
    result = client.login()
    assert result.ok
    assert result.mode == "api_key"
    (request,) = sent(httpserver)
    assert request.mimetype == "application/x-www-form-urlencoded"
    assert request.form.to_dict() == {
        "grant_type": "client_credentials",
        "client_id": VW_ID,
        "client_secret": VW_SECRET,
        "scope": "api",
        "device_identifier": client.device_identifier,
        "device_name": "infracore-verify",
        "device_type": "14",
    }
    assert client.device_identifier == vw(httpserver).device_identifier  # stable for the same server and key
    (exchange,) = result.exchanges
    assert exchange.request_body["client_secret"] == MASK
    assert exchange.request_body["client_id"] == MASK
    assert exchange.request_body["grant_type"] == "client_credentials"
    assert exchange.response_body == {
        "access_token": MASK,
        "expires_in": 7200,
        "token_type": "Bearer",
        "scope": "api",
        "Key": MASK,
        "PrivateKey": MASK,
        "Kdf": MASK,
    }
    assert result.body == exchange.response_body
    assert REDACTOR.mask(VW_ACCESS) != VW_ACCESS


def test_vaultwarden_revision_date_logs_in_once_and_sends_the_bearer(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/identity/connect/token", method="POST").respond_with_json(VW_TOKEN_BODY)
    httpserver.expect_request("/api/accounts/revision-date").respond_with_json(1767225600000)
    client = vw(httpserver)
    first, second = client.revision_date(), client.revision_date()
    assert first.ok
    assert second.ok
    assert first.body == 1767225600000
    assert first.mode == "token"
    assert len(sent(httpserver, "/identity/connect/token")) == 1
    for request in sent(httpserver, "/api/accounts/revision-date"):
        assert request.headers["Authorization"] == f"Bearer {VW_ACCESS}"


def test_vaultwarden_renews_its_token_before_expiry(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/identity/connect/token", method="POST").respond_with_json(VW_TOKEN_BODY)
    httpserver.expect_request("/api/accounts/revision-date").respond_with_json(1)
    clock = SettableClock()
    client = vw(httpserver, clock=clock)
    client.revision_date()
    clock.now += 7200 - 61  # more than the 60 s margin left: reused
    client.revision_date()
    clock.now += 2  # 59 s left: renewed
    client.revision_date()
    assert len(sent(httpserver, "/identity/connect/token")) == 2


@pytest.mark.parametrize(
    "message",
    [
        "Incorrect client_secret",
        "Invalid client_id",
        "Malformed client_id",
        "This user has been disabled (API key login)",
    ],
    ids=["secret", "id", "malformed", "disabled"],
)
def test_vaultwarden_refused_api_key_is_token_invalid(httpserver: HTTPServer, message: str) -> None:
    httpserver.expect_request("/identity/connect/token").respond_with_json(
        {"message": message, "errorModel": {"message": message, "object": "error"}, "object": "error"}, status=400
    )
    result = vw(httpserver).revision_date()
    assert (result.failure_class, result.status, result.path, result.detail) == (
        "token_invalid",
        400,
        "/identity/connect/token",
        message,
    )
    assert len(httpserver.log) == 1


def test_vaultwarden_other_login_400_stays_http_400(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/identity/connect/token").respond_with_json(
        {"message": "Scope not supported"}, status=400
    )
    assert vw(httpserver).login().failure_class == "http_400"


def test_vaultwarden_401_drops_the_cached_token(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/identity/connect/token", method="POST").respond_with_json(VW_TOKEN_BODY)
    httpserver.expect_oneshot_request("/api/accounts/revision-date").respond_with_data("Unauthorized", status=401)
    httpserver.expect_request("/api/accounts/revision-date").respond_with_json(2)
    client = vw(httpserver)
    assert client.revision_date().failure_class == "token_invalid"
    assert client.revision_date().ok
    assert len(sent(httpserver, "/identity/connect/token")) == 2


def test_vaultwarden_429_backs_off_exponentially_without_retry_after(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/identity/connect/token").respond_with_json(
        {"message": "Too many login requests"}, status=429
    )
    httpserver.expect_oneshot_request("/identity/connect/token").respond_with_json(
        {"message": "Too many login requests"}, status=429
    )
    httpserver.expect_request("/identity/connect/token").respond_with_json(VW_TOKEN_BODY)
    waits: list[float] = []
    limits = Limits(max_attempts=3, backoff_base=1.0, backoff_max=8.0, max_total_wait=30.0)
    client = VaultwardenClient(
        base(httpserver), client_id=VW_ID, client_secret=VW_SECRET, limits=limits, sleep=waits.append
    )
    result = client.login()
    assert result.ok
    assert result.attempts == 3
    assert 0.5 <= waits[0] <= 1.0
    assert 1.0 <= waits[1] <= 2.0


def test_vaultwarden_login_needs_an_api_key() -> None:
    with pytest.raises(MissingSettingError, match="vaultwarden: login needs an API key; missing: client_secret"):
        VaultwardenClient("http://127.0.0.1:9", client_id=VW_ID).login()


# -- Infisical ---------------------------------------------------------------------------------------------


def inf(server: HTTPServer, **kwargs: Any) -> InfisicalClient:
    """Return an Infisical client on the test server with a fake machine identity."""
    return InfisicalClient(base(server), client_id=INF_ID, client_secret=INF_SECRET, limits=FAST, **kwargs)


def serve_login(server: HTTPServer, expires_in: int = 2592000) -> None:
    """Answer the Universal Auth login with a fake token."""
    server.expect_request(LOGIN_PATH, method="POST").respond_with_json(
        {"accessToken": INF_ACCESS, "expiresIn": expires_in, "accessTokenMaxTTL": 2592000, "tokenType": "Bearer"}
    )


def secret(key: str, value: str) -> dict[str, Any]:
    """Return one raw secret as the v3 listing returns it."""
    return {
        "id": f"id-{key}",
        "_id": f"id-{key}",
        "secretKey": key,
        "secretValue": value,
        "type": "shared",
        "version": 1,
    }


def test_infisical_status_probe(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/status").respond_with_json({"date": "2026-08-20T20:03:56Z", "message": "Ok"})
    result = inf(httpserver).status()
    assert result.ok
    assert result.body["message"] == "Ok"
    assert result.attempts == 1
    assert "Authorization" not in sent(httpserver)[0].headers


def test_infisical_token_is_cached_across_calls(httpserver: HTTPServer) -> None:
    serve_login(httpserver)
    httpserver.expect_request("/api/v3/secrets/raw").respond_with_json({"secrets": [], "imports": []})
    client = inf(httpserver)
    for _ in range(3):
        assert client.list_secrets(PROJECT, "prod").ok
    (login,) = sent(httpserver, LOGIN_PATH)
    assert login.json == {"clientId": INF_ID, "clientSecret": INF_SECRET}
    assert client.logins == 1
    listings = sent(httpserver, "/api/v3/secrets/raw")
    assert len(listings) == 3
    assert all(r.headers["Authorization"] == f"Bearer {INF_ACCESS}" for r in listings)
    assert listings[0].args.to_dict() == {
        "workspaceId": PROJECT,
        "environment": "prod",
        "secretPath": "/",
        "recursive": "false",
        "viewSecretValue": "false",
    }


def test_infisical_token_is_renewed_before_expiry(httpserver: HTTPServer) -> None:
    serve_login(httpserver, expires_in=100)  # margin: min(60 s, 10 s) = 10 s
    httpserver.expect_request("/api/v3/secrets/raw").respond_with_json({"secrets": []})
    clock = SettableClock()
    client = inf(httpserver, clock=clock)
    client.list_secrets(PROJECT, "prod")
    clock.now += 89
    client.list_secrets(PROJECT, "prod")
    assert client.logins == 1
    clock.now += 1
    client.list_secrets(PROJECT, "prod")
    assert client.logins == 2
    assert len(sent(httpserver, LOGIN_PATH)) == 2


def test_infisical_token_without_expiry_is_never_renewed(httpserver: HTTPServer) -> None:
    serve_login(httpserver, expires_in=0)
    httpserver.expect_request("/api/v3/secrets/raw").respond_with_json({"secrets": []})
    clock = SettableClock()
    client = inf(httpserver, clock=clock)
    client.list_secrets(PROJECT, "prod")
    clock.now += 10**9
    client.list_secrets(PROJECT, "prod")
    assert client.logins == 1


def test_infisical_login_record_and_body_hide_the_token(httpserver: HTTPServer) -> None:
    serve_login(httpserver)
    result = inf(httpserver).login()
    assert result.ok
    assert result.mode == "universal_auth"
    (exchange,) = result.exchanges
    assert exchange.request_body == {"clientId": MASK, "clientSecret": MASK}
    assert exchange.response_body == {
        "accessToken": MASK,
        "expiresIn": 2592000,
        "accessTokenMaxTTL": 2592000,
        "tokenType": "Bearer",
    }
    assert result.body == exchange.response_body


def test_infisical_listing_with_values_registers_them_and_never_records_them(httpserver: HTTPServer) -> None:
    serve_login(httpserver)
    httpserver.expect_request("/api/v3/secrets/raw").respond_with_json(
        {"secrets": [secret("DB_PASSWORD", "FAKE-db-pass-1a2b3c"), secret("API_URL", "FAKE-api-url-value-9z")]}
    )
    result = inf(httpserver).list_secrets(PROJECT, "prod", "/infra-core", recursive=True, view_values=True)
    assert result.ok
    assert sent(httpserver, "/api/v3/secrets/raw")[0].args["viewSecretValue"] == "true"
    assert sent(httpserver, "/api/v3/secrets/raw")[0].args["recursive"] == "true"
    recorded = str(result.exchanges)
    assert "FAKE-db-pass-1a2b3c" not in recorded
    assert "FAKE-api-url-value-9z" not in recorded
    assert result.exchanges[-1].response_body["secrets"][0]["secretValue"] == MASK
    assert result.exchanges[-1].response_body["secrets"][0]["secretKey"] == "DB_PASSWORD"
    assert REDACTOR.mask("x FAKE-api-url-value-9z") == "x [REDACTED:infisical.API_URL]"


def test_infisical_listing_without_values_masks_a_misbehaving_server(httpserver: HTTPServer) -> None:
    serve_login(httpserver)
    httpserver.expect_request("/api/v3/secrets/raw").respond_with_json({"secrets": [secret("K", "FAKE-leaked-7e7e7e")]})
    result = inf(httpserver).list_secrets(PROJECT, "prod")
    assert "FAKE-leaked-7e7e7e" not in str(result.exchanges)


def test_infisical_fetch_secrets_returns_only_wanted_keys(httpserver: HTTPServer) -> None:
    serve_login(httpserver)
    httpserver.expect_request("/api/v3/secrets/raw").respond_with_json(
        {"secrets": [secret("A", "FAKE-value-a-0001"), secret("B", "FAKE-value-b-0002"), secret("C", "FAKE-c-0003")]}
    )
    values = inf(httpserver).fetch_secrets(PROJECT, "prod", "/infra-core", ["B", "A"])
    assert values == {"B": "FAKE-value-b-0002", "A": "FAKE-value-a-0001"}
    assert REDACTOR.contains_secret("FAKE-value-a-0001")
    assert REDACTOR.contains_secret("FAKE-value-b-0002")


def test_infisical_fetch_secrets_names_missing_keys_never_values(httpserver: HTTPServer) -> None:
    serve_login(httpserver)
    httpserver.expect_request("/api/v3/secrets/raw").respond_with_json({"secrets": [secret("A", "FAKE-value-a-4444")]})
    with pytest.raises(InfisicalSecretMissingError) as info:
        inf(httpserver).fetch_secrets(PROJECT, "prod", "/infra-core", ["A", "CLOUDFLARE_API_TOKEN", "X"])
    assert str(info.value) == (
        "infisical: secrets CLOUDFLARE_API_TOKEN, X not found at /infra-core in environment prod of project "
        f"{PROJECT}; add them there or fix the reference"
    )
    assert info.value.missing == ["CLOUDFLARE_API_TOKEN", "X"]
    assert "FAKE-value-a-4444" not in str(info.value)


def test_infisical_fetch_secrets_raises_api_error_when_the_listing_fails(httpserver: HTTPServer) -> None:
    serve_login(httpserver)
    httpserver.expect_request("/api/v3/secrets/raw").respond_with_json(
        {"reqId": "req-x", "statusCode": 404, "message": "Folder with path '/nope' not found", "error": "NotFound"},
        status=404,
    )
    with pytest.raises(ApiError) as info:
        inf(httpserver).fetch_secrets(PROJECT, "prod", "/nope", ["A"])
    assert str(info.value) == (
        "infisical: GET /api/v3/secrets/raw -> 404 http_404 after 1 attempt (waited 0.0s, mode=token): "
        "NotFound: Folder with path '/nope' not found"
    )


def test_infisical_refused_login_is_token_invalid(httpserver: HTTPServer) -> None:
    httpserver.expect_request(LOGIN_PATH).respond_with_json(
        {"reqId": "req-1", "statusCode": 401, "message": "Invalid credentials", "error": "UnauthorizedError"},
        status=401,
    )
    result = inf(httpserver).list_secrets(PROJECT, "prod")
    assert (result.failure_class, result.path, result.detail) == (
        "token_invalid",
        LOGIN_PATH,
        "UnauthorizedError: Invalid credentials",
    )
    assert sent(httpserver, "/api/v3/secrets/raw") == []


@pytest.mark.parametrize(
    ("error", "expected"),
    [("TokenError", "token_invalid"), ("PermissionDenied", "http_403")],
    ids=["token-error", "permission-denied"],
)
def test_infisical_403_is_split_by_error_kind(httpserver: HTTPServer, error: str, expected: str) -> None:
    serve_login(httpserver)
    httpserver.expect_request("/api/v3/secrets/raw").respond_with_json(
        {"reqId": "req-2", "statusCode": 403, "message": "nope", "error": error}, status=403
    )
    client = inf(httpserver)
    assert client.list_secrets(PROJECT, "prod").failure_class == expected
    client.list_secrets(PROJECT, "prod")
    assert client.logins == (2 if expected == "token_invalid" else 1)  # a refused token is dropped


def test_infisical_login_needs_an_identity() -> None:
    with pytest.raises(MissingSettingError, match="infisical: Universal Auth login needs client_id, client_secret"):
        InfisicalClient("http://127.0.0.1:9").login()


# -- Authentik ---------------------------------------------------------------------------------------------


def ak(server: HTTPServer, token: str | None = AK_TOKEN) -> AuthentikClient:
    """Return an Authentik client on the test server with a fake API token."""
    return AuthentikClient(base(server), api_token=token, limits=FAST)


@pytest.mark.parametrize(
    ("status", "state", "failure"),
    [(200, "healthy", None), (204, "healthy", None), (503, "not_ready", "api_error"), (502, "starting", "api_error")],
    ids=["200", "204", "503", "502"],
)
def test_authentik_health_states(httpserver: HTTPServer, status: int, state: str, failure: str | None) -> None:
    httpserver.expect_request("/-/health/ready/").respond_with_data("", status=status)
    httpserver.expect_request("/-/health/live/").respond_with_data("", status=status)
    client = ak(httpserver)
    for result in (client.health_ready(), client.health_live()):
        assert (health_state(result), result.failure_class, result.attempts) == (state, failure, 1)
    assert all("Authorization" not in r.headers for r in sent(httpserver))


def test_authentik_health_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = AuthentikClient(f"http://127.0.0.1:{port}", limits=FAST).health_live()
    assert (health_state(result), result.failure_class, result.attempts) == ("unreachable", "network_error", 1)


def test_authentik_reads_send_the_bearer_token(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v3/admin/version/").respond_with_json(
        {"version_current": "2026.2.2", "version_latest": "2026.2.2", "outdated": False}
    )
    httpserver.expect_request("/api/v3/core/users/me/").respond_with_json({"user": {"pk": 1, "username": "svc-verify"}})
    httpserver.expect_request("/api/v3/outposts/instances/abc-1/health/").respond_with_json(
        [{"uid": "i1", "version": "2026.2.2"}]
    )
    client = ak(httpserver)
    assert client.version().body["version_current"] == "2026.2.2"
    me = client.me()
    assert me.ok
    assert me.body["user"]["username"] == "svc-verify"
    assert me.mode == "token"
    assert client.outpost_health("abc-1").body == [{"uid": "i1", "version": "2026.2.2"}]
    assert all(r.headers["Authorization"] == f"Bearer {AK_TOKEN}" for r in sent(httpserver))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"detail": "Token invalid/expired"}, "token_invalid"),
        ({"detail": "Authentication credentials were not provided."}, "token_invalid"),
        ({"detail": "You do not have permission to perform this action.", "code": "permission_denied"}, "http_403"),
    ],
    ids=["bad-token", "no-credentials", "permission"],
)
def test_authentik_403_classification(httpserver: HTTPServer, body: dict[str, str], expected: str) -> None:
    httpserver.expect_request("/api/v3/core/users/me/").respond_with_json(body, status=403)
    result = ak(httpserver).me()
    assert (result.failure_class, result.status, result.attempts, result.detail) == (expected, 403, 1, body["detail"])


def test_authentik_outposts_follow_pagination_next(httpserver: HTTPServer) -> None:
    pages = {
        "1": {
            "pagination": {"next": 2, "previous": 0, "count": 3, "current": 1, "total_pages": 2},
            "results": [{"pk": "a"}, {"pk": "b"}],
        },
        "2": {
            "pagination": {"next": 0, "previous": 1, "count": 3, "current": 2, "total_pages": 2},
            "results": [{"pk": "c"}],
        },
    }
    for page, body in pages.items():
        httpserver.expect_request(
            "/api/v3/outposts/instances/", query_string={"page": page, "page_size": "2"}
        ).respond_with_json(body)
    result = ak(httpserver).outposts(page_size=2)
    assert result.ok
    assert [o["pk"] for o in result.items] == ["a", "b", "c"]
    assert len(result.pages) == 2


def test_authentik_outposts_are_bounded_when_next_points_back(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v3/outposts/instances/").respond_with_json(
        {"pagination": {"next": 1, "current": 1, "total_pages": 9}, "results": [{"pk": "a"}]}
    )
    result = ak(httpserver).outposts()
    assert result.truncated
    assert len(httpserver.log) == 1
    assert result.warnings == ["page 1 points back to page 1"]


def test_authentik_system_echo_is_masked_in_body_and_record(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v3/admin/system/").respond_with_json(
        {
            "http_headers": {
                "HTTP_AUTHORIZATION": f"Bearer {AK_TOKEN}",
                "HTTP_HOST": "authentik.example.test",
                "HTTP_X_DEBUG": f"echo {AK_TOKEN}",
            },
            "http_host": "authentik.example.test",
            "runtime": {"authentik_version": "2026.2.2"},
        }
    )
    result = ak(httpserver).system()
    assert result.ok
    headers = result.body["http_headers"]
    assert headers["HTTP_AUTHORIZATION"] == MASK
    assert headers["HTTP_HOST"] == "authentik.example.test"
    assert headers["HTTP_X_DEBUG"] == "echo [REDACTED:authentik.api_token]"
    assert AK_TOKEN not in json.dumps(result.body)
    assert AK_TOKEN not in str(result.exchanges)
    assert result.exchanges[0].response_body["http_headers"]["HTTP_AUTHORIZATION"] == MASK


def test_authentik_api_calls_need_a_token() -> None:
    with pytest.raises(MissingSettingError, match=r"authentik: GET /api/v3/core/users/me/ needs api_token"):
        AuthentikClient("http://127.0.0.1:9").me()
