"""Planted fake credentials never leave a client: not in exchanges, descriptions, error messages or results."""

from __future__ import annotations

import socket

import pytest
from pytest_httpserver import HTTPServer

from infracore_verify.clients.authentik import AuthentikClient
from infracore_verify.clients.cloudflare import CloudflareClient
from infracore_verify.clients.http import ApiClientError, ApiError, ApiResult, Limits
from infracore_verify.clients.infisical import LOGIN_PATH, InfisicalClient
from infracore_verify.clients.vaultwarden import VaultwardenClient
from infracore_verify.redact import MASK
from tests.conftest import base

pytestmark = pytest.mark.timeout(20)

LIMITS = Limits(connect_timeout=1.0, read_timeout=2.0, max_attempts=2, backoff_base=0.01, backoff_max=0.01)
CF_TOKEN = "FAKE-planted-cf-token-d41d8c"
CF_EMAIL = "planted-fake@example.invalid"
CF_KEY = "FAKE-planted-cf-key-98f00b"
VW_SECRET = "FAKE-planted-vw-secret-204e"
INF_SECRET = "FAKE-planted-inf-secret-c3a1"
AK_TOKEN = "FAKE-planted-ak-token-7b19"
PLANTED = (CF_TOKEN, CF_EMAIL, CF_KEY, VW_SECRET, INF_SECRET, AK_TOKEN)


def assert_clean(result: ApiResult) -> None:
    """Assert that no planted credential shows in the result's exchanges, description or ApiError."""
    with pytest.raises(ApiError) as info:
        result.raise_for_failure()
    for text in (str(result.exchanges), result.describe(), str(info.value), repr(result), str(result.warnings)):
        for value in PLANTED:
            assert value not in text


def test_cloudflare_failure_after_fallback_leaks_nothing(httpserver: HTTPServer) -> None:
    # The server echoes whatever credential it got, as a careless proxy might.
    httpserver.expect_request("/zones", headers={"Authorization": f"Bearer {CF_TOKEN}"}).respond_with_json(
        {"success": False, "errors": [{"code": 10000, "message": f"bad token {CF_TOKEN}"}], "result": None}, status=401
    )
    httpserver.expect_request("/zones", headers={"X-Auth-Key": CF_KEY}).respond_with_json(
        {"success": False, "errors": [{"code": 9103, "message": f"unknown {CF_EMAIL} / {CF_KEY}"}], "result": None},
        status=403,
    )
    client = CloudflareClient(base(httpserver), api_token=CF_TOKEN, api_email=CF_EMAIL, api_key=CF_KEY, limits=LIMITS)
    result = client.request("GET", "/zones")
    assert (result.failure_class, result.mode, result.fallback_used) == ("token_invalid", "global", True)
    assert_clean(result)
    token_leg, global_leg = result.exchanges
    assert token_leg.request_headers["Authorization"] == MASK
    assert global_leg.request_headers["X-Auth-Email"] == MASK
    assert global_leg.request_headers["X-Auth-Key"] == MASK
    assert result.detail == "9103 unknown [REDACTED:cloudflare.api_email] / [REDACTED:cloudflare.api_key]"


def test_vaultwarden_refused_login_leaks_nothing(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/identity/connect/token").respond_with_json(
        {"message": "Incorrect client_secret", "echo": VW_SECRET}, status=400
    )
    client = VaultwardenClient(base(httpserver), client_id="user.fake-0001", client_secret=VW_SECRET, limits=LIMITS)
    result = client.login()
    assert result.failure_class == "token_invalid"
    assert_clean(result)
    assert result.exchanges[0].request_body["client_secret"] == MASK


def test_infisical_refused_login_leaks_nothing(httpserver: HTTPServer) -> None:
    httpserver.expect_request(LOGIN_PATH).respond_with_json(
        {"statusCode": 401, "message": f"Invalid credentials for {INF_SECRET}", "error": "UnauthorizedError"},
        status=401,
    )
    client = InfisicalClient(base(httpserver), client_id="fake-inf-id-0001", client_secret=INF_SECRET, limits=LIMITS)
    result = client.list_secrets("proj-fake", "prod")
    assert result.failure_class == "token_invalid"
    assert_clean(result)
    assert result.exchanges[0].request_body == {"clientId": MASK, "clientSecret": MASK}


def test_authentik_refused_token_leaks_nothing(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v3/admin/system/").respond_with_json(
        {"detail": f"Token invalid/expired: {AK_TOKEN}"}, status=403
    )
    result = AuthentikClient(base(httpserver), api_token=AK_TOKEN, limits=LIMITS).system()
    assert result.failure_class == "token_invalid"
    assert_clean(result)
    assert result.exchanges[0].request_headers["Authorization"] == MASK


def test_network_failure_description_leaks_nothing() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = CloudflareClient(f"http://127.0.0.1:{port}", api_token=CF_TOKEN, limits=LIMITS)
    result = client.request("GET", "/zones", params={"name": CF_TOKEN})
    assert result.failure_class == "network_error"
    assert_clean(result)
    assert CF_TOKEN not in result.exchanges[0].url


def test_base_url_with_userinfo_is_refused_before_any_request(httpserver: HTTPServer) -> None:
    """Refuses `http://user:secret@host` (requests would send it as Basic auth), naming it without the secret."""
    url = base(httpserver).replace("http://", f"http://ops:{AK_TOKEN}@")
    with pytest.raises(ApiClientError) as info:
        AuthentikClient(url, api_token="FAKE-other-token-0001", limits=LIMITS)
    assert AK_TOKEN not in str(info.value)
    assert "http://***@127.0.0.1:" in str(info.value)
    assert httpserver.log == []


def test_error_text_is_masked_before_it_is_cut(httpserver: HTTPServer) -> None:
    """Masks a secret that straddles the cut of a long server message (its start would otherwise remain)."""
    httpserver.expect_request("/api/v3/admin/system/").respond_with_json(
        {"detail": "x" * 190 + f" {AK_TOKEN} and more"}, status=500
    )
    result = AuthentikClient(base(httpserver), api_token=AK_TOKEN, limits=LIMITS).system()
    assert result.detail is not None
    assert AK_TOKEN[:8] not in result.detail
