"""The sandbox's Cloudflare states and current endpoints, and our client's handling of them, over real HTTP.

States (`--sandbox-fault` kinds and seed fields): token owner, IP restriction, tunnel management and status,
zone status. Endpoints: both token verify endpoints, cursor-paged registrations, the retired registrar domains.
Client: owner detection and configuration of `verify_token`, `token_access`, cursor paging with a loop guard.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer

from infracore_verify.clients.cloudflare import CloudflareClient, token_owner
from infracore_verify.clients.http import Limits
from infracore_verify.sandbox import FaultSpec, Sandbox, SandboxSeed, parse_fault_spec

TIMEOUT = 5.0
TUNNEL_ID = "6f1c2d3e-4a5b-4c6d-8e7f-90a1b2c3d4e5"
TOKEN = "sandbox-cloudflare-api-token-not-secret"


def get(sb: Sandbox, path: str, *, token: bool = True, **params: Any) -> requests.Response:
    """GETs a Cloudflare path (below /client/v4) with the sandbox's API token, or its Global API Key."""
    creds = sb.credentials["cloudflare"]
    path = path.format(account=creds["account_id"])
    headers = (
        {"Authorization": f"Bearer {creds['api_token']}"}
        if token
        else {"X-Auth-Email": creds["api_email"], "X-Auth-Key": creds["api_key"]}
    )
    return requests.get(sb.base_urls["cloudflare"] + path, headers=headers, params=params, timeout=TIMEOUT)


def codes(response: requests.Response) -> list[int]:
    """Returns the error codes of a failure envelope."""
    return [e["code"] for e in response.json()["errors"]]


# -- fault grammar ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        "cloudflare:user_token",
        "cloudflare:token_ip_restricted",
        "cloudflare:tunnel_remote@/accounts/*/cfd_tunnel/6f1c*",
        "cloudflare:tunnel_unconfigured",
        "cloudflare:tunnel_down",
        "cloudflare:tunnel_degraded",
        "cloudflare:tunnel_inactive",
        "cloudflare:zone_pending@/zones/1a2b*",
        "cloudflare:zone_moved",
    ],
)
def test_cloudflare_states_parse_and_print_back(spec: str) -> None:
    """Parses every Cloudflare state kind and prints it back unchanged."""
    assert str(parse_fault_spec(spec)) == spec


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("authentik:tunnel_down", "applies to cloudflare only"),
        ("cloudflare:zone_pending=2", "takes no argument"),
        ("cloudflare:tunnel_down@/zones*x2", "takes a path but no method or times"),
        ("cloudflare:user_token@/zones", "'user_token' is the token's owner: it takes no path"),
    ],
    ids=["other-system", "argument", "times", "owner-path"],
)
def test_bad_cloudflare_states_are_refused(spec: str, message: str) -> None:
    """Refuses a state for another system, with an argument, with times, or user_token with a path."""
    with pytest.raises(ValueError, match=message):
        parse_fault_spec(spec)


def test_states_do_not_use_up_request_faults(sb: Sandbox) -> None:
    """Leaves request faults working beside a state, and keeps the state active after requests."""
    sb.inject(FaultSpec("cloudflare", "tunnel_down"))
    sb.inject(parse_fault_spec("cloudflare:rate_limit=1@/zonesx1"))
    assert get(sb, "/zones").status_code == 429
    assert get(sb, "/zones").status_code == 200
    assert [str(f) for f in sb.faults("cloudflare")] == ["cloudflare:tunnel_down"]


# -- token owner and restrictions ---------------------------------------------------------------------------


def test_account_token_is_refused_at_the_user_endpoint(sb: Sandbox) -> None:
    """Answers the default (account-owned) token 401 1000 at /user/tokens/verify and 200 at the account one."""
    user = get(sb, "/user/tokens/verify")
    assert (user.status_code, codes(user)) == (401, [1000])
    assert get(sb, "/accounts/{account}/tokens/verify").json()["result"]["status"] == "active"


def test_user_token_is_refused_at_the_account_endpoint(sb: Sandbox) -> None:
    """Answers a user-owned token (seed or fault) 200 at the user endpoint and 401 1000 at the account one."""
    sb.inject(FaultSpec("cloudflare", "user_token"))
    assert get(sb, "/user/tokens/verify").status_code == 200
    account = get(sb, "/accounts/{account}/tokens/verify")
    assert (account.status_code, codes(account)) == (401, [1000])
    sb.clear_faults()
    with Sandbox(replace(SandboxSeed.default(), cloudflare_token_owner="user")) as box:
        assert get(box, "/user/tokens/verify").status_code == 200


def test_account_verify_of_another_account_is_unknown(sb: Sandbox) -> None:
    """Answers the account verify of an unknown account id with 404 7003; Global API Key headers with 400 1001."""
    other = get(sb, "/accounts/ffffffffffffffffffffffffffffffff/tokens/verify")
    assert (other.status_code, codes(other)) == (404, [7003])
    global_key = get(sb, "/accounts/{account}/tokens/verify", token=False)
    assert (global_key.status_code, codes(global_key)) == (400, [1001])


def test_ip_restricted_token_gets_9109_where_the_path_says(sb: Sandbox) -> None:
    """Answers Bearer requests under the restriction's path with 403 9109; the Global API Key keeps working."""
    sb.inject(parse_fault_spec("cloudflare:token_ip_restricted@/zones*"))
    refused = get(sb, "/zones")
    assert (refused.status_code, codes(refused)) == (403, [9109])
    assert refused.json()["errors"][0]["message"] == "Cannot use the access token from location: 127.0.0.1"
    assert get(sb, "/zones", token=False).status_code == 200
    assert get(sb, "/accounts/{account}/cfd_tunnel").status_code == 200


# -- tunnels and zones --------------------------------------------------------------------------------------


def test_default_tunnel_is_local_with_config_null(sb: Sandbox) -> None:
    """Lists the inventory tunnel as locally managed and answers its configuration with config null, source local."""
    (tunnel,) = get(sb, "/accounts/{account}/cfd_tunnel", is_deleted="false").json()["result"]
    assert (tunnel["remote_config"], tunnel["config_src"], tunnel["status"]) == (False, "local", "healthy")
    result = get(sb, f"/accounts/{{account}}/cfd_tunnel/{TUNNEL_ID}/configurations").json()["result"]
    assert (result["config"], result["source"], result["tunnel_id"]) == (None, "local", TUNNEL_ID)


def test_unconfigured_remote_tunnel_answers_config_null_source_cloudflare(sb: Sandbox) -> None:
    """Answers a remotely managed, not yet configured tunnel with config null and source cloudflare."""
    sb.inject(FaultSpec("cloudflare", "tunnel_unconfigured"))
    result = get(sb, f"/accounts/{{account}}/cfd_tunnel/{TUNNEL_ID}/configurations").json()["result"]
    assert (result["config"], result["source"], result["version"]) == (None, "cloudflare", 0)


@pytest.mark.parametrize(
    ("kind", "connections"),
    [("tunnel_down", 0), ("tunnel_degraded", 1), ("tunnel_inactive", 0)],
    ids=["down", "degraded", "inactive"],
)
def test_tunnel_states_change_status_and_connections(sb: Sandbox, kind: str, connections: int) -> None:
    """Reports the state's status, with the connections that go with it, and filters by it."""
    sb.inject(FaultSpec("cloudflare", kind))
    status = kind.removeprefix("tunnel_")
    (tunnel,) = get(sb, "/accounts/{account}/cfd_tunnel", is_deleted="false", status=status).json()["result"]
    assert (tunnel["status"], len(tunnel["connections"])) == (status, connections)


def test_zone_state_picks_zones_by_path(sb: Sandbox) -> None:
    """Sets the status of the zones the PATH picks only, and the status filter follows it."""
    sb.inject(parse_fault_spec("cloudflare:zone_pending@/zones/1a2b*"))
    zones = {z["name"]: (z["status"], z["activated_on"]) for z in get(sb, "/zones").json()["result"]}
    assert zones["example.com"] == ("pending", None)
    assert zones["example.org"][0] == "active"
    assert [z["name"] for z in get(sb, "/zones", status="pending").json()["result"]] == ["example.com"]


# -- registrar ----------------------------------------------------------------------------------------------


def test_registrations_page_by_cursor(sb: Sandbox) -> None:
    """Hands out an opaque cursor per page and an empty one on the last page; per_page is clamped to 1-50."""
    first = get(sb, "/accounts/{account}/registrar/registrations", per_page=1).json()
    assert [r["domain_name"] for r in first["result"]] == ["example.com"]
    cursor = first["result_info"]["cursor"]
    assert cursor
    second = get(sb, "/accounts/{account}/registrar/registrations", per_page=1, cursor=cursor).json()
    assert [r["domain_name"] for r in second["result"]] == ["example.org"]
    assert second["result_info"] == {"count": 1, "per_page": 1, "cursor": ""}
    clamped = get(sb, "/accounts/{account}/registrar/registrations", per_page=500).json()
    assert clamped["result_info"]["per_page"] == 50


@pytest.mark.parametrize(
    ("params", "code"), [({"cursor": "not-ours"}, 1004), ({"per_page": "x"}, 1004)], ids=["cursor", "per-page"]
)
def test_bad_registration_paging_is_400(sb: Sandbox, params: dict[str, str], code: int) -> None:
    """Answers a cursor it did not hand out, or a non-integer per_page, with 400 and code 1004."""
    path = "/accounts/{account}/registrar/registrations"
    response = get(sb, path, cursor=params.get("cursor"), per_page=params.get("per_page"))
    assert (response.status_code, codes(response)) == (400, [code])


@pytest.mark.parametrize("path", ["/registrar/domains", "/registrar/domains/example.com"])
def test_retired_registrar_domains_have_no_route(sb: Sandbox, path: str) -> None:
    """Answers the retired registrar domain endpoints with 404 7003 'No route for the URI', as any removed route."""
    response = get(sb, "/accounts/{account}" + path)
    assert (response.status_code, codes(response)) == (404, [7003])
    assert response.json()["errors"][0]["message"] == "No route for the URI"


# -- our client ---------------------------------------------------------------------------------------------


def envelope(result: Any, **info: Any) -> dict[str, Any]:
    """Returns a success envelope (with result_info when given)."""
    body: dict[str, Any] = {"success": True, "errors": [], "messages": [], "result": result}
    if info:
        body["result_info"] = info
    return body


def refused(code: int = 1000, message: str = "Invalid API Token") -> dict[str, Any]:
    """Returns a failure envelope."""
    return {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None}


def cf(httpserver: HTTPServer, **overrides: Any) -> CloudflareClient:
    """Returns our client on the httpserver, with a token, a Global API Key and an account id."""
    creds: dict[str, Any] = {
        "api_token": TOKEN,
        "api_email": "ops@example.invalid",
        "api_key": "sandbox-global-key-not-secret",
        "account_id": "acc1",
        **overrides,
    }
    return CloudflareClient(httpserver.url_for("/"), limits=Limits(max_attempts=1), **creds)


def test_auto_verify_asks_the_account_endpoint_after_a_401(httpserver: HTTPServer) -> None:
    """Detects an account-owned token: user endpoint 401, then the account endpoint; keeps both exchanges."""
    httpserver.expect_request("/user/tokens/verify").respond_with_json(refused(), status=401)
    httpserver.expect_request("/accounts/acc1/tokens/verify").respond_with_json(
        envelope({"id": "t", "status": "active"})
    )
    result = cf(httpserver).verify_token()
    assert (result.ok, result.path, token_owner(result), result.attempts) == (
        True,
        "/accounts/acc1/tokens/verify",
        "account",
        2,
    )
    assert [e.status for e in result.exchanges] == [401, 200]
    assert [r.headers.get("X-Auth-Key") for r, _ in httpserver.log] == [None, None]  # never the Global API Key


def test_auto_verify_without_account_id_says_what_to_configure(httpserver: HTTPServer) -> None:
    """Reports the user endpoint's refusal and names the account_id setting when no account id is configured."""
    httpserver.expect_request("/user/tokens/verify").respond_with_json(refused(), status=401)
    result = cf(httpserver, account_id=None).verify_token()
    assert (result.failure_class, result.path, result.attempts) == ("token_invalid", "/user/tokens/verify", 1)
    assert "configure systems.cloudflare.credentials.account_id" in result.warnings[0]


def test_verify_token_refuses_an_unknown_owner(httpserver: HTTPServer) -> None:
    """Raises ValueError for an owner other than auto, user or account."""
    with pytest.raises(ValueError, match="token owner 'team' is not one of auto, user, account"):
        cf(httpserver).verify_token("team")


def test_token_access_uses_the_token_only_and_skips_what_it_cannot_ask(httpserver: HTTPServer) -> None:
    """Asks zones with the token only (no fallback on 403) and skips DNS without a zone, accounts without an id."""
    httpserver.expect_request("/zones").respond_with_json(refused(10000, "Authentication error"), status=403)
    checks = cf(httpserver, account_id=None).token_access()
    assert [(c.permission, c.refused, c.codes) for c in checks] == [("Zone Read", True, (10000,))]
    assert checks[0].describe() == "Zone Read (GET /zones -> 403 10000 Authentication error)"
    assert len(httpserver.log) == 1


def test_registration_cursor_that_repeats_fails_the_page(httpserver: HTTPServer) -> None:
    """Stops a registrations listing whose cursor repeats (parse_error) instead of looping."""
    httpserver.expect_request("/accounts/acc1/registrar/registrations").respond_with_json(
        envelope([{"domain_name": "a.example.test"}], cursor="same")
    )
    listing = cf(httpserver).registrar_registrations()
    assert listing.failure is not None
    assert (listing.failure.failure_class, len(listing.pages)) == ("parse_error", 2)
    assert listing.failure.detail == "result_info.cursor repeats an earlier cursor (the listing would never end)"
