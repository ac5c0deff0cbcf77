"""The official `cloudflare` SDK (5.9.0, Cloudflare's own client) against the sandbox: its models are the oracle.

Every Cloudflare endpoint a probe or the drift capture calls is called here through the SDK, pointed at the
running sandbox (`base_url=<sandbox>/client/v4`, the sandbox's API token, `max_retries=0`):

    GET /user/tokens/verify                                    user.tokens.verify (a user-owned token)
    GET /accounts/{account_id}/tokens/verify                   accounts.tokens.verify (an account-owned token)
    GET /zones                                                 zones.list
    GET /zones/{zone_id}/dns_records                           dns.records.list
    GET /accounts/{account_id}/cfd_tunnel                      zero_trust.tunnels.cloudflared.list
    GET /accounts/{account_id}/cfd_tunnel/{tunnel_id}/configurations
                                                               zero_trust.tunnels.cloudflared.configurations.get
    GET /accounts/{account_id}/registrar/registrations         registrar.registrations.list (cursor paging)

`test_our_client_and_the_capture_call_only_these_endpoints` keeps that list complete: it runs our client and the
capture against the sandbox and compares the routes that arrived with it.

The SDK builds response models without validating them (pydantic `construct`), so each test also validates the
raw JSON strictly with the SDK's model class (`model_validate`): a missing required field or a wrong type fails.
One exception, on purpose: `ConfigIngress` requires `hostname`, but the catch-all rule of an ingress list has
none (cloudflared's own semantics, which the sandbox follows); hostname rules are validated strictly and the
catch-all is checked for a string `service`. Errors come back as the SDK's own types (401 AuthenticationError,
403 PermissionDeniedError, 404 NotFoundError, 429 RateLimitError with Retry-After). No call warns: every test
records warnings and fails on a DeprecationWarning, except the one that shows the retired `registrar.domains`
warns and answers 404.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import cloudflare
import pytest
from cloudflare.types.accounts.token_verify_response import TokenVerifyResponse as AccountTokenVerify
from cloudflare.types.registrar.registration import Registration
from cloudflare.types.shared.cloudflare_tunnel import CloudflareTunnel
from cloudflare.types.user.token_verify_response import TokenVerifyResponse as UserTokenVerify
from cloudflare.types.zero_trust.tunnels.cloudflared.configuration_get_response import (
    ConfigIngress,
    ConfigurationGetResponse,
)
from cloudflare.types.zones.zone import Zone

from infracore_verify.clients.cloudflare import CloudflareClient
from infracore_verify.clients.http import Limits
from infracore_verify.sandbox import FaultSpec, Sandbox, parse_fault_spec
from infracore_verify.smoke.capture_systems import capture_system

SDK_ENDPOINTS = {
    "/user/tokens/verify",
    "/accounts/{account_id}/tokens/verify",
    "/zones",
    "/zones/{zone_id}/dns_records",
    "/accounts/{account_id}/cfd_tunnel",
    "/accounts/{account_id}/cfd_tunnel/{tunnel_id}/configurations",
    "/accounts/{account_id}/registrar/registrations",
}
"""The endpoints of the module docstring, as route templates."""
TUNNEL_ID = "6f1c2d3e-4a5b-4c6d-8e7f-90a1b2c3d4e5"
MakeSdk = Callable[..., cloudflare.Cloudflare]


@pytest.fixture
def account(sb: Sandbox) -> str:
    """Returns the sandbox's account id."""
    return sb.credentials["cloudflare"]["account_id"]


@pytest.fixture
def sdk(sb: Sandbox) -> Iterator[MakeSdk]:
    """Returns `sdk(**options)`: the official client on the sandbox with its API token and no retries."""
    made: list[cloudflare.Cloudflare] = []

    def make(**options: Any) -> cloudflare.Cloudflare:
        settings: dict[str, Any] = {
            "api_token": sb.credentials["cloudflare"]["api_token"],
            "base_url": sb.base_urls["cloudflare"],
            "max_retries": 0,
            **options,
        }
        client = cloudflare.Cloudflare(**settings)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture(autouse=True)
def _no_deprecation() -> Iterator[None]:
    """Fails a test during which the SDK warned that an endpoint is deprecated (or anything else deprecated)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    deprecated = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    assert deprecated == []


def raw_result(response: Any) -> Any:
    """Return the `result` of a raw SDK response (what the sandbox sent)."""
    return response.http_response.json()["result"]


def error_codes(error: cloudflare.APIStatusError) -> list[int]:
    """Return the envelope error codes of an SDK error."""
    body = error.body if isinstance(error.body, dict) else {}
    return [int(e["code"]) for e in body.get("errors", [])]


# -- token verify -------------------------------------------------------------------------------------------


def test_account_token_verifies_at_the_account_endpoint(sdk: MakeSdk, account: str) -> None:
    """Parses the account endpoint's answer into TokenVerifyResponse: id a string, status active."""
    response = sdk().accounts.tokens.with_raw_response.verify(account_id=account)
    parsed = response.parse()
    strict = AccountTokenVerify.model_validate(raw_result(response))
    assert parsed is not None
    assert (isinstance(parsed.id, str), parsed.status, strict.status) == (True, "active", "active")


def test_user_token_verifies_at_the_user_endpoint(sb: Sandbox, sdk: MakeSdk) -> None:
    """Parses the user endpoint's answer for a user-owned token into TokenVerifyResponse."""
    sb.inject(FaultSpec("cloudflare", "user_token"))
    response = sdk().user.tokens.with_raw_response.verify()
    parsed = response.parse()
    strict = UserTokenVerify.model_validate(raw_result(response))
    assert parsed is not None
    assert (parsed.status, strict.status, isinstance(strict.id, str)) == ("active", "active", True)


@pytest.mark.parametrize("owner", ["account", "user"])
def test_token_at_the_other_owners_endpoint_is_an_authentication_error(
    sb: Sandbox, sdk: MakeSdk, account: str, owner: str
) -> None:
    """Raises AuthenticationError (401, code 1000) when a token is verified at the endpoint of the other owner."""
    client = sdk()
    if owner == "user":
        sb.inject(FaultSpec("cloudflare", "user_token"))
    wrong: Callable[[], object] = (
        client.user.tokens.verify if owner == "account" else partial(client.accounts.tokens.verify, account_id=account)
    )
    with pytest.raises(cloudflare.AuthenticationError) as caught:
        wrong()
    assert (caught.value.status_code, error_codes(caught.value)) == (401, [1000])


# -- zones and DNS ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["active", "pending", "moved"])
def test_zones_parse_into_zone_models(sb: Sandbox, sdk: MakeSdk, status: str) -> None:
    """Lists every zone as a valid Zone with the id, name and status the probes read (pending and moved too)."""
    if status != "active":
        sb.inject(FaultSpec("cloudflare", f"zone_{status}"))
    response = sdk().zones.with_raw_response.list(per_page=50)
    zones = list(response.parse())
    strict = [Zone.model_validate(item) for item in raw_result(response)]
    assert [z.name for z in zones] == [z.name for z in strict] == ["example.com", "example.org", "example.net"]
    assert {z.status for z in strict} == {status}
    assert all(isinstance(z.id, str) and z.id for z in strict)


def test_zone_listing_follows_pages(sdk: MakeSdk) -> None:
    """Walks the page-numbered zone listing (per_page 5 is the minimum) to the same three zones."""
    assert len(list(sdk().zones.list(per_page=5))) == 3


def test_dns_records_parse_into_their_record_types(sdk: MakeSdk) -> None:
    """Lists a zone's records; each validates as its own record type with the name, type and content probes read."""
    client = sdk()
    zone = next(iter(client.zones.list()))
    response = client.dns.records.with_raw_response.list(zone_id=zone.id)
    records = list(response.parse())
    strict = [type(parsed).model_validate(item) for parsed, item in zip(records, raw_result(response), strict=True)]
    assert {r.type for r in strict} >= {"A", "CNAME", "TXT"}
    assert all(isinstance(r.name, str) and isinstance(r.content, str) and r.id for r in strict)
    assert any(r.type == "CNAME" and r.content == f"{TUNNEL_ID}.cfargotunnel.com" for r in strict)


# -- tunnels ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["healthy", "degraded", "down", "inactive"])
def test_tunnels_parse_into_cloudflare_tunnel(sb: Sandbox, sdk: MakeSdk, account: str, status: str) -> None:
    """Lists live tunnels as valid CloudflareTunnel models with the id, name and status the probes read."""
    if status != "healthy":
        sb.inject(FaultSpec("cloudflare", f"tunnel_{status}"))
    response = sdk().zero_trust.tunnels.cloudflared.with_raw_response.list(account_id=account, is_deleted=False)
    (tunnel,) = [CloudflareTunnel.model_validate(item) for item in raw_result(response)]
    assert (tunnel.id, tunnel.name, tunnel.status) == (TUNNEL_ID, "infra-core", status)
    assert (tunnel.config_src, tunnel.remote_config) == ("local", False)
    assert [t.id for t in response.parse()] == [TUNNEL_ID]


def _configuration(client: cloudflare.Cloudflare, account: str) -> tuple[ConfigurationGetResponse, dict[str, Any]]:
    response = client.zero_trust.tunnels.cloudflared.configurations.with_raw_response.get(TUNNEL_ID, account_id=account)
    parsed = response.parse()
    assert parsed is not None
    return parsed, raw_result(response)


@pytest.mark.parametrize(
    ("fault", "source"), [(None, "local"), ("tunnel_unconfigured", "cloudflare")], ids=["local", "unconfigured"]
)
def test_configuration_without_config_parses_with_config_none(
    sb: Sandbox, sdk: MakeSdk, account: str, fault: str | None, source: str
) -> None:
    """Parses config: null as ConfigurationGetResponse(config=None) with the source the probes branch on."""
    if fault:
        sb.inject(FaultSpec("cloudflare", fault))
    parsed, raw = _configuration(sdk(), account)
    strict = ConfigurationGetResponse.model_validate(raw)
    assert (parsed.config, strict.config, strict.source, strict.tunnel_id) == (None, None, source, TUNNEL_ID)


def test_remote_configuration_parses_its_ingress(sb: Sandbox, sdk: MakeSdk, account: str) -> None:
    """Parses a remotely managed tunnel's ingress: hostname rules validate as ConfigIngress, catch-all last."""
    sb.inject(FaultSpec("cloudflare", "tunnel_remote"))
    parsed, raw = _configuration(sdk(), account)
    assert parsed.source == "cloudflare"
    assert parsed.config is not None
    assert parsed.config.ingress is not None
    *rules, catch_all = raw["config"]["ingress"]
    hosts = [ConfigIngress.model_validate(rule).hostname for rule in rules]
    assert hosts == ["vault.example.com", "secrets.example.com", "auth.example.com"]
    assert [r.hostname for r in parsed.config.ingress[:-1]] == hosts
    assert isinstance(catch_all["service"], str)
    assert "hostname" not in catch_all
    ConfigurationGetResponse.model_validate({**raw, "config": {**raw["config"], "ingress": rules}})


# -- registrar ----------------------------------------------------------------------------------------------


def test_registrations_follow_the_cursor(sb: Sandbox, sdk: MakeSdk, account: str) -> None:
    """Pages the registrations one by one through result_info.cursor; each is a valid Registration."""
    client = sdk()
    registrations = list(client.registrar.registrations.list(account_id=account, per_page=1))
    assert [r.domain_name for r in registrations] == ["example.com", "example.org"]
    sent = [r for r in sb.requests("cloudflare") if r.relative_path.endswith("/registrations")]
    assert [("cursor" in r.query, r.query["per_page"]) for r in sent] == [(False, ["1"]), (True, ["1"])]
    response = client.registrar.registrations.with_raw_response.list(account_id=account)
    strict = [Registration.model_validate(item) for item in raw_result(response)]
    assert [(r.domain_name, r.status, r.locked) for r in strict] == [
        ("example.com", "active", True),
        ("example.org", "active", True),
    ]


def test_retired_registrar_domains_warn_and_answer_404(sdk: MakeSdk, account: str) -> None:
    """Shows the SDK flags the retired registrar.domains (DeprecationWarning) and the sandbox answers 404 7003."""
    client = sdk()
    with (
        pytest.warns(DeprecationWarning, match="end of life on September 27, 2026"),
        pytest.raises(cloudflare.NotFoundError) as caught,
    ):
        client.registrar.domains.list(account_id=account)  # pyright: ignore[reportDeprecated]
    assert error_codes(caught.value) == [7003]


# -- errors -------------------------------------------------------------------------------------------------


def test_refused_token_is_an_authentication_error(sb: Sandbox, sdk: MakeSdk) -> None:
    """Raises AuthenticationError for a 401 (code 10000)."""
    sb.inject(parse_fault_spec("cloudflare:token_401@/zones"))
    with pytest.raises(cloudflare.AuthenticationError) as caught:
        list(sdk().zones.list())
    assert (caught.value.status_code, error_codes(caught.value)) == (401, [10000])


@pytest.mark.parametrize(
    ("spec", "code"),
    [("cloudflare:token_403@/accounts/*/registrar/*", 10000), ("cloudflare:token_ip_restricted", 9109)],
    ids=["missing-permission", "ip-restricted"],
)
def test_limited_token_is_permission_denied(sb: Sandbox, sdk: MakeSdk, account: str, spec: str, code: int) -> None:
    """Raises PermissionDeniedError (403) with code 10000 for a missing permission, 9109 for an IP restriction."""
    sb.inject(parse_fault_spec(spec))
    with pytest.raises(cloudflare.PermissionDeniedError) as caught:
        list(sdk().registrar.registrations.list(account_id=account))
    assert (caught.value.status_code, error_codes(caught.value)) == (403, [code])


def test_rate_limit_is_a_rate_limit_error_with_retry_after(sb: Sandbox, sdk: MakeSdk) -> None:
    """Raises RateLimitError (429, code 971) carrying Retry-After, after exactly one request (max_retries=0)."""
    sb.inject(parse_fault_spec("cloudflare:rate_limit=7@/zones"))
    with pytest.raises(cloudflare.RateLimitError) as caught:
        list(sdk().zones.list())
    assert (caught.value.status_code, error_codes(caught.value)) == (429, [971])
    assert caught.value.response.headers["Retry-After"] == "7"
    assert len(sb.requests("cloudflare")) == 1


# -- coverage of the list above -----------------------------------------------------------------------------


def _template(path: str) -> str:
    path = re.sub(r"/accounts/[0-9a-f]{32}", "/accounts/{account_id}", path)
    path = re.sub(r"/zones/[0-9a-f]{32}", "/zones/{zone_id}", path)
    return re.sub(r"/cfd_tunnel/[0-9a-f-]{36}", "/cfd_tunnel/{tunnel_id}", path)


def test_our_client_and_the_capture_call_only_these_endpoints(sb: Sandbox) -> None:
    """Runs every read of our client (both verify endpoints included) and the capture: no route outside the list."""
    creds = sb.credentials["cloudflare"]
    client = CloudflareClient(
        sb.base_urls["cloudflare"],
        limits=Limits(max_attempts=1),
        api_token=creds["api_token"],
        api_email=creds["api_email"],
        api_key=creds["api_key"],
        account_id=creds["account_id"],
    )
    try:
        client.verify_token("user")
        client.verify_token("account")
        client.token_access()
        zones = client.zones().items
        client.dns_records(zones[0]["id"])
        client.tunnels()
        client.tunnel_configuration(TUNNEL_ID)
        client.registrar_registrations()
        part, errors = capture_system("cloudflare", lambda system: client, {}, None)
    finally:
        client.close()
    assert errors == []
    assert part is not None
    assert part["registrar"] == ["example.com", "example.org"]
    called = {_template(r.relative_path) for r in sb.requests("cloudflare")}
    assert called == SDK_ENDPOINTS
