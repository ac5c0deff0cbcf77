"""HTTP plumbing and the Cloudflare client against a real pytest-httpserver on 127.0.0.1: the bytes on the wire."""

from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from infracore_verify.clients.cloudflare import (
    CloudflareAuthMissingError,
    CloudflareClient,
    CloudflareEnvelope,
    token_health,
)
from infracore_verify.clients.http import (
    USER_AGENT,
    ApiError,
    Limits,
    LimitsError,
    MissingSettingError,
    Sleep,
    parse_retry_after,
)
from tests.conftest import base

pytestmark = pytest.mark.timeout(20)

TOKEN = "FAKE-cf-token-0b7e1c9d"
EMAIL = "fake-ops@example.invalid"
KEY = "FAKE-cf-global-key-5a2f80"
ACCOUNT = "fakeacct0001"
FAST = Limits(
    connect_timeout=1.0,
    read_timeout=2.0,
    max_attempts=4,
    retry_after_clamp=(0.01, 0.05),
    backoff_base=0.01,
    backoff_max=0.02,
    max_total_wait=1.0,
)


def cf(server: HTTPServer, limits: Limits = FAST, *, sleep: Sleep | None = None, **creds: Any) -> CloudflareClient:
    """Return a Cloudflare client on the test server; token, global key and account by default.

    `sleep`, when given, replaces the client's real sleep (e.g. `waits.append` to record waits without sleeping).
    """
    creds = {"api_token": TOKEN, "api_email": EMAIL, "api_key": KEY, "account_id": ACCOUNT, **creds}
    if sleep is not None:
        creds["sleep"] = sleep
    return CloudflareClient(base(server), limits=limits, **creds)


def assert_backoff(waits: list[float], limits: Limits) -> None:
    """Assert each wait lies in its equal-jitter backoff window: the upper half of min(max, base * 2**(n-1))."""
    for n, wait in enumerate(waits, start=1):
        window = min(limits.backoff_max, limits.backoff_base * 2 ** (n - 1))
        assert window / 2 - 1e-9 <= wait <= window + 1e-9, f"wait {n} = {wait:g}s outside [{window / 2:g}, {window:g}]"


def envelope(result: Any, **info: Any) -> dict[str, Any]:
    """Return a successful v4 envelope."""
    body: dict[str, Any] = {"success": True, "errors": [], "messages": [], "result": result}
    if info:
        body["result_info"] = info
    return body


def failure(code: int, message: str, **extra: Any) -> dict[str, Any]:
    """Return a v4 failure envelope."""
    return {"success": False, "errors": [{"code": code, "message": message, **extra}], "messages": [], "result": None}


def sent(server: HTTPServer) -> list[Request]:
    """Return the requests the server received, in order."""
    return [request for request, _ in server.log]


def closed_port() -> int:
    """Return a 127.0.0.1 port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- Limits and Retry-After ----------------------------------------------------------------------------


def test_limits_from_environment_mapping() -> None:
    limits = Limits.from_mapping(
        {
            "concurrency": 2,
            "requests_per_second": 5,
            "max_retry_wait_seconds": 12,
            "retry_after_clamp_seconds": [1, 9],
            "max_attempts": 3,
            "read_timeout_seconds": 4,
        }
    )
    assert limits == Limits(
        concurrency=2,
        requests_per_second=5.0,
        max_total_wait=12.0,
        retry_after_clamp=(1.0, 9.0),
        max_attempts=3,
        read_timeout=4.0,
    )
    assert Limits.from_mapping(None) == Limits()
    assert Limits.from_mapping({}) == Limits()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"max_retries": 3}, "limits.max_retries is not a known limit; allowed: backoff_base_seconds, "),
        ({"retry_after_clamp_seconds": [5]}, "limits.retry_after_clamp_seconds must be [min, max] numbers, got [5]"),
        ({"retry_after_clamp_seconds": [9, 1]}, "retry_after_clamp must be [min, max] with 0 <= min <= max"),
        ({"max_attempts": 0}, "limits.max_attempts must be between 1 and 20, got 0"),
        ({"max_attempts": 2.5}, "limits.max_attempts must be an integer, got 2.5"),
        ({"concurrency": "4"}, "limits.concurrency must be a number, got '4'"),
    ],
    ids=["unknown-key", "short-clamp", "inverted-clamp", "zero-attempts", "fractional-attempts", "string"],
)
def test_limits_reject_malformed_mappings(data: dict[str, Any], message: str) -> None:
    with pytest.raises(LimitsError) as info:
        Limits.from_mapping(data)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_retry_after_parses_seconds_and_http_dates() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    when = parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=lambda: datetime(2015, 10, 21, 7, 28, tzinfo=UTC))
    assert when == 30.0


# -- auth and fallback -------------------------------------------------------------------------------------


def test_token_is_sent_as_bearer_with_user_agent(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/user/tokens/verify").respond_with_json(
        envelope({"id": "t1", "status": "active"}) | {"messages": [{"code": 10000, "message": "valid and active"}]}
    )
    result = cf(httpserver).verify_token()
    assert (result.ok, result.status, result.mode, result.attempts, result.fallback_used) == (
        True,
        200,
        "token",
        1,
        False,
    )
    assert token_health(result) == "valid"
    (request,) = sent(httpserver)
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["User-Agent"] == USER_AGENT
    assert "X-Auth-Key" not in request.headers
    assert result.describe() == "GET /user/tokens/verify -> 200 ok after 1 attempt (waited 0.0s, mode=token)"


@pytest.mark.parametrize("status", [401, 403], ids=["401", "403"])
def test_refused_token_falls_back_to_global_key_on_get(httpserver: HTTPServer, status: int) -> None:
    httpserver.expect_request("/zones", headers={"Authorization": f"Bearer {TOKEN}"}).respond_with_json(
        failure(10000, "Authentication error"), status=status
    )
    httpserver.expect_request("/zones", headers={"X-Auth-Key": KEY}).respond_with_json(
        envelope([{"id": "z1", "name": "example.test"}], page=1, per_page=50, total_pages=1)
    )
    result = cf(httpserver).zones()
    assert result.ok
    assert [z["id"] for z in result.items] == ["z1"]
    (page,) = result.pages
    assert (page.status, page.mode, page.fallback_used, page.fallback_reason) == (200, "global", True, "token_invalid")
    assert page.attempts == 2
    assert [e.status for e in page.exchanges] == [status, 200]
    assert page.warnings == [
        f"API token refused with {status} (10000 Authentication error) on GET /zones; "
        "fell back to the Global API Key (read-only fallback)"
    ]
    first, second = sent(httpserver)
    assert first.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "X-Auth-Key" not in first.headers
    assert second.headers["X-Auth-Email"] == EMAIL
    assert second.headers["X-Auth-Key"] == KEY
    assert "Authorization" not in second.headers
    assert "fallback=token_invalid" in page.describe()


@pytest.mark.parametrize("status", [401, 403], ids=["401", "403"])
def test_refused_token_never_falls_back_on_post(httpserver: HTTPServer, status: int) -> None:
    httpserver.expect_request("/zones", method="POST").respond_with_json(
        failure(10000, "Authentication error"), status=status
    )
    result = cf(httpserver).request("POST", "/zones", json={"name": "example.test"})
    assert (result.failure_class, result.status, result.mode, result.fallback_used) == (
        "token_invalid",
        status,
        "token",
        False,
    )
    (request,) = sent(httpserver)
    assert "X-Auth-Key" not in request.headers
    assert request.json == {"name": "example.test"}
    assert result.warnings == [
        f"API token refused with {status} (10000 Authentication error) on POST /zones; "
        "mutations never fall back to the Global API Key"
    ]


def test_refused_token_without_global_key_reports_token_invalid(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/zones").respond_with_json(failure(10000, "Authentication error"), status=403)
    result = cf(httpserver, api_email=None, api_key=None).request("GET", "/zones")
    assert (result.failure_class, result.mode, result.attempts) == ("token_invalid", "token", 1)
    assert "no Global API Key configured" in result.warnings[0]


def test_global_key_alone_is_used_from_the_start(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/zones").respond_with_json(envelope([], page=1, per_page=50, total_pages=0))
    client = cf(httpserver, api_token=None)
    result = client.zones()
    assert result.ok
    assert result.items == []
    assert not result.fallback_used
    assert result.pages[0].mode == "global"
    (request,) = sent(httpserver)
    assert "Authorization" not in request.headers
    assert request.headers["X-Auth-Key"] == KEY
    no_token = client.verify_token()
    assert (no_token.failure_class, no_token.attempts, token_health(no_token)) == ("no_token", 0, "no_token")
    assert len(httpserver.log) == 1


@pytest.mark.parametrize(
    ("creds", "missing"),
    [
        ({}, "api_token, api_email, api_key"),
        ({"api_email": EMAIL}, "api_token, api_key"),
        ({"api_key": KEY}, "api_token, api_email"),
    ],
    ids=["nothing", "email-only", "key-only"],
)
def test_missing_credentials_raise_naming_what_is_missing(creds: dict[str, str], missing: str) -> None:
    with pytest.raises(CloudflareAuthMissingError) as info:
        CloudflareClient("http://127.0.0.1:9", api_email=creds.get("api_email"), api_key=creds.get("api_key"))
    assert str(info.value) == (
        "cloudflare: no usable credentials: give api_token (preferred), or api_email and api_key together "
        f"(the Global API Key); missing: {missing}"
    )
    assert isinstance(info.value, MissingSettingError)


# -- rate limits and retries -------------------------------------------------------------------------------


def test_429_never_falls_back_and_honours_clamped_retry_after(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/zones").respond_with_json(
        failure(971, "Please wait and consider throttling your request speed"), status=429, headers={"Retry-After": "1"}
    )
    limits = Limits(retry_after_clamp=(0.05, 0.2), max_attempts=4, max_total_wait=5.0, read_timeout=2.0)
    slept: list[float] = []
    result = cf(httpserver, limits, sleep=slept.append).request("GET", "/zones")
    assert (result.failure_class, result.status, result.attempts, result.mode) == ("rate_limited", 429, 4, "token")
    assert result.waits == slept == [0.2, 0.2, 0.2]  # Retry-After 1 clamped down to 0.2, asked of the sleep
    assert result.waited == pytest.approx(0.6)
    assert all("X-Auth-Key" not in r.headers for r in sent(httpserver))
    assert len(httpserver.log) == 4
    assert result.describe() == (
        "GET /zones -> 429 rate_limited after 4 attempts (waited 0.6s, mode=token): "
        "971 Please wait and consider throttling your request speed"
    )
    with pytest.raises(ApiError, match=r"^cloudflare: GET /zones -> 429 rate_limited after 4 attempts"):
        result.raise_for_failure()


def test_429_then_success_clamps_a_zero_retry_after_up(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/zones").respond_with_json(
        failure(971, "slow down"), status=429, headers={"Retry-After": "0"}
    )
    httpserver.expect_oneshot_request("/zones").respond_with_json(envelope([]))
    waits: list[float] = []
    client = CloudflareClient(base(httpserver), api_token=TOKEN, limits=FAST, sleep=waits.append)
    result = client.request("GET", "/zones")
    assert result.ok
    assert result.attempts == 2
    assert waits == [0.01]
    assert [e.status for e in result.exchanges] == [429, 200]


def test_429_without_retry_after_uses_jittered_exponential_backoff(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/zones").respond_with_json(failure(971, "slow down"), status=429)
    waits: list[float] = []
    limits = Limits(max_attempts=5, backoff_base=1.0, backoff_max=3.0, max_total_wait=100.0)
    client = CloudflareClient(base(httpserver), api_token=TOKEN, limits=limits, sleep=waits.append)
    result = client.request("GET", "/zones")
    assert result.attempts == 5
    assert len(waits) == 4
    assert result.waits == waits
    for wait, window in zip(waits, [1.0, 2.0, 3.0, 3.0], strict=True):
        assert window / 2 <= wait <= window
    assert result.waited == pytest.approx(sum(waits))


def test_total_wait_cap_stops_retries_before_max_attempts(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/zones").respond_with_json(
        failure(971, "slow down"), status=429, headers={"Retry-After": "10"}
    )
    waits: list[float] = []
    limits = Limits(max_attempts=10, retry_after_clamp=(0.0, 30.0), max_total_wait=25.0)
    client = CloudflareClient(base(httpserver), api_token=TOKEN, limits=limits, sleep=waits.append)
    result = client.request("GET", "/zones")
    assert (result.attempts, waits, result.failure_class) == (3, [10.0, 10.0], "rate_limited")
    assert result.warnings == ["retries stopped after 3 of 10 attempts: the next wait would exceed max_total_wait=25s"]


def test_429_is_retried_on_post_too(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/zones", method="POST").respond_with_json(failure(971, "slow"), status=429)
    httpserver.expect_oneshot_request("/zones", method="POST").respond_with_json(envelope({"id": "z9"}))
    result = cf(httpserver).request("POST", "/zones", json={"name": "example.test"})
    assert result.ok
    assert result.attempts == 2
    assert len(httpserver.log) == 2


def test_5xx_is_retried_on_get_then_reported_as_api_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/zones").respond_with_json(failure(10013, "upstream unavailable"), status=503)
    result = cf(httpserver, Limits(max_attempts=3, backoff_base=0.01, backoff_max=0.02)).request("GET", "/zones")
    assert (result.failure_class, result.status, result.attempts, result.mode) == ("api_error", 503, 3, "token")
    assert not result.fallback_used
    assert len(httpserver.log) == 3
    assert result.detail == "10013 upstream unavailable"


def test_5xx_is_not_retried_on_post(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/zones", method="POST").respond_with_data("oops", status=500)
    result = cf(httpserver).request("POST", "/zones", json={})
    assert (result.failure_class, result.status, result.attempts) == ("api_error", 500, 1)
    assert result.exchanges[0].response_body == "oops"


def test_refused_connection_is_network_error_and_bounded() -> None:
    port = closed_port()
    slept: list[float] = []
    client = CloudflareClient(
        f"http://127.0.0.1:{port}", api_token=TOKEN, api_email=EMAIL, api_key=KEY, limits=FAST, sleep=slept.append
    )
    result = client.request("GET", "/zones")
    assert (result.failure_class, result.status, result.attempts, result.mode) == ("network_error", 0, 4, "token")
    assert result.waits == slept
    assert len(slept) == FAST.max_attempts - 1
    assert_backoff(slept, FAST)
    assert not result.fallback_used
    assert all(e.status is None and e.error and "ConnectionError" in e.error for e in result.exchanges)
    assert result.describe().startswith("GET /zones -> no response network_error after 4 attempts (waited ")
    post = client.request("POST", "/zones", json={})
    assert (post.failure_class, post.attempts) == ("network_error", 1)


def test_read_timeout_is_its_own_class_and_bounded(httpserver: HTTPServer) -> None:
    release = threading.Event()

    def stall(request: Request) -> Response:
        release.wait(3)
        return Response("{}", content_type="application/json")

    httpserver.expect_request("/zones").respond_with_handler(stall)
    limits = Limits(read_timeout=0.15, max_attempts=2, backoff_base=0.01, backoff_max=0.02)
    slept: list[float] = []
    try:
        result = cf(httpserver, limits, sleep=slept.append).request("GET", "/zones")
    finally:
        release.set()
    assert (result.failure_class, result.status, result.attempts, result.fallback_used) == ("timeout", 0, 2, False)
    assert "ReadTimeout" in (result.detail or "")
    # Each attempt gave up at the configured read timeout, not at the server's 3 s stall.
    assert all("Read timed out. (read timeout=0.15)" in (e.error or "") for e in result.exchanges)
    assert result.waits == slept
    assert len(slept) == 1
    assert_backoff(slept, limits)


def test_redirects_are_not_followed(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/zones").respond_with_data("", status=302, headers={"Location": "http://127.0.0.2:9/x"})
    result = cf(httpserver).request("GET", "/zones")
    assert (result.failure_class, result.status, result.attempts) == ("http_302", 302, 1)


# -- envelope and parsing ----------------------------------------------------------------------------------


def test_non_json_2xx_is_parse_error_and_not_retried(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/zones").respond_with_data("<html>captive portal</html>", content_type="text/html")
    result = cf(httpserver).request("GET", "/zones")
    assert (result.failure_class, result.status, result.attempts, result.body) == ("parse_error", 200, 1, None)
    assert result.detail == "body is not JSON (text/html)"
    assert result.exchanges[0].response_body == "<html>captive portal</html>"


def test_head_without_body_is_a_success(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/zones", method="HEAD").respond_with_data("")
    result = cf(httpserver).request("HEAD", "/zones")
    assert (result.ok, result.status, result.body) == (True, 200, None)


def test_json_2xx_without_envelope_is_parse_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/zones").respond_with_json([{"id": "z1"}])
    result = cf(httpserver).request("GET", "/zones")
    assert (result.failure_class, result.detail) == (
        "parse_error",
        "2xx body is not a Cloudflare envelope (no boolean 'success')",
    )


def test_success_false_with_200_is_api_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/zones/bad/dns_records").respond_with_json(failure(1003, "Invalid or missing zone id."))
    result = cf(httpserver).request("GET", "/zones/bad/dns_records")
    assert (result.failure_class, result.status, result.attempts) == ("api_error", 200, 1)
    assert result.detail == "1003 Invalid or missing zone id."
    parsed = CloudflareEnvelope.parse(result.body)
    assert parsed is not None
    assert not parsed.success
    assert parsed.errors[0].code == 1003


def test_other_4xx_is_http_code_with_error_chain(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/zones").respond_with_json(
        failure(
            6003,
            "Invalid request headers",
            error_chain=[{"code": 6111, "message": "Invalid format for Authorization header"}],
        ),
        status=400,
    )
    result = cf(httpserver).request("GET", "/zones")
    assert (result.failure_class, result.attempts, result.fallback_used) == ("http_400", 1, False)
    assert result.detail == "6003 Invalid request headers (6111 Invalid format for Authorization header)"


# -- pagination --------------------------------------------------------------------------------------------


def test_paginate_follows_total_pages(httpserver: HTTPServer) -> None:
    for page in (1, 2, 3):
        httpserver.expect_request("/zones", query_string={"page": str(page), "per_page": "2"}).respond_with_json(
            envelope([{"id": f"z{page}a"}, {"id": f"z{page}b"}][: 1 if page == 3 else 2], page=page, total_pages=3)
        )
    result = cf(httpserver).zones(per_page=2)
    assert result.ok
    assert [z["id"] for z in result.items] == ["z1a", "z1b", "z2a", "z2b", "z3a"]
    assert [r.args["page"] for r in sent(httpserver)] == ["1", "2", "3"]
    assert result.describe() == "GET /zones -> 5 items in 3 pages"


@pytest.mark.parametrize("last_page", [[{"id": "c"}], []], ids=["short-last-page", "empty-last-page"])
def test_paginate_without_total_pages_stops_on_a_short_or_empty_page(
    httpserver: HTTPServer, last_page: list[dict[str, str]]
) -> None:
    pages = {1: [{"id": "a1"}, {"id": "a2"}], 2: [{"id": "b1"}, {"id": "b2"}], 3: last_page}
    for page, items in pages.items():
        httpserver.expect_request(
            "/zones/zz/dns_records", query_string={"page": str(page), "per_page": "2"}
        ).respond_with_json(envelope(items, page=page, per_page=2))
    result = cf(httpserver).dns_records("zz", per_page=2)
    assert result.ok
    assert len(result.items) == 4 + len(last_page)
    assert len(result.pages) == 3


def test_paginate_compares_with_the_page_size_the_server_used(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/zones", query_string={"page": "1", "per_page": "100"}).respond_with_json(
        envelope([{"id": "a"}, {"id": "b"}], page=1, per_page=2)
    )
    httpserver.expect_request("/zones", query_string={"page": "2", "per_page": "100"}).respond_with_json(
        envelope([{"id": "c"}], page=2, per_page=2)
    )
    result = cf(httpserver).zones(per_page=100)
    assert result.ok
    assert [z["id"] for z in result.items] == ["a", "b", "c"]


def test_paginate_stops_on_a_failing_page_and_reports_it(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/zones", query_string={"page": "1", "per_page": "1"}).respond_with_json(
        envelope([{"id": "a"}], page=1, total_pages=3)
    )
    httpserver.expect_request("/zones", query_string={"page": "2", "per_page": "1"}).respond_with_json(
        failure(10000, "Internal error"), status=500
    )
    result = cf(httpserver, Limits(max_attempts=2, backoff_base=0.01, backoff_max=0.01)).zones(per_page=1)
    assert not result.ok
    assert result.items == [{"id": "a"}]
    assert len(result.pages) == 2
    assert result.failure is result.pages[1]
    assert (result.failure.status, result.failure.failure_class, result.failure.attempts) == (500, "api_error", 2)
    assert result.describe() == (
        "listing failed on page 2: GET /zones -> 500 api_error after 2 attempts "
        f"(waited {result.failure.waited:.1f}s, mode=token): 10000 Internal error"
    )
    assert len(httpserver.log) == 3
    with pytest.raises(ApiError):
        result.raise_for_failure()


def test_paginate_is_bounded_by_max_pages(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/zones").respond_with_json(envelope([{"id": "same"}], per_page=1))
    result = cf(httpserver).paginate("/zones", per_page=1, max_pages=3)
    assert result.truncated
    assert not result.ok
    assert result.failure is None
    assert len(httpserver.log) == 3
    assert result.warnings == ["stopped after 3 pages (max_pages)"]


def test_paginate_fails_a_page_whose_result_is_not_a_list(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/zones").respond_with_json(envelope({"id": "z1"}))
    result = cf(httpserver).zones()
    assert result.failure is not None
    assert result.failure.failure_class == "parse_error"
    assert result.failure.detail == "listing 'result' is not an array"


# -- helpers -----------------------------------------------------------------------------------------------


def test_account_helpers_hit_the_documented_paths(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        f"/accounts/{ACCOUNT}/cfd_tunnel", query_string={"is_deleted": "false", "page": "1", "per_page": "50"}
    ).respond_with_json(envelope([{"id": "t1", "status": "healthy"}], page=1, total_pages=1))
    httpserver.expect_request(f"/accounts/{ACCOUNT}/cfd_tunnel/t1/configurations").respond_with_json(
        envelope({"tunnel_id": "t1", "config": {"ingress": [{"hostname": "a.example.test", "service": "http://x:80"}]}})
    )
    httpserver.expect_request(
        f"/accounts/{ACCOUNT}/registrar/registrations", query_string={"per_page": "50"}
    ).respond_with_json(envelope([{"domain_name": "a.example.test"}]) | {"result_info": {"cursor": "c2"}})
    httpserver.expect_request(
        f"/accounts/{ACCOUNT}/registrar/registrations", query_string={"per_page": "50", "cursor": "c2"}
    ).respond_with_json(envelope([{"domain_name": "b.example.test"}]) | {"result_info": {"cursor": ""}})
    client = cf(httpserver)
    tunnels = client.tunnels()
    assert tunnels.ok
    assert tunnels.items[0]["id"] == "t1"
    config = client.tunnel_configuration("t1")
    assert config.ok
    assert config.body["result"]["config"]["ingress"][0]["hostname"] == "a.example.test"
    registrations = client.registrar_registrations()
    assert registrations.ok
    assert [r["domain_name"] for r in registrations.items] == ["a.example.test", "b.example.test"]


def test_account_helpers_need_an_account_id() -> None:
    client = CloudflareClient("http://127.0.0.1:9", api_token=TOKEN)
    with pytest.raises(MissingSettingError, match="account_id is not configured; /cfd_tunnel needs"):
        client.tunnels()


@pytest.mark.parametrize(
    ("status", "health"),
    [("active", "valid"), ("expired", "expired"), ("disabled", "disabled")],
    ids=["active", "expired", "disabled"],
)
def test_token_health_reads_the_verify_result(httpserver: HTTPServer, status: str, health: str) -> None:
    httpserver.expect_request("/user/tokens/verify").respond_with_json(envelope({"id": "t", "status": status}))
    assert token_health(cf(httpserver).verify_token()) == health


def test_verify_token_never_falls_back(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/user/tokens/verify").respond_with_json(failure(1000, "Invalid API Token"), status=401)
    result = cf(httpserver).verify_token("user")
    assert (token_health(result), result.attempts, result.fallback_used) == ("token_invalid", 1, False)
