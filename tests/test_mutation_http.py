"""HTTP-layer cases that kill mutmut's survivors (issue 8, item 4): 429/Retry-After, the Cloudflare fallback.

Against a real pytest-httpserver on 127.0.0.1; waits are recorded through the injected sleep, never timed.
See bench/MUTATION.md for the mutants each test answers.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Response

from infracore_verify.clients.cloudflare import _second_answer
from infracore_verify.clients.http import ApiClient, Limits, parse_retry_after
from infracore_verify.clients.results import ApiError, ApiResult, Exchange
from infracore_verify.redact import MASK, REDACTOR
from tests.clocks import TickingClock
from tests.conftest import base
from tests.test_clients import EMAIL, FAST, KEY, TOKEN, cf, closed_port

pytestmark = pytest.mark.timeout(20)

OK = {"success": True, "errors": [], "messages": [], "result": []}
REFUSED = {"success": False, "errors": [{"code": 10000, "message": "Authentication error"}], "messages": []}
LIMITED = {"success": False, "errors": [{"code": 971, "message": "rate limited"}], "messages": []}
BEARER = {"Authorization": f"Bearer {TOKEN}"}
GLOBAL = {"X-Auth-Email": EMAIL, "X-Auth-Key": KEY}
HALF_SECOND = Limits(
    connect_timeout=1.0,
    read_timeout=2.0,
    max_attempts=5,
    retry_after_clamp=(0.01, 5.0),
    backoff_base=0.01,
    backoff_max=0.02,
    max_total_wait=1.0,
)


def test_max_attempts_reaches_the_token_the_global_and_the_fallback_request(httpserver: HTTPServer) -> None:
    """A request's own max_attempts bounds each auth mode's attempt loop, the fallback's too."""
    httpserver.expect_request("/zones", headers=BEARER).respond_with_json(LIMITED, status=429)
    waits: list[float] = []
    token = cf(httpserver, sleep=waits.append).request("GET", "/zones", max_attempts=1)
    assert (token.failure_class, token.attempts, token.mode) == ("rate_limited", 1, "token")

    httpserver.clear()
    httpserver.expect_request("/zones", headers=GLOBAL).respond_with_json(LIMITED, status=429)
    only_global = cf(httpserver, sleep=waits.append, api_token=None).request("GET", "/zones", max_attempts=1)
    assert (only_global.failure_class, only_global.attempts, only_global.mode) == ("rate_limited", 1, "global")

    httpserver.clear()
    httpserver.expect_request("/zones", headers=BEARER).respond_with_json(REFUSED, status=401)
    httpserver.expect_request("/zones", headers=GLOBAL).respond_with_json(LIMITED, status=429)
    fallback = cf(httpserver, sleep=waits.append).request("GET", "/zones", max_attempts=1)
    assert (fallback.failure_class, fallback.attempts, fallback.fallback_used) == ("rate_limited", 2, True)
    assert waits == []


def test_params_and_body_reach_the_global_key_requests(httpserver: HTTPServer) -> None:
    """Query parameters go with the fallback read and with a global-only request; a global-only POST keeps its body."""
    httpserver.expect_request("/zones", headers=BEARER).respond_with_json(REFUSED, status=403)
    httpserver.expect_request("/zones", headers=GLOBAL, query_string="page=2").respond_with_json(OK)
    fallback = cf(httpserver).request("GET", "/zones", params={"page": 2})
    assert (fallback.failure_class, fallback.mode, fallback.fallback_used) == (None, "global", True)

    only_global = cf(httpserver, api_token=None).request("GET", "/zones", params={"page": 2})
    assert (only_global.failure_class, only_global.mode) == (None, "global")

    httpserver.expect_request(
        "/zones", method="POST", headers=GLOBAL, json={"name": "example.invalid"}
    ).respond_with_json(OK)
    created = cf(httpserver, api_token=None).request("POST", "/zones", json={"name": "example.invalid"})
    assert (created.status, created.failure_class) == (200, None)


def test_fallback_result_sums_the_waits_of_both_modes(httpserver: HTTPServer) -> None:
    """After the fallback, `waited` is the sum of every requested wait (Retry-After clamped), not a difference."""
    httpserver.expect_request("/zones", headers=BEARER).respond_with_json(REFUSED, status=401)
    httpserver.expect_oneshot_request("/zones", headers=GLOBAL).respond_with_json(
        LIMITED, status=429, headers={"Retry-After": "0.03"}
    )
    httpserver.expect_request("/zones", headers=GLOBAL).respond_with_json(OK)
    waits: list[float] = []
    result = cf(httpserver, sleep=waits.append).request("GET", "/zones")
    assert (result.failure_class, result.attempts, result.fallback_used) == (None, 3, True)
    assert waits == [0.03]
    assert result.waits == [0.03]
    assert result.waited == pytest.approx(0.03)


def test_token_with_half_a_global_key_never_falls_back(httpserver: HTTPServer) -> None:
    """An email without a key (or a key without an email) is no Global API Key: a refused token is the answer."""
    httpserver.expect_request("/zones").respond_with_json(REFUSED, status=401)
    halves: list[dict[str, Any]] = [{"api_key": None}, {"api_email": None}]
    for creds in halves:
        result = cf(httpserver, FAST, **creds).request("GET", "/zones")
        assert (result.failure_class, result.attempts, result.fallback_used, result.mode) == (
            "token_invalid",
            1,
            False,
            "token",
        )
        assert any("no Global API Key configured" in w for w in result.warnings)


def test_retry_budget_allows_waits_that_add_up_to_it_exactly(httpserver: HTTPServer) -> None:
    """Waits of 0.5 s against max_total_wait 1.0: two waits fit exactly, the third would not; the warning says so."""
    httpserver.expect_request("/zones").respond_with_json(LIMITED, status=429, headers={"Retry-After": "0.5"})
    waits: list[float] = []
    result = cf(httpserver, HALF_SECOND, sleep=waits.append).request("GET", "/zones")
    assert (result.failure_class, result.attempts, waits) == ("rate_limited", 3, [0.5, 0.5])
    assert result.warnings == ["retries stopped after 3 of 5 attempts: the next wait would exceed max_total_wait=1s"]


def test_no_budget_warning_when_the_attempts_ran_out(httpserver: HTTPServer) -> None:
    """Using up max_attempts is not the wait budget stopping retries: no warning claims it was."""
    httpserver.expect_request("/zones").respond_with_json(LIMITED, status=429, headers={"Retry-After": "0.02"})
    waits: list[float] = []
    result = cf(httpserver, sleep=waits.append).request("GET", "/zones", max_attempts=2)
    assert (result.failure_class, result.attempts, waits, result.warnings) == ("rate_limited", 2, [0.02], [])


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        pytest.param("Sun, 06 Dec 2026 05:00:30 -0000", 30.0, id="no-zone-is-utc"),
        pytest.param("Sun, 06 Dec 2026 06:00:30 +0100", 30.0, id="offset"),
        pytest.param("Sun, 06 Dec 2026 05:00:30 GMT", 30.0, id="gmt"),
    ],
)
def test_retry_after_http_dates_in_any_zone(header: str, seconds: float) -> None:
    """An HTTP-date Retry-After is read in its own zone; a date without one is UTC."""
    now = datetime(2026, 12, 6, 5, 0, 0, tzinfo=UTC)
    assert parse_retry_after(header, now=lambda: now) == seconds


def test_a_300_is_a_failure_with_its_detail(httpserver: HTTPServer) -> None:
    """3xx is outside 2xx: a 300 is http_300 (never a success or a parse error), with the server's message."""
    httpserver.expect_request("/text").respond_with_data("see the other one", status=300, content_type="text/plain")
    httpserver.expect_request("/json").respond_with_json({"message": "moved"}, status=300)
    client = ApiClient("test", base(httpserver), FAST)
    text = client.send("GET", "/text")
    assert (text.status, text.failure_class, text.attempts) == (300, "http_300", 1)
    data = client.send("GET", "/json")
    assert (data.failure_class, data.detail) == ("http_300", "moved")


def test_send_defaults_headers_mode_and_text_bodies(httpserver: HTTPServer) -> None:
    """Every request asks for JSON; a send without auth says mode none; expect_json=False keeps a text body."""
    httpserver.expect_request("/alive", headers={"Accept": "application/json"}).respond_with_data(
        "ok", content_type="text/plain"
    )
    client = ApiClient("test", base(httpserver), FAST)
    result = client.send("GET", "/alive", expect_json=False)
    assert (result.status, result.failure_class, result.mode, result.body) == (200, None, "none", "ok")


def test_shown_keys_limit_what_the_recorded_exchange_keeps_readable(httpserver: HTTPServer) -> None:
    """With show_request/show_response, every other body value is masked in the exchange; json and form bodies alike."""
    httpserver.expect_request("/login").respond_with_json(
        {"access_token": "opaque-abc", "session": "opaque-def", "expires_in": 3600}
    )
    client = ApiClient("test", base(httpserver), FAST)
    sent: dict[str, Any] = {"username": "fake-user", "passphrase": "opaque-xyz"}
    result = client.send("POST", "/login", json=sent, show_request=["username"], show_response=["expires_in"])
    [exchange] = result.exchanges
    assert exchange.request_body == {"username": "fake-user", "passphrase": MASK}
    assert exchange.response_body == {"access_token": MASK, "session": MASK, "expires_in": 3600}
    form = client.send("POST", "/login", data=sent, show_request=["username"], show_response=["expires_in"])
    assert form.exchanges[0].request_body == {"username": "fake-user", "passphrase": MASK}


def test_a_failed_fallback_read_reports_the_system_and_the_global_requests_detail(httpserver: HTTPServer) -> None:
    """When the Global API Key read fails too, its server message is the answer's detail, under the system's name."""
    httpserver.expect_request("/zones", headers=BEARER).respond_with_json(REFUSED, status=403)
    denied = {"success": False, "errors": [{"code": 9103, "message": "Unknown X-Auth-Key"}], "messages": []}
    httpserver.expect_request("/zones", headers=GLOBAL).respond_with_json(denied, status=403)
    result = cf(httpserver).request("GET", "/zones")
    assert (result.system, result.failure_class, result.mode, result.fallback_used) == (
        "cloudflare",
        "token_invalid",
        "global",
        True,
    )
    assert result.detail is not None
    assert "Unknown X-Auth-Key" in result.detail
    assert "Authentication error" not in result.detail
    with pytest.raises(ApiError) as raised:
        result.raise_for_failure()
    assert str(raised.value).startswith("cloudflare: GET /zones -> 403 token_invalid after 2 attempts")
    assert str(raised.value).endswith(result.detail)


def test_a_token_refused_without_a_message_is_named_by_its_status_alone(httpserver: HTTPServer) -> None:
    """A 401 with no body gives the warning "API token refused with 401 on GET /zones; ..." with nothing appended."""
    httpserver.expect_request("/zones", headers=BEARER).respond_with_data("", status=401)
    httpserver.expect_request("/zones", headers=GLOBAL).respond_with_json(OK)
    result = cf(httpserver).request("GET", "/zones")
    assert (result.failure_class, result.fallback_used) == (None, True)
    assert result.warnings == [
        "API token refused with 401 on GET /zones; fell back to the Global API Key (read-only fallback)"
    ]


def test_a_read_with_a_body_sends_the_same_body_on_the_fallback(httpserver: HTTPServer) -> None:
    """The fallback repeats the read as asked: a GET's JSON body goes with the Global API Key request too."""
    query = {"match": "all", "name": "example.invalid"}
    httpserver.expect_request("/search", headers=BEARER, json=query).respond_with_json(REFUSED, status=403)
    httpserver.expect_request("/search", headers=GLOBAL, json=query).respond_with_json(OK)
    result = cf(httpserver).request("GET", "/search", json=query)
    assert (result.status, result.failure_class, result.mode, result.fallback_used) == (200, None, "global", True)


def test_second_answer_adds_up_the_time_attempts_waits_and_exchanges_of_both_requests() -> None:
    """The combined answer is the second request's, with both requests' elapsed time, attempts, waits and exchanges."""

    def answer(mode: str, elapsed: float, waits: list[float], status: int, failure: str | None) -> ApiResult:
        exchange = Exchange("GET", f"http://127.0.0.1/{mode}", status, {}, {}, None, None, elapsed)
        return ApiResult(
            system="cloudflare",
            method="GET",
            path="/zones",
            status=status,
            failure_class=failure,
            body={"mode": mode},
            elapsed=elapsed,
            attempts=len(waits) + 1,
            waited=sum(waits),
            exchanges=[exchange],
            mode=mode,
            warnings=[f"{mode} warning"],
            detail=f"{mode} detail",
            waits=waits,
        )

    first = answer("token", 1.25, [0.5], 401, "token_invalid")
    second = answer("global", 2.5, [0.25, 1.0], 200, None)
    combined = _second_answer(first, second, warnings=["both"], detail="the detail", fallback_reason="why")
    assert (combined.system, combined.status, combined.failure_class, combined.body, combined.mode) == (
        "cloudflare",
        200,
        None,
        {"mode": "global"},
        "global",
    )
    assert (combined.elapsed, combined.attempts, combined.waited, combined.waits) == (3.75, 5, 1.75, [0.5, 0.25, 1.0])
    assert [e.url for e in combined.exchanges] == ["http://127.0.0.1/token", "http://127.0.0.1/global"]
    assert (combined.warnings, combined.detail, combined.fallback_used, combined.fallback_reason) == (
        ["both"],
        "the detail",
        True,
        "why",
    )
    plain = _second_answer(first, second, warnings=[], detail=None)
    assert (plain.fallback_used, plain.fallback_reason, plain.detail) == (False, None, None)


def test_each_credential_is_masked_under_its_system_and_name(httpserver: HTTPServer) -> None:
    """The client registers every credential with the redactor as `cloudflare.<name>`: the label an auditor sees.

    The values are new on every run: the redactor keeps a value's first label, and mutmut forks its mutant runs
    from a process that already ran this test.
    """
    fresh = uuid.uuid4().hex[:8]
    creds: dict[str, Any] = {
        "api_token": f"FAKE-cf-label-token-{fresh}",
        "api_email": f"fake-label-{fresh}@example.invalid",
        "api_key": f"FAKE-cf-label-key-{fresh}",
        "account_id": f"fakelabelacct{fresh}",
    }
    cf(httpserver, **creds)
    for name, value in creds.items():
        assert REDACTOR.mask(f"x {value} y") == f"x [REDACTED:cloudflare.{name}] y"


def test_the_cloudflare_client_measures_with_the_clock_it_is_given(httpserver: HTTPServer) -> None:
    """A clock given to the Cloudflare client times its exchanges (the SLO's input), the fallback's too."""
    httpserver.expect_request("/zones", headers=BEARER).respond_with_json(REFUSED, status=403)
    httpserver.expect_request("/zones", headers=GLOBAL).respond_with_json(OK)
    result = cf(httpserver, clock=TickingClock(2.0)).request("GET", "/zones")
    assert [exchange.elapsed for exchange in result.exchanges] == [2.0, 2.0]
    assert (result.fallback_used, result.elapsed) == (True, 12.0)


def test_a_session_passed_in_is_used_and_left_open_for_its_owner(httpserver: HTTPServer) -> None:
    """A caller's session (its adapters, proxies, headers) carries the requests; closing the client leaves it open."""
    httpserver.expect_request("/zones", headers={**BEARER, "X-Caller": "own-session"}).respond_with_json(OK)
    session = requests.Session()
    session.headers["X-Caller"] = "own-session"
    closed: list[bool] = []
    session.close = lambda: closed.append(True)  # type: ignore[method-assign]
    client = cf(httpserver, session=session)
    assert client.session is session
    assert client.request("GET", "/zones").failure_class is None
    client.close()
    assert closed == []


def test_an_answer_is_recorded_with_its_method_url_and_durations_from_the_clock(httpserver: HTTPServer) -> None:
    """Each exchange keeps the method, the full URL and its own duration (what the SLO judges); the result, the whole.

    The clock is read at the start of the call, at the start and end of the attempt, and at the end of the call.
    """
    httpserver.expect_request("/zones", query_string="page=2").respond_with_json(OK)
    client = ApiClient("test", base(httpserver), FAST, clock=TickingClock(1.5))
    result = client.send("get", "/zones", params={"page": 2})
    [exchange] = result.exchanges
    assert (exchange.method, exchange.url, exchange.status) == ("GET", f"{base(httpserver)}/zones?page=2", 200)
    assert (exchange.elapsed, result.elapsed) == (1.5, 4.5)


def test_a_network_error_is_recorded_with_what_was_sent_and_a_cut_error_text() -> None:
    """No answer: the exchange keeps method, URL, headers, body and duration; the error text is cut to 300 characters."""
    port = closed_port()
    path = "/zones/" + "a" * 400
    client = ApiClient("test", f"http://127.0.0.1:{port}", FAST, clock=TickingClock(0.25))
    result = client.send("POST", path, json={"name": "example.invalid"})
    [exchange] = result.exchanges
    assert (result.failure_class, result.attempts, exchange.status) == ("network_error", 1, None)
    assert (exchange.method, exchange.url) == ("POST", f"http://127.0.0.1:{port}{path}")
    assert exchange.request_headers["Accept"] == "application/json"
    assert exchange.request_body == {"name": "example.invalid"}
    assert (exchange.elapsed, result.elapsed) == (0.25, 0.75)
    assert exchange.error is not None
    assert exchange.error.startswith("ConnectionError: ")
    assert (len(exchange.error), exchange.error[-1]) == (300, "…")
    assert result.detail == exchange.error


def test_a_2xx_that_is_not_json_and_has_no_content_type_says_so(httpserver: HTTPServer) -> None:
    """A 2xx text body without a Content-Type header is a parse_error whose detail says "no type"."""
    answer = Response(b"plain words", status=200)
    del answer.headers["Content-Type"]
    httpserver.expect_request("/zones").respond_with_response(answer)
    result = ApiClient("test", base(httpserver), FAST).send("GET", "/zones")
    assert (result.status, result.failure_class, result.detail) == (200, "parse_error", "body is not JSON (no type)")
