"""The official `authentik-client` (2026.8.5, generated from authentik's OpenAPI schema) against the sandbox.

The vendor's own client is the oracle: pointed at the running sandbox (`Configuration(host=<sandbox>/api/v3,
access_token=...)`), it must parse every answer into its pydantic models, with the fields our probes and the
capture read present and typed. A sandbox answer that breaks a vendor model fails here.

Endpoints our probes (`smoke/probes_authentik.py`) or the capture (`smoke/capture_systems.py`) call, and how each
is checked through the vendor client:

| endpoint | vendor call | model | fields we read |
| --- | --- | --- | --- |
| GET /api/v3/admin/version/ | AdminApi.admin_version_retrieve | Version | version_current, version_latest, outdated, outpost_outdated |
| GET /api/v3/core/users/me/ | CoreApi.core_users_me_retrieve | SessionUser / UserSelf | user.pk, username, is_active, is_current, users |
| GET /api/v3/outposts/instances/ | OutpostsApi.outposts_instances_list | PaginatedOutpostList | pagination.next, total_pages, results[].pk, name |
| GET /api/v3/outposts/instances/{uuid}/health/ | OutpostsApi.outposts_instances_health_list | list[OutpostHealth] | version, version_should, version_outdated, hostname |
| GET /api/v3/admin/system/ | AdminApi.admin_system_retrieve | SystemInfo | http_headers (masked by our client) |

The health endpoints `/-/health/live/` and `/-/health/ready/` are not part of the API schema (the Go router
answers them); the vendor client has no call for them, so `tests/test_sandbox.py` covers them.

Errors through the vendor's exception types: a bad token is `ForbiddenException` (authentik answers 403, never
401: DRF's token authentication sends no WWW-Authenticate, so the client's `UnauthorizedException` cannot occur)
with a `GenericError` body; a throttled call is an `ApiException` with status 429 and `Retry-After`.
"""

from __future__ import annotations

import json

import pytest
from authentik_client import AdminApi, ApiClient, Configuration, CoreApi, OutpostsApi
from authentik_client.exceptions import ApiException, ForbiddenException
from authentik_client.models.generic_error import GenericError
from authentik_client.models.outpost_health import OutpostHealth
from authentik_client.models.paginated_outpost_list import PaginatedOutpostList
from authentik_client.models.session_user import SessionUser
from authentik_client.models.system_info import SystemInfo
from authentik_client.models.version import Version
from pydantic import ValidationError

from infracore_verify.sandbox import FaultSpec, Sandbox, SandboxSeed, parse_fault_spec


def vendor(sb: Sandbox, token: str | None = None) -> ApiClient:
    """Returns the vendor's ApiClient pointed at the sandbox's Authentik, with the sandbox's API token."""
    config = Configuration(
        host=sb.base_urls["authentik"] + "/api/v3",
        access_token=token if token is not None else sb.credentials["authentik"]["api_token"],
        retries=False,  # urllib3 would honour Retry-After by sleeping; the test wants the 429 itself
    )
    return ApiClient(config)


def test_version_parses_into_the_vendor_model(sb: Sandbox) -> None:
    """Parses GET /admin/version/ into Version with the fields the version probe reads."""
    version = AdminApi(vendor(sb)).admin_version_retrieve()
    assert isinstance(version, Version)
    assert version.version_current == sb.seed.authentik_version
    assert isinstance(version.version_latest, str)
    assert version.outdated is False
    assert version.outpost_outdated is False


def test_users_me_parses_into_the_current_session_user(sb: Sandbox) -> None:
    """Parses GET /core/users/me/ into SessionUser (2026.8: UserSelf.is_current and users[] are required)."""
    me = CoreApi(vendor(sb)).core_users_me_retrieve()
    assert isinstance(me, SessionUser)
    assert isinstance(me.user.pk, int)
    assert me.user.username == "infracore-verify"
    assert me.user.is_active is True
    assert me.user.is_current is True
    assert me.user.type is not None
    assert me.user.type.value == "service_account"
    assert [u.pk for u in me.users] == [me.user.pk]


def test_outposts_list_and_health_parse_into_the_vendor_models(sb: Sandbox) -> None:
    """Parses the outpost listing (every page) and each outpost's health list, as the probe and capture read them."""
    api = OutpostsApi(vendor(sb))
    first = api.outposts_instances_list(page=1, page_size=1)
    assert isinstance(first, PaginatedOutpostList)
    assert first.pagination.next == 2
    assert first.pagination.total_pages == len(sb.seed.authentik_outposts)
    listing = api.outposts_instances_list(page=1, page_size=100)
    assert [o.name for o in listing.results] == [o.name for o in sb.seed.authentik_outposts]
    assert listing.pagination.next == 0
    for outpost in listing.results:
        health = api.outposts_instances_health_list(uuid=outpost.pk)
        assert health
        assert all(isinstance(h, OutpostHealth) for h in health)
        for instance in health:
            assert instance.version == instance.version_should == sb.seed.authentik_version
            assert instance.version_outdated is False
            assert isinstance(instance.hostname, str)
            assert instance.hostname


def test_an_outdated_outpost_parses_with_version_outdated_true(sb: Sandbox) -> None:
    """Serves the outdated-outpost state in the vendor's shape: version_outdated true, outpost_outdated true."""
    sb.inject(parse_fault_spec("authentik:outpost_outdated"))
    client = vendor(sb)
    outpost = OutpostsApi(client).outposts_instances_list().results[0]
    [instance] = OutpostsApi(client).outposts_instances_health_list(uuid=outpost.pk)
    assert instance.version_outdated is True
    assert instance.version != instance.version_should
    assert AdminApi(client).admin_version_retrieve().outpost_outdated is True


def test_system_info_parses_into_the_vendor_model(sb: Sandbox) -> None:
    """Parses GET /admin/system/ into SystemInfo (base_url is required in 2026.8); the token is echoed back."""
    info = AdminApi(vendor(sb)).admin_system_retrieve()
    assert isinstance(info, SystemInfo)
    assert info.runtime.authentik_version == sb.seed.authentik_version
    assert info.http_headers["HTTP_AUTHORIZATION"] == f"Bearer {sb.credentials['authentik']['api_token']}"


def test_a_wrong_token_is_the_vendors_forbidden_exception(sb: Sandbox) -> None:
    """Raises ForbiddenException (403, never 401) whose body is a GenericError."""
    with pytest.raises(ForbiddenException) as info:
        CoreApi(vendor(sb, "sandbox-wrong-token")).core_users_me_retrieve()
    assert info.value.status == 403
    body = GenericError.from_json(str(info.value.body))
    assert body is not None
    assert body.detail == "Token invalid/expired"


def test_a_throttled_call_is_a_429_with_retry_after(sb: Sandbox) -> None:
    """Raises the vendor's ApiException with status 429, a Retry-After header and DRF's GenericError body."""
    sb.inject(FaultSpec("authentik", "rate_limit", 7, times=1))
    with pytest.raises(ApiException) as info:
        AdminApi(vendor(sb)).admin_version_retrieve()
    assert info.value.status == 429
    assert info.value.headers is not None
    assert info.value.headers["Retry-After"] == "7"
    body = GenericError.from_json(str(info.value.body))
    assert body is not None
    assert body.detail == "Request was throttled. Expected available in 7 seconds."


def test_a_drifted_answer_breaks_the_vendor_model(sb: Sandbox) -> None:
    """Shows the oracle has teeth: the drift fault's users/me (username dropped) fails the vendor's model."""
    sb.inject(FaultSpec("authentik", "drift", path="/api/v3/core/users/me/", times=1))
    with pytest.raises(ValidationError, match="username"):
        CoreApi(vendor(sb)).core_users_me_retrieve()


def test_the_pre_2026_8_users_me_shape_is_what_the_vendor_rejected() -> None:
    """Keeps the regression in view: users/me without is_current and users is refused by the current model."""
    with Sandbox(SandboxSeed.default()) as box:
        raw = CoreApi(vendor(box)).core_users_me_retrieve_without_preload_content()
        body = json.loads(raw.data)
    without_is_current = {k: v for k, v in body["user"].items() if k != "is_current"}
    with pytest.raises(ValidationError, match="is_current"):
        SessionUser.from_dict({"user": without_is_current, "users": []})
    with pytest.raises(ValidationError, match="users"):
        SessionUser.from_dict({"user": body["user"]})
