"""Sandbox responses against our own schemas (contracts/schemas/api): every probed endpoint, variants and drift.

Only what the project ships is read here. The vendors' own shapes are checked by the vendors' own clients,
installed as test dependencies: tests/test_vendor_authentik.py, tests/test_vendor_infisical.py,
tests/test_vendor_vaultwarden.py (and the Cloudflare SDK's module).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
import yaml
from referencing import Registry

from infracore_verify.contracts.sets import BUNDLED_CONTRACTS
from infracore_verify.sandbox import FaultSpec, Sandbox

TIMEOUT = 5.0
API_SCHEMAS = BUNDLED_CONTRACTS / "schemas" / "api"
SCHEMA_BASE = "https://infracore-verify.invalid/schemas/api/"


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    """Runs one sandbox for the module."""
    with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture(autouse=True)
def _no_faults_left(request: pytest.FixtureRequest) -> Iterator[None]:
    """Clears the faults a test injected into the module's sandbox."""
    yield
    if "sb" in request.fixturenames:
        request.getfixturevalue("sb").clear_faults()


# -- requests -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request to the sandbox: a system, a method, a path below its base URL, and how to authenticate."""

    system: str
    path: str
    auth: str = "none"
    method: str = "GET"
    params: tuple[tuple[str, str], ...] = ()
    form: bool = False

    def send(self, sb: Sandbox) -> requests.Response:
        """Send the request with fresh credentials (logging in first where the system needs a token)."""
        creds = sb.credentials
        fill = {
            "account": creds["cloudflare"]["account_id"],
            "zone": _inventory()["zones"][0]["id"],
            "tunnel": _inventory()["tunnels"][0]["id"],
            "project": creds["infisical"]["project_id"],
            "outpost": _first_outpost(sb),
        }
        headers: dict[str, str] = {}
        if self.auth == "cf-token":
            headers["Authorization"] = f"Bearer {creds['cloudflare']['api_token']}"
        elif self.auth == "cf-global":
            headers.update(
                {"X-Auth-Email": creds["cloudflare"]["api_email"], "X-Auth-Key": creds["cloudflare"]["api_key"]}
            )
        elif self.auth == "ak":
            headers["Authorization"] = f"Bearer {creds['authentik']['api_token']}"
        elif self.auth == "vw":
            headers["Authorization"] = f"Bearer {_vw_token(sb)}"
        elif self.auth == "inf":
            headers["Authorization"] = f"Bearer {_inf_token(sb)}"
        elif self.auth.startswith("raw:"):
            headers["Authorization"] = self.auth[4:]
        params = {k: v.format(**fill) for k, v in self.params}
        data = _vw_form(sb) if self.form else None
        payload = (
            {"clientId": creds["infisical"]["client_id"], "clientSecret": creds["infisical"]["client_secret"]}
            if self.method == "POST" and self.system == "infisical"
            else None
        )
        return requests.request(
            self.method,
            sb.base_urls[self.system] + self.path.format(**fill),
            headers=headers,
            params=params,
            data=data,
            json=payload,
            timeout=TIMEOUT,
        )


@cache
def _inventory() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((BUNDLED_CONTRACTS / "cloudflare.inventory.yaml").read_text(encoding="utf-8"))
    return data


def _first_outpost(sb: Sandbox) -> str:
    return sb.seed.authentik_outposts[0].id


def _vw_form(sb: Sandbox) -> dict[str, str]:
    creds = sb.credentials["vaultwarden"]
    return {
        "grant_type": "client_credentials",
        "client_id": creds["client_id"],
        "client_secret": creds["client_secret"],
        "scope": "api",
        "device_identifier": "5f0c4c5e-1c1a-4f0e-9d8b-000000000002",
        "device_name": "infracore-verify",
        "device_type": "14",
    }


def _vw_token(sb: Sandbox) -> str:
    response = requests.post(
        sb.base_urls["vaultwarden"] + "/identity/connect/token", data=_vw_form(sb), timeout=TIMEOUT
    )
    return str(response.json()["access_token"])


def _inf_token(sb: Sandbox) -> str:
    creds = sb.credentials["infisical"]
    response = requests.post(
        sb.base_urls["infisical"] + "/api/v1/auth/universal-auth/login",
        json={"clientId": creds["client_id"], "clientSecret": creds["client_secret"]},
        timeout=TIMEOUT,
    )
    return str(response.json()["accessToken"])


SECRETS = (("workspaceId", "{project}"), ("environment", "prod"), ("secretPath", "/infra-core"))

ENDPOINTS: dict[str, Call] = {
    "cloudflare.token-verify": Call("cloudflare", "/accounts/{account}/tokens/verify", "cf-token"),
    "cloudflare.zones": Call("cloudflare", "/zones", "cf-token", params=(("per_page", "5"),)),
    "cloudflare.dns-records": Call("cloudflare", "/zones/{zone}/dns_records", "cf-global"),
    "cloudflare.tunnels": Call("cloudflare", "/accounts/{account}/cfd_tunnel", "cf-token"),
    "cloudflare.tunnel-configuration": Call(
        "cloudflare", "/accounts/{account}/cfd_tunnel/{tunnel}/configurations", "cf-token"
    ),
    "cloudflare.registrar-registrations": Call(
        "cloudflare", "/accounts/{account}/registrar/registrations", "cf-global"
    ),
    "vaultwarden.alive": Call("vaultwarden", "/alive"),
    "vaultwarden.version": Call("vaultwarden", "/api/version"),
    "vaultwarden.config": Call("vaultwarden", "/api/config"),
    "vaultwarden.token": Call("vaultwarden", "/identity/connect/token", method="POST", form=True),
    "vaultwarden.revision-date": Call("vaultwarden", "/api/accounts/revision-date", "vw"),
    "infisical.status": Call("infisical", "/api/status"),
    "infisical.login": Call("infisical", "/api/v1/auth/universal-auth/login", method="POST"),
    "infisical.secrets-raw": Call("infisical", "/api/v3/secrets/raw", "inf", params=SECRETS),
    "authentik.version": Call("authentik", "/api/v3/admin/version/", "ak"),
    "authentik.users-me": Call("authentik", "/api/v3/core/users/me/", "ak"),
    "authentik.outposts": Call("authentik", "/api/v3/outposts/instances/", "ak"),
    "authentik.outpost-health": Call("authentik", "/api/v3/outposts/instances/{outpost}/health/", "ak"),
}
"""One successful request per schema in contracts/schemas/api (the envelope is checked on every Cloudflare call)."""

MORE_SUCCESSES: dict[str, tuple[str, Call]] = {
    "vaultwarden-api-alive": ("vaultwarden.alive", Call("vaultwarden", "/api/alive")),
    "vaultwarden-api-now": ("vaultwarden.alive", Call("vaultwarden", "/api/now")),
    "infisical-v4-secrets": (
        "infisical.secrets-raw",
        Call("infisical", "/api/v4/secrets", "inf", params=(("projectId", "{project}"), ("environment", "prod"))),
    ),
    "infisical-hidden-values": (
        "infisical.secrets-raw",
        Call(
            "infisical",
            "/api/v3/secrets/raw",
            "inf",
            params=(*SECRETS, ("viewSecretValue", "false"), ("recursive", "true")),
        ),
    ),
    "cloudflare-live-tunnels": (
        "cloudflare.tunnels",
        Call("cloudflare", "/accounts/{account}/cfd_tunnel", "cf-global", params=(("is_deleted", "false"),)),
    ),
    "authentik-embedded-outpost": (
        "authentik.outposts",
        Call(
            "authentik",
            "/api/v3/outposts/instances/",
            "ak",
            params=(("managed__iexact", "goauthentik.io/outposts/embedded"),),
        ),
    ),
}


# -- our schemas --------------------------------------------------------------------------------------------


@cache
def our_schema(name: str) -> dict[str, Any]:
    """Returns contracts/schemas/api/<name>.schema.json."""
    schema: dict[str, Any] = json.loads((API_SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))
    return schema


def problems(schema: dict[str, Any], instance: Any, registry: Registry[Any] | None = None) -> list[str]:
    """Returns every validation error of `instance`, as 'path: message' lines."""
    validator = (
        jsonschema.Draft202012Validator(schema, registry=registry)
        if registry is not None
        else jsonschema.Draft202012Validator(schema)
    )
    return sorted(f"{e.json_path}: {e.message}" for e in validator.iter_errors(instance))


SCHEMA_FILES = sorted(API_SCHEMAS.glob("*.schema.json"))


def test_schema_set_is_complete() -> None:
    """Ships exactly one schema per probed endpoint plus the Cloudflare envelope."""
    assert sorted(p.name.removesuffix(".schema.json") for p in SCHEMA_FILES) == sorted(
        [*ENDPOINTS, "cloudflare.envelope"]
    )


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=[p.name for p in SCHEMA_FILES])
def test_schema_is_valid_2020_12_with_id_title_and_description(path: Path) -> None:
    """Makes every schema a valid 2020-12 schema with its own $id, a title and a description naming the endpoint."""
    schema = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == SCHEMA_BASE + path.name
    assert schema["title"]
    assert schema["description"]
    name = path.name.removesuffix(".schema.json")
    if name in ENDPOINTS:
        endpoint = ENDPOINTS[name].path.split("{")[0].rstrip("/")
        assert endpoint.rsplit("/", 1)[-1] in schema["description"], name


def test_cloudflare_schemas_share_one_envelope_definition() -> None:
    """Keeps the envelope $defs identical in every Cloudflare schema (each file stands alone)."""
    reference = our_schema("cloudflare.envelope")["$defs"]
    for name in ENDPOINTS:
        if name.startswith("cloudflare."):
            defs = our_schema(name)["$defs"]
            # A cursor-paged listing (registrar registrations) has cursor_info instead of the page result_info.
            shared = ["message", *(["result_info"] if "result_info" in defs else [])]
            assert {k: defs[k] for k in shared} == {k: reference[k] for k in shared}, name


def _page_envelope(body: Any) -> Any:
    """Returns the body for the envelope check: a cursor result_info (checked by its own schema) is left out."""
    info = body.get("result_info") if isinstance(body, dict) else None
    if isinstance(info, dict) and "cursor" in info:
        return {k: v for k, v in body.items() if k != "result_info"}
    return body


@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_sandbox_answers_with_our_schema(sb: Sandbox, name: str) -> None:
    """Answers every probed endpoint with a body our schema accepts (Cloudflare: the envelope too)."""
    response = ENDPOINTS[name].send(sb)
    assert response.status_code == 200, response.text
    body = response.json()
    assert problems(our_schema(name), body) == []
    if name.startswith("cloudflare."):
        assert problems(our_schema("cloudflare.envelope"), _page_envelope(body)) == []


@pytest.mark.parametrize("case", list(MORE_SUCCESSES))
def test_variants_answer_with_our_schema(sb: Sandbox, case: str) -> None:
    """Answers the endpoint variants (api/alive, now, v4 secrets, hidden values, filters) with the same schema."""
    name, call = MORE_SUCCESSES[case]
    response = call.send(sb)
    assert response.status_code == 200, response.text
    assert problems(our_schema(name), response.json()) == []


@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_drift_fault_breaks_our_schema(sb: Sandbox, name: str) -> None:
    """Makes every endpoint drift far enough that our schema rejects the body (so probes can catch drift)."""
    call = ENDPOINTS[name]
    if call.auth in ("vw", "inf"):
        call.send(sb)  # log in before the fault applies to every path of the system
    sb.inject(FaultSpec(call.system, "drift", path=call.path.split("{")[0]))
    response = call.send(sb)
    assert response.status_code == 200
    assert problems(our_schema(name), response.json()) != []


@pytest.mark.parametrize(
    ("call", "status"),
    [
        (Call("cloudflare", "/zones", "raw:Bearer sandbox-wrong"), 403),
        (Call("cloudflare", "/zones", "raw:Basic x"), 400),
        (Call("cloudflare", "/user/tokens/verify", "cf-global"), 400),
        (Call("cloudflare", "/zones/ffffffffffffffffffffffffffffffff/dns_records", "cf-token"), 404),
        (Call("cloudflare", "/nowhere"), 404),
    ],
    ids=["wrong-token", "malformed-auth", "verify-global", "unknown-zone", "unknown-route"],
)
def test_cloudflare_failures_match_the_envelope(sb: Sandbox, call: Call, status: int) -> None:
    """Answers Cloudflare failures with the failure envelope of our schema."""
    response = call.send(sb)
    assert response.status_code == status
    assert problems(our_schema("cloudflare.envelope"), response.json()) == []
