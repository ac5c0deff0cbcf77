"""The official `infisicalsdk` (1.0.18) against the sandbox: universal-auth login, secret listing and one secret.

The vendor's own client is the oracle: `InfisicalSDKClient(host=<sandbox>)` logs in the way the SDK does it and
parses the answers into its models (dataclasses built with `from_dict`). Its models do not check types, so each
test also asserts the types of the fields our client reads. A sandbox answer the SDK cannot parse fails here.

Endpoints our probes (`smoke/probes_infisical.py`), the capture (`smoke/capture_systems.py`) and the credential
source (`clients/infisical.py` `fetch_secrets`) call, and how each is checked through the SDK:

| endpoint | SDK call | model | fields we read |
| --- | --- | --- | --- |
| POST /api/v1/auth/universal-auth/login | auth.universal_auth.login | MachineIdentityLoginResponse | accessToken, expiresIn, tokenType |
| GET /api/v3/secrets/raw | secrets.list_secrets | ListSecretsResponse / BaseSecret | secrets[].secretKey, secretValue, secretPath, secretValueHidden |
| GET /api/v3/secrets/raw/{name} | secrets.get_secret_by_name | SingleSecretResponse | secret.secretKey, secretValue |
| GET /api/status | (none: the SDK has no call) | - | covered by tests/test_sandbox_schemas.py |

The SDK still lists secrets at `/api/v3/secrets/raw` (so does our client); the sandbox also serves `/api/v4/secrets`,
which the suite does not depend on.

Errors through the SDK's `APIError` (status_code and the error body): 401 "Token missing" without a token, 401
"Invalid credentials" for a wrong client secret, 403 `TokenError` for an unknown token, 429 `RateLimitExceeded`
with the wait in the message. `APIError` does not expose response headers, so Retry-After is asserted on the
same answer fetched with requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from infisical_sdk import InfisicalSDKClient  # type: ignore[import-untyped]
from infisical_sdk.api_types import (  # type: ignore[import-untyped]
    BaseSecret,
    ListSecretsResponse,
    MachineIdentityLoginResponse,
)
from infisical_sdk.infisical_requests import APIError  # type: ignore[import-untyped]

from infracore_verify.clients.infisical import LOGIN_PATH, SECRETS_PATH
from infracore_verify.sandbox import FaultSpec, Sandbox
from infracore_verify.sandbox.infisical import HIDDEN_VALUE

TIMEOUT = 5.0


@pytest.fixture
def sdk(sb: Sandbox) -> Iterator[Any]:
    """Returns the vendor's client pointed at the sandbox's Infisical (no secrets cache: every call is sent)."""
    client = InfisicalSDKClient(host=sb.base_urls["infisical"], cache_ttl=None)
    yield client
    client.close()


def login(sdk: Any, sb: Sandbox) -> Any:
    """Logs in with the sandbox's machine identity through the SDK."""
    creds = sb.credentials["infisical"]
    return sdk.auth.universal_auth.login(client_id=creds["client_id"], client_secret=creds["client_secret"])


def test_universal_auth_login_parses_into_the_vendor_model(sdk: Any, sb: Sandbox) -> None:
    """Logs in as the SDK does (POST JSON clientId/clientSecret) and parses MachineIdentityLoginResponse."""
    before = len(sb.requests("infisical"))
    response = login(sdk, sb)
    assert isinstance(response, MachineIdentityLoginResponse)
    assert isinstance(response.accessToken, str)
    assert response.accessToken
    assert isinstance(response.expiresIn, int)
    assert response.expiresIn == sb.seed.infisical_token_ttl
    assert isinstance(response.accessTokenMaxTTL, int)
    assert response.tokenType == "Bearer"
    [sent] = sb.requests("infisical")[before:]
    assert (sent.method, sent.path) == ("POST", LOGIN_PATH)


def test_secret_listing_parses_into_the_vendor_model(sdk: Any, sb: Sandbox) -> None:
    """Lists the credential path (values shown and hidden, recursive) and parses ListSecretsResponse."""
    login(sdk, sb)
    project = sb.credentials["infisical"]["project_id"]
    shown = sdk.secrets.list_secrets(environment_slug="prod", secret_path="/infra-core", project_id=project)
    assert isinstance(shown, ListSecretsResponse)
    assert shown.secrets
    assert all(isinstance(s, BaseSecret) for s in shown.secrets)
    by_key = {s.secretKey: s for s in shown.secrets}
    assert by_key["AUTHENTIK_API_TOKEN"].secretValue == sb.credentials["authentik"]["api_token"]
    for secret in shown.secrets:
        assert isinstance(secret.secretKey, str)
        assert isinstance(secret.secretValue, str)
        assert secret.secretPath == "/infra-core"
        assert secret.secretValueHidden is False
        assert isinstance(secret.version, int)
    hidden = sdk.secrets.list_secrets(
        environment_slug="prod", secret_path="/", project_id=project, view_secret_value=False, recursive=True
    )
    assert {s.secretValue for s in hidden.secrets} == {HIDDEN_VALUE}
    assert all(s.secretValueHidden is True for s in hidden.secrets)
    assert {"/", "/infra-core", "/infra-core/other"} <= {s.secretPath for s in hidden.secrets}
    assert sb.requests("infisical")[-1].path == SECRETS_PATH


def test_one_secret_by_name_parses_into_the_vendor_model(sdk: Any, sb: Sandbox) -> None:
    """Gets one secret as the SDK does (GET /api/v3/secrets/raw/{name}) and parses it into BaseSecret."""
    login(sdk, sb)
    project = sb.credentials["infisical"]["project_id"]
    secret = sdk.secrets.get_secret_by_name(
        secret_name="VAULTWARDEN_CLIENT_ID", environment_slug="prod", secret_path="/infra-core", project_id=project
    )
    assert isinstance(secret, BaseSecret)
    assert secret.secretKey == "VAULTWARDEN_CLIENT_ID"
    assert secret.secretValue == sb.credentials["vaultwarden"]["client_id"]
    with pytest.raises(APIError) as info:
        sdk.secrets.get_secret_by_name(
            secret_name="NOPE", environment_slug="prod", secret_path="/infra-core", project_id=project
        )
    assert info.value.status_code == 404
    assert info.value.response["error"] == "NotFound"


def test_without_a_token_the_sdk_gets_401_token_missing(sdk: Any, sb: Sandbox) -> None:
    """Raises APIError 401 UnauthorizedError "Token missing" when the SDK has not logged in."""
    with pytest.raises(APIError) as info:
        sdk.secrets.list_secrets(
            environment_slug="prod", secret_path="/", project_id=sb.credentials["infisical"]["project_id"]
        )
    assert info.value.status_code == 401
    assert (info.value.response["error"], info.value.response["message"]) == ("UnauthorizedError", "Token missing")


def test_a_wrong_client_secret_is_401_invalid_credentials(sdk: Any, sb: Sandbox) -> None:
    """Raises APIError 401 "Invalid credentials" for a refused machine identity."""
    with pytest.raises(APIError) as info:
        sdk.auth.universal_auth.login(client_id=sb.credentials["infisical"]["client_id"], client_secret="wrong")
    assert info.value.status_code == 401
    assert info.value.response["message"] == "Invalid credentials"


def test_an_unknown_token_is_403_token_error(sb: Sandbox) -> None:
    """Raises APIError 403 TokenError for a token the server never issued."""
    client = InfisicalSDKClient(host=sb.base_urls["infisical"], token="sandbox-not-a-token", cache_ttl=None)
    with pytest.raises(APIError) as info:
        client.secrets.list_secrets(
            environment_slug="prod", secret_path="/", project_id=sb.credentials["infisical"]["project_id"]
        )
    client.close()
    assert info.value.status_code == 403
    assert info.value.response["error"] == "TokenError"


def test_a_rate_limited_call_is_429_with_the_wait_and_retry_after(sdk: Any, sb: Sandbox) -> None:
    """Raises APIError 429 RateLimitExceeded naming the wait; the same answer carries Retry-After on the wire."""
    login(sdk, sb)
    project = sb.credentials["infisical"]["project_id"]
    sb.inject(FaultSpec("infisical", "rate_limit", 7, path=SECRETS_PATH, times=1))
    with pytest.raises(APIError) as info:
        sdk.secrets.list_secrets(environment_slug="prod", secret_path="/", project_id=project)
    assert info.value.status_code == 429
    assert info.value.response["error"] == "RateLimitExceeded"
    assert info.value.response["message"] == "Rate limit exceeded. Please try again in 7 seconds"
    sb.inject(FaultSpec("infisical", "rate_limit", 7, path=SECRETS_PATH, times=1))
    raw = requests.get(sb.base_urls["infisical"] + SECRETS_PATH, timeout=TIMEOUT)
    assert (raw.status_code, raw.headers["Retry-After"]) == (429, "7")


def test_a_drifted_listing_breaks_the_vendor_model(sdk: Any, sb: Sandbox) -> None:
    """Shows the oracle has teeth: the drift fault's listing (`secrets` renamed) cannot be parsed by the SDK."""
    login(sdk, sb)
    sb.inject(FaultSpec("infisical", "drift", path=SECRETS_PATH, times=1))
    with pytest.raises(KeyError, match="secrets"):
        sdk.secrets.list_secrets(
            environment_slug="prod", secret_path="/", project_id=sb.credentials["infisical"]["project_id"]
        )
