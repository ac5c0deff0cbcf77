"""The sandbox over real HTTP on 127.0.0.1: endpoints, auth, pagination, faults, recording and lifecycle."""

from __future__ import annotations

import dataclasses
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from infracore_verify.contracts.sets import BUNDLED_CONTRACTS
from infracore_verify.sandbox import (
    CREDENTIAL_NAMES,
    FAULT_KINDS,
    INFISICAL_CREDENTIAL_KEYS,
    SANDBOX_HEADER,
    SYSTEMS,
    FaultSpec,
    Sandbox,
    SandboxError,
    SandboxSeed,
    SandboxSeedError,
    parse_fault_spec,
)
from infracore_verify.sandbox._http import SystemContext
from tests.clocks import SettableClock
from tests.conftest import ContractEditor

TIMEOUT = 5.0
"""Client timeout of a request the sandbox answers at once, and the deadline of `_wait_for`: hang guards only."""
INVENTORY = yaml.safe_load((BUNDLED_CONTRACTS / "cloudflare.inventory.yaml").read_text(encoding="utf-8"))
SANDBOX_ENV = yaml.safe_load((BUNDLED_CONTRACTS / "environments" / "sandbox.yaml").read_text(encoding="utf-8"))


# -- fixtures and helpers -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def _running_sandbox() -> Iterator[Sandbox]:
    """Runs one sandbox (default seed) for the whole module."""
    with Sandbox() as sb:
        yield sb


@pytest.fixture
def sb(_running_sandbox: Sandbox) -> Iterator[Sandbox]:
    """Returns the module's sandbox and restores it afterwards: no faults, all healthy, all up, no recordings."""
    yield _running_sandbox
    _running_sandbox.clear_faults()
    for system in SYSTEMS:
        _running_sandbox.set_healthy(system, True)
        if not _running_sandbox.is_up(system):
            _running_sandbox.up(system)
    _running_sandbox.clear_requests()


@pytest.fixture(scope="module")
def wide_sandbox() -> Iterator[Sandbox]:
    """Runs a second sandbox with 9 sandbox-only zones (12 in all)."""
    with Sandbox(SandboxSeed.default().with_extra_zones(9)) as sb:
        yield sb


class HandlerWaits:
    """The waits the sandbox's request handlers asked for (latency and timeout faults) and how many still run."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.asked: list[tuple[str, float]] = []
        """(system, seconds) of every wait, in the order the handlers began them."""
        self.running = 0
        """Waits begun and not yet over."""


@pytest.fixture
def handler_waits(monkeypatch: pytest.MonkeyPatch) -> HandlerWaits:
    """Records every wait a sandbox handler begins, then waits exactly as the sandbox does (a stop still ends it)."""
    waits = HandlerWaits()
    sandbox_wait = SystemContext.wait

    def recording_wait(context: SystemContext, seconds: float) -> bool:
        with waits.lock:
            waits.asked.append((context.system, seconds))
            waits.running += 1
        try:
            return sandbox_wait(context, seconds)
        finally:
            with waits.lock:
                waits.running -= 1

    monkeypatch.setattr(SystemContext, "wait", recording_wait)
    return waits


def url(sb: Sandbox, system: str, path: str) -> str:
    """Returns the URL of `path` below a system's base URL."""
    return sb.base_urls[system] + path


def cf_token(sb: Sandbox) -> dict[str, str]:
    """Returns Cloudflare API token headers."""
    return {"Authorization": f"Bearer {sb.credentials['cloudflare']['api_token']}"}


def cf_global(sb: Sandbox) -> dict[str, str]:
    """Returns Cloudflare Global API Key headers."""
    creds = sb.credentials["cloudflare"]
    return {"X-Auth-Email": creds["api_email"], "X-Auth-Key": creds["api_key"]}


def cf_get(sb: Sandbox, path: str, headers: dict[str, str] | None = None, **params: Any) -> requests.Response:
    """GETs a Cloudflare path with the token (or the given headers)."""
    return requests.get(url(sb, "cloudflare", path), headers=headers or cf_token(sb), params=params, timeout=TIMEOUT)


def ak_get(sb: Sandbox, path: str, token: str | None = None, **params: Any) -> requests.Response:
    """GETs an Authentik API path with the seeded API token (or the given one)."""
    bearer = token if token is not None else sb.credentials["authentik"]["api_token"]
    return requests.get(
        url(sb, "authentik", "/api/v3" + path),
        headers={"Authorization": f"Bearer {bearer}"},
        params=params,
        timeout=TIMEOUT,
    )


def vw_form(sb: Sandbox, **changes: str | None) -> dict[str, str]:
    """Returns a valid client_credentials form, with fields changed (None drops one)."""
    creds = sb.credentials["vaultwarden"]
    form: dict[str, str | None] = {
        "grant_type": "client_credentials",
        "client_id": creds["client_id"],
        "client_secret": creds["client_secret"],
        "scope": "api",
        "device_identifier": "5f0c4c5e-1c1a-4f0e-9d8b-000000000001",
        "device_name": "infracore-verify",
        "device_type": "14",
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def vw_login(sb: Sandbox) -> str:
    """Logs in to Vaultwarden with the API key and returns the access token."""
    response = requests.post(url(sb, "vaultwarden", "/identity/connect/token"), data=vw_form(sb), timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def inf_login(sb: Sandbox) -> requests.Response:
    """Logs in to Infisical with universal auth."""
    creds = sb.credentials["infisical"]
    return requests.post(
        url(sb, "infisical", "/api/v1/auth/universal-auth/login"),
        json={"clientId": creds["client_id"], "clientSecret": creds["client_secret"]},
        timeout=TIMEOUT,
    )


def inf_secrets(sb: Sandbox, token: str | None, **params: str) -> requests.Response:
    """Lists Infisical secrets (v3 raw) in the sandbox project, prod, with the given token."""
    query = {"workspaceId": sb.credentials["infisical"]["project_id"], "environment": "prod", **params}
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return requests.get(url(sb, "infisical", "/api/v3/secrets/raw"), params=query, headers=headers, timeout=TIMEOUT)


def first_error(response: requests.Response) -> dict[str, Any]:
    """Returns the first error of a Cloudflare failure envelope, after checking the envelope."""
    body = response.json()
    assert body["success"] is False
    assert body["result"] is None
    assert body["messages"] == []
    error: dict[str, Any] = body["errors"][0]
    return error


# -- Cloudflare ---------------------------------------------------------------------------------------------


def test_cloudflare_token_verify_accepts_the_token(sb: Sandbox) -> None:
    """Answers the (account-owned) API token at the account endpoint: 200, active, the 'valid and active' message."""
    response = cf_get(sb, f"/accounts/{INVENTORY['account_id']}/tokens/verify")
    body = response.json()
    assert response.status_code == 200
    assert body["success"] is True
    assert body["errors"] == []
    assert body["messages"][0]["code"] == 10000
    assert body["messages"][0]["message"] == "This API Token is valid and active"
    assert body["result"]["status"] == "active"


def test_cloudflare_token_verify_refuses_global_key_headers(sb: Sandbox) -> None:
    """Answers X-Auth-Email/X-Auth-Key on /user/tokens/verify with 400 code 1001 (token only)."""
    response = cf_get(sb, "/user/tokens/verify", headers=cf_global(sb))
    assert response.status_code == 400
    assert first_error(response) == {"code": 1001, "message": 'Missing "Authorization" header'}


@pytest.mark.parametrize(
    ("headers", "status", "code", "chain"),
    [
        ({"Authorization": "Bearer sandbox-wrong-token"}, 403, 10000, None),
        ({"Authorization": "Token abc"}, 400, 6003, 6111),
        ({"X-Auth-Email": "sandbox@example.invalid", "X-Auth-Key": "sandbox-wrong-key"}, 403, 10000, None),
        ({"X-Auth-Email": "not-an-email", "X-Auth-Key": "sandbox-wrong-key"}, 400, 6003, 6102),
        ({"X-Auth-Email": "sandbox@example.invalid"}, 400, 9106, None),
        ({}, 400, 9106, None),
    ],
    ids=["wrong-token", "not-bearer", "wrong-global-key", "malformed-email", "email-only", "no-credentials"],
)
def test_cloudflare_refuses_bad_credentials(
    sb: Sandbox, headers: dict[str, str], status: int, code: int, chain: int | None
) -> None:
    """Answers bad or missing credentials on /zones with the status and codes observed on the real API."""
    response = requests.get(url(sb, "cloudflare", "/zones"), headers=headers, timeout=TIMEOUT)
    error = first_error(response)
    assert (response.status_code, error["code"]) == (status, code)
    assert [c["code"] for c in error.get("error_chain", [])] == ([chain] if chain else [])


def test_cloudflare_key_and_token_mixups_are_format_errors(sb: Sandbox) -> None:
    """Answers the global key sent as a token with 6003/6111 and the token sent as a key with 6003/6103."""
    creds = sb.credentials["cloudflare"]
    as_token = cf_get(sb, "/zones", headers={"Authorization": f"Bearer {creds['api_key']}"})
    as_key = cf_get(sb, "/zones", headers={"X-Auth-Email": creds["api_email"], "X-Auth-Key": creds["api_token"]})
    assert (as_token.status_code, first_error(as_token)["error_chain"][0]["code"]) == (400, 6111)
    assert (as_key.status_code, first_error(as_key)["error_chain"][0]["code"]) == (400, 6103)


def test_cloudflare_zones_equal_the_inventory(sb: Sandbox) -> None:
    """Lists exactly the inventory's zones (names and ids) with both auth schemes."""
    expected = [(z["name"], z["id"]) for z in INVENTORY["zones"]]
    for headers in (cf_token(sb), cf_global(sb)):
        body = cf_get(sb, "/zones", headers=headers, per_page=50).json()
        assert [(z["name"], z["id"]) for z in body["result"]] == expected
        assert body["result_info"] == {"page": 1, "per_page": 50, "count": 3, "total_count": 3, "total_pages": 1}
        assert {z["account"]["id"] for z in body["result"]} == {INVENTORY["account_id"]}


def test_cloudflare_zone_pages_walk_to_the_total(wide_sandbox: Sandbox) -> None:
    """Pages 12 zones at per_page=5 into 3 pages whose counts add up, then an empty page."""
    seen: list[str] = []
    infos = []
    for page in (1, 2, 3, 4):
        body = cf_get(wide_sandbox, "/zones", page=page, per_page=5).json()
        seen += [z["name"] for z in body["result"]]
        infos.append(body["result_info"])
    assert [i["count"] for i in infos] == [5, 5, 2, 0]
    assert {(i["total_count"], i["total_pages"], i["per_page"]) for i in infos} == {(12, 3, 5)}
    assert len(seen) == len(set(seen)) == 12
    assert "extra-01.sandbox.invalid" in seen


@pytest.mark.parametrize(
    ("asked", "served"), [(1, 5), (500, 50), (None, 20)], ids=["below-min", "above-max", "default"]
)
def test_cloudflare_zone_per_page_is_clamped(wide_sandbox: Sandbox, asked: int | None, served: int) -> None:
    """Clamps per_page on /zones to the documented 5..50 (default 20)."""
    response = cf_get(wide_sandbox, "/zones") if asked is None else cf_get(wide_sandbox, "/zones", per_page=asked)
    assert response.json()["result_info"]["per_page"] == served


def test_cloudflare_bad_page_parameter_is_a_400(sb: Sandbox) -> None:
    """Refuses a non-numeric page with a 400 failure envelope."""
    response = cf_get(sb, "/zones", page="two")
    assert (response.status_code, first_error(response)["code"]) == (400, 1004)


def test_cloudflare_zone_name_filter(sb: Sandbox) -> None:
    """Filters zones by exact name and by the starts_with: operator."""
    assert [z["name"] for z in cf_get(sb, "/zones", name="example.org").json()["result"]] == ["example.org"]
    assert len(cf_get(sb, "/zones", name="starts_with:example.").json()["result"]) == 3


def test_cloudflare_dns_records_hold_spf_dmarc_and_tunnel_hosts(sb: Sandbox) -> None:
    """Serves an apex SPF TXT, a _dmarc TXT and one tunnel CNAME per ingress hostname of the zone."""
    zone = INVENTORY["zones"][0]
    records = cf_get(sb, f"/zones/{zone['id']}/dns_records").json()["result"]
    txt = {(r["name"], r["content"].split(";")[0].split(" ")[0]) for r in records if r["type"] == "TXT"}
    assert (zone["name"], "v=spf1") in txt
    assert (f"_dmarc.{zone['name']}", "v=DMARC1") in txt
    tunnel = INVENTORY["tunnels"][0]
    hosts = {r["hostname"] for r in tunnel["ingress"] if r.get("hostname", "").endswith(zone["name"])}
    cnames = {r["name"]: r["content"] for r in records if r["type"] == "CNAME"}
    assert {h: cnames[h] for h in hosts} == {h: f"{tunnel['id']}.cfargotunnel.com" for h in hosts}
    assert {r["type"] for r in records} == {"A", "CNAME", "TXT"}


def test_cloudflare_dns_record_pages(sb: Sandbox) -> None:
    """Pages DNS records (per_page down to 1) with totals that match the full listing, and filters by type."""
    zone_id = INVENTORY["zones"][0]["id"]
    everything = cf_get(sb, f"/zones/{zone_id}/dns_records").json()
    total = everything["result_info"]["total_count"]
    assert everything["result_info"]["per_page"] == 100
    assert total == len(everything["result"]) == 7
    page = cf_get(sb, f"/zones/{zone_id}/dns_records", per_page=2, page=4).json()
    assert page["result_info"] == {"page": 4, "per_page": 2, "count": 1, "total_count": 7, "total_pages": 4}
    txt = cf_get(sb, f"/zones/{zone_id}/dns_records", type="TXT").json()["result"]
    assert {r["type"] for r in txt} == {"TXT"}
    assert len(txt) == 2


def test_cloudflare_unknown_objects_and_routes_are_404_7003(sb: Sandbox) -> None:
    """Answers unknown zone, account and tunnel ids and unknown routes with 404 code 7003."""
    account = INVENTORY["account_id"]
    for path in (
        "/zones/ffffffffffffffffffffffffffffffff/dns_records",
        "/accounts/ffffffffffffffffffffffffffffffff/cfd_tunnel",
        f"/accounts/{account}/cfd_tunnel/00000000-0000-0000-0000-000000000000/configurations",
        "/no/such/route",
    ):
        response = cf_get(sb, path)
        assert (response.status_code, first_error(response)["code"]) == (404, 7003), path
    assert first_error(cf_get(sb, "/no/such/route"))["message"] == "No route for the URI"


def test_cloudflare_tunnels_honour_is_deleted(sb: Sandbox) -> None:
    """Includes the sandbox's deleted tunnel unless is_deleted=false is passed."""
    path = f"/accounts/{INVENTORY['account_id']}/cfd_tunnel"
    live = cf_get(sb, path, is_deleted="false").json()["result"]
    everything = cf_get(sb, path).json()["result"]
    assert [(t["name"], t["id"], t["status"]) for t in live] == [
        (INVENTORY["tunnels"][0]["name"], INVENTORY["tunnels"][0]["id"], "healthy")
    ]
    assert len(everything) == 2
    assert next(t for t in everything if "deleted_at" in t)["name"] == "infra-core-retired"
    assert [t["name"] for t in cf_get(sb, path, is_deleted="true").json()["result"]] == ["infra-core-retired"]


def test_cloudflare_tunnel_configuration_mirrors_the_inventory_ingress(sb: Sandbox) -> None:
    """Serves a remotely managed tunnel's ingress rules in inventory order, catch-all last, source cloudflare."""
    sb.inject(FaultSpec("cloudflare", "tunnel_remote"))
    tunnel = INVENTORY["tunnels"][0]
    body = cf_get(sb, f"/accounts/{INVENTORY['account_id']}/cfd_tunnel/{tunnel['id']}/configurations").json()
    result = body["result"]
    assert (result["tunnel_id"], result["source"]) == (tunnel["id"], "cloudflare")
    served = [
        {k: v for k, v in rule.items() if k in ("hostname", "service", "path")} for rule in result["config"]["ingress"]
    ]
    assert served == tunnel["ingress"]


def test_cloudflare_registrar_lists_registrar_zones(sb: Sandbox) -> None:
    """Lists one registration (domain_name) per inventory zone marked registrar: true; one page, empty cursor."""
    path = f"/accounts/{INVENTORY['account_id']}/registrar/registrations"
    body = cf_get(sb, path, headers=cf_global(sb)).json()
    expected = [z["name"] for z in INVENTORY["zones"] if z.get("registrar")]
    assert [d["domain_name"] for d in body["result"]] == expected
    assert body["result_info"] == {"count": len(expected), "per_page": 20, "cursor": ""}


def test_cloudflare_wrong_method_is_405(sb: Sandbox) -> None:
    """Answers a DELETE on a read endpoint with 405 and the failure envelope."""
    response = requests.delete(url(sb, "cloudflare", "/zones"), headers=cf_token(sb), timeout=TIMEOUT)
    assert response.status_code == 405
    assert first_error(response)["code"] == 7001


# -- Vaultwarden --------------------------------------------------------------------------------------------


def test_vaultwarden_alive_get_and_head(sb: Sandbox) -> None:
    """Answers GET /alive and /api/alive with a JSON timestamp string and HEAD /alive with an empty 200."""
    for path in ("/alive", "/api/alive", "/api/now"):
        response = requests.get(url(sb, "vaultwarden", path), timeout=TIMEOUT)
        assert (response.status_code, response.json()[-1]) == (200, "Z"), path
    head = requests.head(url(sb, "vaultwarden", "/alive"), timeout=TIMEOUT)
    assert (head.status_code, head.content) == (200, b"")


def test_vaultwarden_version_and_config(sb: Sandbox) -> None:
    """Answers /api/version with the release string and /api/config with URLs built from the base URL."""
    base = sb.base_urls["vaultwarden"]
    assert requests.get(base + "/api/version", timeout=TIMEOUT).json() == "1.37.2"
    config = requests.get(base + "/api/config", timeout=TIMEOUT).json()
    assert config["server"]["name"] == "Vaultwarden"
    assert config["version"] == "2026.6.0"
    assert config["environment"]["api"] == base + "/api"
    assert config["environment"]["identity"] == base + "/identity"


def test_vaultwarden_login_then_revision_date(sb: Sandbox) -> None:
    """Issues a 7200 s Bearer token (no refresh_token) that opens /api/accounts/revision-date."""
    response = requests.post(url(sb, "vaultwarden", "/identity/connect/token"), data=vw_form(sb), timeout=TIMEOUT)
    body = response.json()
    assert (body["expires_in"], body["token_type"], body["scope"]) == (7200, "Bearer", "api")
    assert "refresh_token" not in body
    assert body["access_token"].count(".") == 2
    revision = requests.get(
        url(sb, "vaultwarden", "/api/accounts/revision-date"),
        headers={"Authorization": f"Bearer {body['access_token']}"},
        timeout=TIMEOUT,
    )
    assert revision.status_code == 200
    assert isinstance(revision.json(), int)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"grant_type": None}, "grant_type cannot be blank"),
        ({"grant_type": "password"}, "Invalid type"),
        *[
            ({field: None}, f"{field} cannot be blank")
            for field in ("client_id", "client_secret", "scope", "device_identifier", "device_name", "device_type")
        ],
        ({"scope": "api.admin"}, "Scope not supported"),
        ({"client_id": "sandbox-no-prefix"}, "Malformed client_id"),
        ({"client_id": "user.00000000-0000-0000-0000-000000000000"}, "Invalid client_id"),
        ({"client_secret": "sandbox-wrong"}, "Incorrect client_secret"),
    ],
    ids=lambda v: v if isinstance(v, str) else "-".join(f"{k}={'missing' if x is None else x}" for k, x in v.items()),
)
def test_vaultwarden_login_errors(sb: Sandbox, changes: dict[str, str | None], message: str) -> None:
    """Refuses a bad client_credentials form with 400 and the error body naming the problem."""
    response = requests.post(
        url(sb, "vaultwarden", "/identity/connect/token"), data=vw_form(sb, **changes), timeout=TIMEOUT
    )
    body = response.json()
    assert (response.status_code, body["message"], body["object"]) == (400, message, "error")
    assert body["errorModel"] == {"message": message, "object": "error"}


def test_vaultwarden_login_field_names_are_case_insensitive_with_aliases(sb: Sandbox) -> None:
    """Accepts Grant_Type, ClientId and the underscore-less device aliases."""
    form = vw_form(sb)
    odd = {
        "Grant_Type": form["grant_type"],
        "ClientId": form["client_id"],
        "CLIENT_SECRET": form["client_secret"],
        "scope": "api",
        "deviceidentifier": form["device_identifier"],
        "DeviceName": form["device_name"],
        "devicetype": "not-a-number",
    }
    response = requests.post(url(sb, "vaultwarden", "/identity/connect/token"), data=odd, timeout=TIMEOUT)
    assert response.status_code == 200


@pytest.mark.parametrize("token", [None, "not-a-token", "expired"], ids=["missing", "invalid", "expired"])
def test_vaultwarden_revision_date_needs_a_live_token(sb: Sandbox, token: str | None) -> None:
    """Answers a missing, invalid or expired access token with 401 from Rocket's catcher (HTML)."""
    if token == "expired":
        token = vw_login(sb)
        sb.expire_tokens("vaultwarden")
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    response = requests.get(url(sb, "vaultwarden", "/api/accounts/revision-date"), headers=headers, timeout=TIMEOUT)
    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith("text/html")
    assert "401: Unauthorized" in response.text


def test_vaultwarden_not_found_shapes(sb: Sandbox) -> None:
    """Answers unknown /api routes with the JSON 404 catcher and other routes with Rocket's HTML 404."""
    api = requests.get(url(sb, "vaultwarden", "/api/nothing"), timeout=TIMEOUT)
    web = requests.get(url(sb, "vaultwarden", "/nothing"), timeout=TIMEOUT)
    assert (api.status_code, api.json()["error"]["code"]) == (404, 404)
    assert web.status_code == 404
    assert web.headers["Content-Type"].startswith("text/html")


# -- Infisical ----------------------------------------------------------------------------------------------


def test_infisical_status(sb: Sandbox) -> None:
    """Answers /api/status with message Ok and the documented flags."""
    body = requests.get(url(sb, "infisical", "/api/status"), timeout=TIMEOUT).json()
    assert body["message"] == "Ok"
    assert set(body) == {
        "date",
        "message",
        "emailConfigured",
        "inviteOnlySignup",
        "redisConfigured",
        "secretScanningConfigured",
        "auditLogStorageDisabled",
    }


def test_infisical_login(sb: Sandbox) -> None:
    """Issues a Bearer access token with expiresIn from the seed (default 7200)."""
    body = inf_login(sb).json()
    assert (body["expiresIn"], body["accessTokenMaxTTL"], body["tokenType"]) == (7200, 2592000, "Bearer")


@pytest.mark.parametrize(
    ("payload", "status", "fragment"),
    [
        ({"clientId": "sandbox-nobody", "clientSecret": "sandbox-wrong"}, 401, "Invalid credentials"),
        ({"clientSecret": "x"}, 422, "Required"),
        ({"clientId": 7, "clientSecret": "x"}, 422, "Expected string, received int"),
        ("not json", 422, "Expected object"),
    ],
    ids=["wrong-credentials", "missing-client-id", "number-client-id", "not-json"],
)
def test_infisical_login_errors(sb: Sandbox, payload: Any, status: int, fragment: str) -> None:
    """Answers wrong credentials with 401 UnauthorizedError and a bad body with 422 ValidationFailure."""
    target = url(sb, "infisical", "/api/v1/auth/universal-auth/login")
    if isinstance(payload, str):
        response = requests.post(target, data=payload, headers={"Content-Type": "application/json"}, timeout=TIMEOUT)
    else:
        response = requests.post(target, json=payload, timeout=TIMEOUT)
    body = response.json()
    assert (response.status_code, body["statusCode"]) == (status, status)
    assert body["error"] == ("UnauthorizedError" if status == 401 else "ValidationFailure")
    assert fragment in str(body["message"])
    assert body["reqId"].startswith("req-")


def test_infisical_holds_the_other_systems_credentials(sb: Sandbox) -> None:
    """Serves prod /infra-core with every mirrored credential, values equal to the sandbox's own."""
    token = inf_login(sb).json()["accessToken"]
    body = inf_secrets(sb, token, secretPath="/infra-core").json()
    served = {s["secretKey"]: s["secretValue"] for s in body["secrets"]}
    creds = sb.credentials
    assert served == {key: creds[system][name] for key, (system, name) in INFISICAL_CREDENTIAL_KEYS.items()}
    assert body["imports"] == []
    assert {s["workspace"] for s in body["secrets"]} == {creds["infisical"]["project_id"]}


def test_infisical_hides_values_on_request(sb: Sandbox) -> None:
    """Masks every value with viewSecretValue=false and flags secretValueHidden."""
    token = inf_login(sb).json()["accessToken"]
    secrets = inf_secrets(sb, token, secretPath="/infra-core", viewSecretValue="false").json()["secrets"]
    assert {(s["secretValue"], s["secretValueHidden"]) for s in secrets} == {("<hidden-by-infisical>", True)}


def test_infisical_paths_and_recursion(sb: Sandbox) -> None:
    """Keeps paths apart, lists subfolders with recursive=true, and keeps environments apart."""
    token = inf_login(sb).json()["accessToken"]

    def keys(**params: str) -> set[tuple[str, str]]:
        return {(s["secretPath"], s["secretKey"]) for s in inf_secrets(sb, token, **params).json()["secrets"]}

    assert keys() == {("/", "SANDBOX_NOTE"), ("/", "LOG_LEVEL")}
    assert keys(secretPath="/infra-core/other") == {
        ("/infra-core/other", "OTHER_SERVICE_URL"),
        ("/infra-core/other", "OTHER_SERVICE_TOKEN"),
    }
    assert len(keys(recursive="true")) == 2 + 7 + 2
    assert keys(environment="dev") == {("/", "DEV_ONLY_FLAG")}


def test_infisical_v4_lists_by_project_id(sb: Sandbox) -> None:
    """Serves the same listing at /api/v4/secrets keyed by projectId."""
    token = inf_login(sb).json()["accessToken"]
    params = {
        "projectId": sb.credentials["infisical"]["project_id"],
        "environment": "prod",
        "secretPath": "/infra-core",
    }
    v4 = requests.get(
        url(sb, "infisical", "/api/v4/secrets"),
        params=params,
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    ).json()
    v3 = inf_secrets(sb, token, secretPath="/infra-core").json()
    assert v4 == v3


@pytest.mark.parametrize(
    ("case", "status", "error", "message"),
    [
        ("no-token", 401, "UnauthorizedError", "Token missing"),
        ("bad-token", 403, "TokenError", "Invalid token"),
        ("expired-token", 403, "TokenError", "Your token has expired. Please re-authenticate."),
        ("no-environment", 400, "BadRequest", "Missing workspace id or environment"),
        ("unknown-project", 404, "NotFound", None),
        ("bad-boolean", 422, "ValidationFailure", None),
        ("api-key", 400, "BadRequest", "API key authentication is not supported anymore"),
    ],
)
def test_infisical_secret_listing_errors(sb: Sandbox, case: str, status: int, error: str, message: str | None) -> None:
    """Answers each listing problem with the documented status, error name and message."""
    token: str | None = inf_login(sb).json()["accessToken"]
    params: dict[str, str] = {}
    headers: dict[str, str] = {}
    if case == "no-token":
        token = None
    elif case == "bad-token":
        token = "sandbox-not-a-token"
    elif case == "expired-token":
        sb.expire_tokens("infisical")
    elif case == "no-environment":
        params["environment"] = ""
    elif case == "unknown-project":
        params["workspaceId"] = "00000000-0000-0000-0000-000000000000"
    elif case == "bad-boolean":
        params["recursive"] = "yes"
    query = {"workspaceId": sb.credentials["infisical"]["project_id"], "environment": "prod", **params}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if case == "api-key":
        headers = {"X-API-Key": "sandbox-api-key"}
    response = requests.get(url(sb, "infisical", "/api/v3/secrets/raw"), params=query, headers=headers, timeout=TIMEOUT)
    body = response.json()
    assert (response.status_code, body["statusCode"], body["error"]) == (status, status, error)
    if message is not None:
        assert body["message"] == message


def test_infisical_short_lived_token_expires() -> None:
    """Lets a 1-second access token expire on its own at the end of its lifetime (403 TokenError, measured on the
    sandbox's clock), and a new login works again."""
    clock = SettableClock()
    with Sandbox(dataclasses.replace(SandboxSeed.default(), infisical_token_ttl=1), clock=clock) as short:
        login = inf_login(short).json()
        assert login["expiresIn"] == 1
        clock.now += 0.5
        assert inf_secrets(short, login["accessToken"]).status_code == 200
        clock.now += 0.5
        expired = inf_secrets(short, login["accessToken"]).json()
        assert (expired["error"], expired["message"]) == (
            "TokenError",
            "Your token has expired. Please re-authenticate.",
        )
        assert inf_secrets(short, inf_login(short).json()["accessToken"]).status_code == 200


# -- Authentik ----------------------------------------------------------------------------------------------


def test_authentik_health(sb: Sandbox) -> None:
    """Answers live and ready with 200 and an empty body; unhealthy makes ready 503 while live stays 200."""
    live, ready = (url(sb, "authentik", f"/-/health/{p}/") for p in ("live", "ready"))
    assert [
        (r.status_code, r.content) for r in (requests.get(live, timeout=TIMEOUT), requests.get(ready, timeout=TIMEOUT))
    ] == [(200, b""), (200, b"")]
    sb.set_healthy("authentik", False)
    assert requests.get(ready, timeout=TIMEOUT).status_code == 503
    assert requests.get(live, timeout=TIMEOUT).status_code == 200


def test_authentik_version_and_user(sb: Sandbox) -> None:
    """Serves the six Version fields and the service account as SessionUser.user."""
    version = ak_get(sb, "/admin/version/").json()
    assert version["version_current"] == "2026.2.2"
    assert version["outdated"] is False
    user = ak_get(sb, "/core/users/me/").json()["user"]
    assert (user["username"], user["type"], user["is_superuser"]) == ("infracore-verify", "service_account", False)


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        (None, "Authentication credentials were not provided."),
        ("Bearer sandbox-wrong", "Token invalid/expired"),
        ("Basic dXNlcjpwYXNz", "Unsupported authentication type"),
        ("Bearer", "Malformed header"),
    ],
    ids=["missing", "wrong-token", "basic", "malformed"],
)
def test_authentik_refuses_with_403_never_401(sb: Sandbox, header: str | None, detail: str) -> None:
    """Answers missing or bad credentials with 403 {detail} as DRF does."""
    headers = {} if header is None else {"Authorization": header}
    response = requests.get(url(sb, "authentik", "/api/v3/core/users/me/"), headers=headers, timeout=TIMEOUT)
    assert (response.status_code, response.json()) == (403, {"detail": detail})


def test_authentik_outposts_paginate(sb: Sandbox) -> None:
    """Pages the two outposts with page_size=1 (next/previous 0 at the ends) and refuses a page past the end."""
    first = ak_get(sb, "/outposts/instances/", page_size=1).json()
    second = ak_get(sb, "/outposts/instances/", page_size=1, page=2).json()
    assert first["pagination"] == {
        "next": 2,
        "previous": 0,
        "count": 2,
        "current": 1,
        "total_pages": 2,
        "start_index": 1,
        "end_index": 1,
    }
    assert second["pagination"]["next"] == 0
    assert second["pagination"]["previous"] == 1
    assert [first["results"][0]["managed"], second["results"][0]["managed"]] == [
        "goauthentik.io/outposts/embedded",
        None,
    ]
    beyond = ak_get(sb, "/outposts/instances/", page_size=1, page=3)
    assert (beyond.status_code, beyond.json()) == (404, {"detail": "Invalid page."})
    embedded = ak_get(sb, "/outposts/instances/", managed__iexact="goauthentik.io/outposts/embedded").json()
    assert [o["name"] for o in embedded["results"]] == ["authentik Embedded Outpost"]


def test_authentik_outpost_health(sb: Sandbox) -> None:
    """Answers each outpost's health with one instance on the current version; an unknown uuid is 404."""
    for outpost in ak_get(sb, "/outposts/instances/").json()["results"]:
        health = ak_get(sb, f"/outposts/instances/{outpost['pk']}/health/").json()
        assert [(h["version"], h["version_outdated"]) for h in health] == [("2026.2.2", False)]
    missing = ak_get(sb, "/outposts/instances/00000000-0000-0000-0000-000000000000/health/")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Not found."})


def test_authentik_system_echoes_the_authorization_header(sb: Sandbox) -> None:
    """Echoes the request headers, Authorization included, in SystemInfo.http_headers (the documented leak)."""
    token = sb.credentials["authentik"]["api_token"]
    headers = ak_get(sb, "/admin/system/").json()["http_headers"]
    assert headers["HTTP_AUTHORIZATION"] == f"Bearer {token}"


def test_authentik_redirects_to_the_trailing_slash(sb: Sandbox) -> None:
    """Redirects a path without its trailing slash, as Django does."""
    response = requests.get(
        url(sb, "authentik", "/api/v3/admin/version"),
        headers={"Authorization": "Bearer x"},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert response.status_code in (301, 308)
    assert response.headers["Location"].endswith("/api/v3/admin/version/")


# -- health switches ----------------------------------------------------------------------------------------


def test_set_healthy_switches_each_system(sb: Sandbox) -> None:
    """Turns Vaultwarden /alive 503 (HTML), Infisical status 500, Cloudflare 503 envelope, and back."""
    for system in SYSTEMS:
        sb.set_healthy(system, False)
    alive = requests.get(url(sb, "vaultwarden", "/alive"), timeout=TIMEOUT)
    assert alive.status_code == 503
    assert "503: Service Unavailable" in alive.text
    status = requests.get(url(sb, "infisical", "/api/status"), timeout=TIMEOUT)
    assert (status.status_code, status.json()["message"], status.json()["error"]) == (
        500,
        "Something went wrong",
        "InternalServerError",
    )
    zones = cf_get(sb, "/zones")
    assert zones.status_code == 503
    assert zones.json()["success"] is False
    for system in SYSTEMS:
        sb.set_healthy(system, True)
    assert requests.get(url(sb, "vaultwarden", "/alive"), timeout=TIMEOUT).status_code == 200
    assert sb.is_healthy("vaultwarden")


# -- faults -------------------------------------------------------------------------------------------------


def test_latency_fault_delays_then_answers(sb: Sandbox, handler_waits: HandlerWaits) -> None:
    """Waits the latency before answering the matching request normally; with times=1, only the first one."""
    sb.inject(FaultSpec("vaultwarden", "latency", 0.2, path="/api/version", times=1))
    response = requests.get(url(sb, "vaultwarden", "/api/version"), timeout=TIMEOUT)
    assert response.json() == "1.37.2"
    assert handler_waits.asked == [("vaultwarden", 0.2)]
    assert sb.faults("vaultwarden") == []
    assert requests.get(url(sb, "vaultwarden", "/api/version"), timeout=TIMEOUT).json() == "1.37.2"
    assert handler_waits.asked == [("vaultwarden", 0.2)]


@pytest.mark.parametrize("status", [401, 403])
def test_token_fault_rejects_bearer_but_not_the_global_key(sb: Sandbox, status: int) -> None:
    """Rejects Bearer requests with 401/403 code 10000 while X-Auth-Email/X-Auth-Key still get 200."""
    sb.inject(FaultSpec("cloudflare", f"token_{status}", times=1))
    fallback = cf_get(sb, "/zones", headers=cf_global(sb))
    assert fallback.status_code == 200
    rejected = cf_get(sb, "/zones")
    assert (rejected.status_code, first_error(rejected)) == (status, {"code": 10000, "message": "Authentication error"})
    assert cf_get(sb, "/zones").status_code == 200


@pytest.mark.parametrize("system", SYSTEMS)
@pytest.mark.parametrize("retry_after", [2, None], ids=["retry-after-2", "no-retry-after"])
def test_rate_limit_fault_uses_each_systems_shape(sb: Sandbox, system: str, retry_after: int | None) -> None:
    """Answers 429 in the system's own body shape; Retry-After only when given and never from Vaultwarden."""
    sb.inject(FaultSpec(system, "rate_limit", retry_after))
    response = requests.get(url(sb, system, "/anything"), timeout=TIMEOUT)
    body = response.json()
    assert response.status_code == 429
    header = response.headers.get("Retry-After")
    if system == "cloudflare":
        assert first_error(response) == {
            "code": 971,
            "message": "Please wait and consider throttling your request speed",
        }
    elif system == "infisical":
        wait = retry_after if retry_after is not None else 60
        assert (body["statusCode"], body["error"]) == (429, "RateLimitExceeded")
        assert body["message"] == f"Rate limit exceeded. Please try again in {wait} seconds"
    elif system == "authentik":
        expected = "Request was throttled." + (f" Expected available in {retry_after} seconds." if retry_after else "")
        assert body == {"detail": expected}
    else:
        assert body["message"] == "Too many requests"
        assert body["object"] == "error"
    assert header == (None if system == "vaultwarden" or retry_after is None else str(retry_after))


def test_vaultwarden_login_rate_limit_message(sb: Sandbox) -> None:
    """Answers a rate-limited login with 'Too many login requests' and no Retry-After."""
    sb.inject(parse_fault_spec("vaultwarden:rate_limit=5@/identity/*"))
    response = requests.post(url(sb, "vaultwarden", "/identity/connect/token"), data=vw_form(sb), timeout=TIMEOUT)
    assert (response.status_code, response.json()["message"]) == (429, "Too many login requests")
    assert "Retry-After" not in response.headers


@pytest.mark.parametrize("system", SYSTEMS)
@pytest.mark.parametrize("status", [500, 502, 503])
def test_status_fault_uses_each_systems_error_body(sb: Sandbox, system: str, status: int) -> None:
    """Answers with the injected status and the system's error body."""
    sb.inject(FaultSpec(system, "status", status, times=1))
    response = requests.get(url(sb, system, "/x"), timeout=TIMEOUT)
    body = response.json()
    assert response.status_code == status
    shape = {
        "cloudflare": {"success", "errors", "messages", "result"},
        "vaultwarden": {"message", "validationErrors", "errorModel", "object"},
        "infisical": {"reqId", "statusCode", "message", "error"},
        "authentik": {"detail"},
    }[system]
    assert shape <= set(body)


def test_reset_fault_drops_the_connection(sb: Sandbox) -> None:
    """Aborts the connection without a response, which requests reports as ConnectionError."""
    sb.inject(parse_fault_spec("infisical:reset@/api/statusx1"))
    with pytest.raises(requests.ConnectionError):
        requests.get(url(sb, "infisical", "/api/status"), timeout=TIMEOUT)
    assert requests.get(url(sb, "infisical", "/api/status"), timeout=TIMEOUT).status_code == 200


def test_timeout_fault_holds_while_others_are_served(sb: Sandbox, handler_waits: HandlerWaits) -> None:
    """Holds the matching request past the client's read timeout while other requests are answered; stopping the
    system ends the hold."""
    sb.inject(FaultSpec("authentik", "timeout", 30.0, path="/api/v3/admin/version/", times=1))
    headers = {"Authorization": f"Bearer {sb.credentials['authentik']['api_token']}"}
    with pytest.raises(requests.ReadTimeout):
        requests.get(url(sb, "authentik", "/api/v3/admin/version/"), headers=headers, timeout=0.1)
    _wait_for(lambda: handler_waits.running == 1)
    assert handler_waits.asked == [("authentik", 30.0)]
    assert ak_get(sb, "/core/users/me/").status_code == 200
    assert handler_waits.running == 1  # answered while the other request was still held
    sb.down("authentik")  # raises SandboxError if a held thread outlives the stop
    assert handler_waits.running == 0


def test_malformed_json_fault(sb: Sandbox) -> None:
    """Answers 200 with Content-Type application/json and a body that does not parse."""
    sb.inject(FaultSpec("infisical", "malformed_json", path="/api/status"))
    response = requests.get(url(sb, "infisical", "/api/status"), timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    with pytest.raises(requests.JSONDecodeError):
        response.json()


def test_down_fault_refuses_until_cleared_on_the_same_port(sb: Sandbox) -> None:
    """Refuses connections while a down fault is active and serves again on the same port once cleared."""
    port = sb.ports["authentik"]
    sb.inject(parse_fault_spec("authentik:down"))
    assert not sb.is_up("authentik")
    with pytest.raises(requests.ConnectionError):
        requests.get(url(sb, "authentik", "/-/health/live/"), timeout=TIMEOUT)
    sb.clear_faults("authentik")
    assert sb.ports["authentik"] == port
    assert requests.get(url(sb, "authentik", "/-/health/live/"), timeout=TIMEOUT).status_code == 200


def test_down_and_up(sb: Sandbox) -> None:
    """Stops one system (connection refused, others unaffected) and restarts it on the same port."""
    before = sb.base_urls["vaultwarden"]
    sb.down("vaultwarden")
    with pytest.raises(requests.ConnectionError):
        requests.get(before + "/alive", timeout=TIMEOUT)
    assert requests.get(url(sb, "infisical", "/api/status"), timeout=TIMEOUT).status_code == 200
    sb.up("vaultwarden")
    assert sb.base_urls["vaultwarden"] == before
    assert requests.get(before + "/alive", timeout=TIMEOUT).status_code == 200


def test_fault_times_limit(sb: Sandbox) -> None:
    """Applies a fault to exactly `times` matching requests and then drops it."""
    sb.inject(parse_fault_spec("cloudflare:rate_limit=1@/zones*x2"))
    statuses = [cf_get(sb, "/zones").status_code for _ in range(3)]
    assert statuses == [429, 429, 200]
    assert sb.faults("cloudflare") == []


@pytest.mark.parametrize(
    ("spec", "hit", "missed"),
    [
        ("cloudflare:status=503@/zones*", "/zones/{zone}/dns_records", "/accounts/{account}/tokens/verify"),
        ("cloudflare:status=503@/zones", "/zones", "/accounts/{account}/tokens/verify"),
        ("cloudflare:status=503@/client/v4/zones", "/zones", "/accounts/{account}/cfd_tunnel"),
        ("cloudflare:status=503@*/dns_records", "/zones/{zone}/dns_records", "/zones"),
        ("cloudflare:status=503@GET:/zones", "/zones", "/accounts/{account}/tokens/verify"),
    ],
    ids=["glob", "prefix", "full-path", "suffix-glob", "method"],
)
def test_fault_path_matching(sb: Sandbox, spec: str, hit: str, missed: str) -> None:
    """Matches faults by glob, by prefix, by the full path and by method; other paths pass."""
    sb.inject(parse_fault_spec(spec))
    fill = {"zone": INVENTORY["zones"][0]["id"], "account": INVENTORY["account_id"]}
    assert cf_get(sb, hit.format(**fill)).status_code == 503
    assert cf_get(sb, missed.format(**fill)).status_code == 200


def test_fault_method_filter_spares_other_methods(sb: Sandbox) -> None:
    """Leaves GET alone when the fault targets POST."""
    sb.inject(parse_fault_spec("vaultwarden:status=500@POST:/identity/connect/token"))
    assert requests.get(url(sb, "vaultwarden", "/identity/connect/token"), timeout=TIMEOUT).status_code == 405
    assert (
        requests.post(url(sb, "vaultwarden", "/identity/connect/token"), data=vw_form(sb), timeout=TIMEOUT).status_code
        == 500
    )


def test_clear_faults_of_one_system_only(sb: Sandbox) -> None:
    """Clears one system's faults and leaves the others active."""
    sb.inject(FaultSpec("infisical", "status", 500))
    sb.inject(FaultSpec("authentik", "status", 500))
    sb.clear_faults("infisical")
    assert [str(f) for f in sb.faults()] == ["authentik:status=500"]


# -- parse_fault_spec ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cloudflare:rate_limit=2@/zones*x3", FaultSpec("cloudflare", "rate_limit", 2, "/zones*", None, 3)),
        ("cloudflare:rate_limit", FaultSpec("cloudflare", "rate_limit")),
        ("vaultwarden:latency=0.05", FaultSpec("vaultwarden", "latency", 0.05)),
        (
            "infisical:status=503@POST:/api/v1/auth/*x1",
            FaultSpec("infisical", "status", 503, "/api/v1/auth/*", "POST", 1),
        ),
        ("authentik:down", FaultSpec("authentik", "down")),
        ("cloudflare:token_403@/zones", FaultSpec("cloudflare", "token_403", path="/zones")),
        ("infisical:timeout=0.3x2", FaultSpec("infisical", "timeout", 0.3, times=2)),
        ("Cloudflare:Drift@/x", FaultSpec("cloudflare", "drift", path="/x")),
        ("  vaultwarden:reset  ", FaultSpec("vaultwarden", "reset")),
    ],
)
def test_parse_fault_spec_accepts(text: str, expected: FaultSpec) -> None:
    """Parses the documented grammar, and str() renders it back."""
    spec = parse_fault_spec(text)
    assert spec == expected
    assert parse_fault_spec(str(spec)) == spec


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("nowhere:reset", "allowed systems: cloudflare, vaultwarden, infisical, authentik"),
        ("cloudflare:explode", "allowed kinds: latency, token_401"),
        ("cloudflare", "expected SYSTEM:KIND[=ARG][@[METHOD:]PATH][xTIMES]"),
        ("vaultwarden:token_401", "applies to cloudflare only"),
        ("cloudflare:latency", "latency needs seconds"),
        ("cloudflare:latency=fast", "must be a number of seconds"),
        ("cloudflare:status", "status needs an HTTP status code"),
        ("cloudflare:status=999", "status needs an HTTP status code"),
        ("cloudflare:rate_limit=1.5", "must be a whole number"),
        ("cloudflare:reset=3", "takes no argument"),
        ("cloudflare:down@/zones", "takes no path"),
        ("cloudflare:reset@zones", "expected SYSTEM:KIND"),
        ("cloudflare:status=500x0", "times must be at least 1"),
        ("cloudflare:status=", "empty argument"),
    ],
)
def test_parse_fault_spec_rejects_with_guidance(text: str, fragment: str) -> None:
    """Raises ValueError naming the allowed systems, kinds or argument rules."""
    with pytest.raises(ValueError, match=re.escape(fragment)):
        parse_fault_spec(text)


def test_every_fault_kind_is_documented() -> None:
    """Documents every fault kind in the faults module docstring (the command-line help)."""
    import infracore_verify.sandbox.faults as faults_module

    doc = faults_module.__doc__ or ""
    assert all(kind in doc for kind in FAULT_KINDS)


# -- headers, recording, binding ----------------------------------------------------------------------------


def test_every_response_is_marked_as_sandbox(sb: Sandbox) -> None:
    """Marks successes, errors, 404s, redirects and fault answers with X-Infracore-Sandbox: 1."""
    sb.inject(FaultSpec("infisical", "rate_limit", 1, path="/api/v4/secrets"))
    responses = [
        cf_get(sb, "/zones"),
        cf_get(sb, "/zones", headers={}),
        cf_get(sb, "/nowhere"),
        requests.head(url(sb, "vaultwarden", "/alive"), timeout=TIMEOUT),
        requests.get(url(sb, "vaultwarden", "/nowhere"), timeout=TIMEOUT),
        requests.get(url(sb, "infisical", "/api/v4/secrets"), timeout=TIMEOUT),
        requests.get(url(sb, "authentik", "/-/health/live"), allow_redirects=False, timeout=TIMEOUT),
        requests.get(url(sb, "authentik", "/-/health/live/"), timeout=TIMEOUT),
    ]
    assert [r.headers.get(SANDBOX_HEADER) for r in responses] == ["1"] * len(responses)


def test_oversized_body_is_refused_in_the_systems_shape(sb: Sandbox) -> None:
    """Refuses a body over 1 MiB with 413 in the system's error shape, still marked as sandbox."""
    response = requests.post(
        url(sb, "infisical", "/api/v1/auth/universal-auth/login"), data=b"x" * ((1 << 20) + 1), timeout=TIMEOUT
    )
    assert (response.status_code, response.json()["statusCode"]) == (413, 413)
    assert response.headers[SANDBOX_HEADER] == "1"


def test_requests_are_recorded_as_received(sb: Sandbox) -> None:
    """Records method, path, query string, raw header lines (spelling and repeats kept) and body."""
    sb.clear_requests()
    session = requests.Session()
    prepared = requests.Request(
        "POST",
        url(sb, "vaultwarden", "/identity/connect/token") + "?x=1&y=",
        data=vw_form(sb),
        headers={"X-Custom-Probe": "one"},
    ).prepare()
    session.send(prepared, timeout=TIMEOUT)
    cf_get(sb, "/zones", per_page=5)
    [login] = sb.requests("vaultwarden")
    assert (login.method, login.path, login.query_string, login.query) == (
        "POST",
        "/identity/connect/token",
        "x=1&y=",
        {"x": ["1"], "y": [""]},
    )
    assert ("X-Custom-Probe", "one") in login.headers
    assert login.header("x-custom-probe") == "one"
    assert b"grant_type=client_credentials" in login.body
    [zones] = sb.requests("cloudflare")
    assert (zones.path, zones.relative_path) == ("/client/v4/zones", "/zones")
    assert zones.header("Authorization") == f"Bearer {sb.credentials['cloudflare']['api_token']}"
    assert zones.client[0] == "127.0.0.1"
    sb.clear_requests("vaultwarden")
    assert sb.requests("vaultwarden") == []
    assert len(sb.requests("cloudflare")) == 1


def test_repeated_headers_are_kept_apart(sb: Sandbox) -> None:
    """Keeps two header lines with the same name as two entries."""
    sb.clear_requests()
    with socket.create_connection(("127.0.0.1", sb.ports["authentik"]), timeout=TIMEOUT) as conn:
        conn.sendall(
            b"GET /-/health/live/ HTTP/1.1\r\nHost: x\r\nX-Twice: a\r\nX-Twice: b\r\nConnection: close\r\n\r\n"
        )
        while conn.recv(4096):
            pass
    assert sb.requests("authentik")[0].header_values("x-twice") == ["a", "b"]


def test_servers_bind_loopback_only(sb: Sandbox) -> None:
    """Binds every server to 127.0.0.1, so even another loopback address is refused."""
    addresses = sb.bound_addresses()
    assert set(addresses) == set(SYSTEMS)
    assert {host for host, _ in addresses.values()} == {"127.0.0.1"}
    assert all(u.startswith("http://127.0.0.1:") for u in sb.base_urls.values())
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.2", addresses["cloudflare"][1]), timeout=1).close()


# -- credentials and seed -----------------------------------------------------------------------------------


def test_credential_names_follow_the_sandbox_environment(sb: Sandbox) -> None:
    """Names every credential as environments/sandbox.yaml does and exports it under its variable."""
    declared = {s: set(body["credentials"]) for s, body in SANDBOX_ENV["systems"].items()}
    assert {s: set(v) for s, v in sb.credentials.items()} == declared
    assert {s: set(v) for s, v in CREDENTIAL_NAMES.items()} == declared
    variables = {
        ref["env"]: sb.credentials[s][name]
        for s, body in SANDBOX_ENV["systems"].items()
        for name, ref in body["credentials"].items()
    }
    assert sb.environment() == variables
    assert sb.credentials["cloudflare"]["api_token"].startswith("sandbox-cloudflare-api_token-")
    assert sb.credentials["vaultwarden"]["client_id"].startswith("user.")


def test_two_sandboxes_run_side_by_side(sb: Sandbox, wide_sandbox: Sandbox) -> None:
    """Runs two sandboxes at once on different ports, each accepting only its own fresh credentials."""
    assert set(sb.ports.values()).isdisjoint(wide_sandbox.ports.values())
    assert sb.credentials["authentik"] != wide_sandbox.credentials["authentik"]
    theirs = wide_sandbox.credentials["authentik"]["api_token"]
    assert ak_get(sb, "/core/users/me/", token=theirs).status_code == 403
    assert ak_get(wide_sandbox, "/core/users/me/", token=theirs).status_code == 200


def test_explicit_credentials_are_used_and_checked() -> None:
    """Serves explicitly given credentials and refuses unknown systems or names."""
    given = {"authentik": {"api_token": "sandbox-authentik-api_token-fixed"}}
    with Sandbox(credentials=given) as sb:
        assert sb.credentials["authentik"] == given["authentik"]
        assert ak_get(sb, "/core/users/me/", token="sandbox-authentik-api_token-fixed").status_code == 200
    with pytest.raises(ValueError, match="allowed names: api_token"):
        Sandbox(credentials={"authentik": {"password": "x"}})
    with pytest.raises(ValueError, match="allowed systems"):
        Sandbox(credentials={"grafana": {"api_token": "x"}})


def test_seed_follows_edited_contracts(edit_contract: ContractEditor, contracts_dir: Path) -> None:
    """Derives zones, tunnels and account from a contract set, so an edited inventory changes the sandbox."""

    def add_zone(data: Any) -> None:
        data["zones"].append({"name": "example.dev", "id": "4d5e6f708192a3b4c5d6e7f8012a3b4c", "registrar": True})

    edit_contract("cloudflare.inventory.yaml", add_zone)
    seed = SandboxSeed.from_contracts(contracts_dir)
    assert [z.name for z in seed.zones][-1] == "example.dev"
    assert seed.env_var("infisical", "project_id") == "INFISICAL_PROJECT_ID"
    with Sandbox(seed) as sb:
        domains = cf_get(sb, f"/accounts/{seed.account_id}/registrar/registrations").json()["result"]
        assert [d["domain_name"] for d in domains] == ["example.com", "example.org", "example.dev"]


def test_seed_errors_name_the_file(edit_contract: ContractEditor, contracts_dir: Path, tmp_path: Path) -> None:
    """Raises SandboxSeedError naming the file and YAML path when the inventory cannot seed the sandbox."""

    def break_zone(data: Any) -> None:
        data["zones"][1] = {"name": "example.org"}

    edit_contract("cloudflare.inventory.yaml", break_zone)
    with pytest.raises(
        SandboxSeedError, match=r"cloudflare\.inventory\.yaml: \$\.zones\[1\] needs string 'name' and 'id'"
    ):
        SandboxSeed.from_contracts(contracts_dir)
    with pytest.raises(SandboxSeedError, match="neither"):
        SandboxSeed.from_contracts(tmp_path)


# -- lifecycle ----------------------------------------------------------------------------------------------


def test_not_started_is_an_error() -> None:
    """Refuses base_urls and down() before start() with a SandboxError that says what to do."""
    sb = Sandbox()
    with pytest.raises(SandboxError, match=r"call start\(\)"):
        _ = sb.base_urls
    with pytest.raises(SandboxError, match="not started"):
        sb.down("cloudflare")
    with pytest.raises(ValueError, match="allowed systems"):
        sb.set_healthy("grafana", False)


def test_start_and_stop_are_clean_and_bounded() -> None:
    """Serves every system once start() returns; stop() aborts a held request and leaves no thread or port."""
    before = set(threading.enumerate())
    sb = Sandbox().start()
    assert sorted(sb.bound_addresses()) == sorted(SYSTEMS)
    assert {host for host, _ in sb.bound_addresses().values()} == {"127.0.0.1"}
    assert requests.get(url(sb, "authentik", "/-/health/live/"), timeout=TIMEOUT).status_code == 200
    sb.inject(FaultSpec("cloudflare", "timeout", 30.0))
    errors: list[BaseException] = []

    def held() -> None:
        try:
            requests.get(url(sb, "cloudflare", "/zones"), timeout=TIMEOUT)
        except requests.RequestException as error:
            errors.append(error)

    client = threading.Thread(target=held)
    client.start()
    _wait_for(lambda: len(sb.requests("cloudflare")) == 1)
    # The held request would take 30 s; stop() raises SandboxError if any thread outlives its 3 s hang guard.
    sb.stop(timeout=3.0)
    client.join(TIMEOUT)
    assert not client.is_alive()
    assert len(errors) == 1
    assert isinstance(errors[0], requests.ConnectionError)
    assert [t.name for t in set(threading.enumerate()) - before] == []
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", sb.ports["cloudflare"]), timeout=1).close()


def test_restart_keeps_ports() -> None:
    """Restarts a stopped sandbox on the same ports."""
    sb = Sandbox().start()
    ports = sb.ports
    sb.stop()
    sb.start()
    try:
        assert sb.ports == ports
        assert requests.get(url(sb, "authentik", "/-/health/live/"), timeout=TIMEOUT).status_code == 200
    finally:
        sb.stop()


def _wait_for(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Poll until the condition holds; fail only after `timeout`, a hang guard far above the milliseconds expected."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)
