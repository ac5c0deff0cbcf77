"""The sandbox control endpoint (issue 9 item 18) against a real sandbox on 127.0.0.1.

`/__sandbox__/control` switched a system's health and cleared faults for anyone: no authentication, any
Host, any content type (a cross-origin `text/plain` post from a browser page reached it). Now a request must
carry the sandbox's per-run random token, name the server's own address as Host, send JSON and no foreign
Origin.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from infracore_verify.sandbox import Sandbox
from infracore_verify.sandbox._http import CONTROL_HEADER, CONTROL_PATH

BODY = json.dumps({"healthy": True, "clear_faults": True})


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    """Yields one running sandbox for the module."""
    sandbox = Sandbox()
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def unhealthy(box: Sandbox) -> Sandbox:
    """Returns the sandbox with Vaultwarden unhealthy (what a control request would switch back)."""
    box.set_healthy("vaultwarden", False)
    return box


def control_url(box: Sandbox) -> str:
    """Returns Vaultwarden's control endpoint."""
    return f"http://127.0.0.1:{box.ports['vaultwarden']}{CONTROL_PATH}"


def post(box: Sandbox, headers: dict[str, str], body: str = BODY) -> requests.Response:
    """POSTs to Vaultwarden's control endpoint with exactly these headers (Host as requests sets it)."""
    return requests.post(control_url(box), data=body.encode(), headers=headers, timeout=5)


def test_suite_caller_with_the_token_switches_health(unhealthy: Sandbox) -> None:
    """Accepts the suite's own request: the token header, JSON, the server's own Host."""
    response = post(unhealthy, unhealthy.control_headers())
    assert (response.status_code, response.json()) == (200, {"system": "vaultwarden", "healthy": True})
    assert unhealthy.is_healthy("vaultwarden")


@pytest.mark.parametrize(
    ("headers", "status", "error"),
    [
        ({"Content-Type": "application/json"}, 403, f"missing or wrong {CONTROL_HEADER}"),
        ({"Content-Type": "application/json", CONTROL_HEADER: "guessed"}, 403, f"missing or wrong {CONTROL_HEADER}"),
        ({"Content-Type": "text/plain"}, 415, "Content-Type: application/json"),
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415, "Content-Type: application/json"),
        ({"Content-Type": "application/json", "Host": "rebound.example.invalid"}, 403, "the Host header must be"),
        ({"Content-Type": "application/json", "Host": "localhost"}, 403, "the Host header must be"),
        ({"Content-Type": "application/json", "Origin": "https://attacker.example.invalid"}, 403, "cross-origin"),
    ],
    ids=["no-token", "wrong-token", "text-plain", "form", "foreign-host", "host-without-port", "foreign-origin"],
)
def test_foreign_control_requests_are_refused(
    unhealthy: Sandbox, headers: dict[str, str], status: int, error: str
) -> None:
    """Refuses a request without the token, with another Host or Origin, or with a body that is not JSON.

    The token is added to every case but the token cases, so each refusal is for the reason named.
    """
    sent = dict(headers)
    if CONTROL_HEADER not in error and CONTROL_HEADER not in sent:
        sent[CONTROL_HEADER] = unhealthy.control_token
    response = post(unhealthy, sent)
    assert response.status_code == status
    assert error in response.json()["error"]
    assert not unhealthy.is_healthy("vaultwarden")


def test_control_token_is_random_per_sandbox_and_kept_out_of_repr(box: Sandbox) -> None:
    """Gives every sandbox its own token, shared by its four systems, and never shows it in repr."""
    other = Sandbox()
    assert other.control_token != box.control_token
    assert len(box.control_token) >= 32
    assert box.control_token not in repr(box)
    assert box.control_headers() == {CONTROL_HEADER: box.control_token, "Content-Type": "application/json"}
    box.set_healthy("authentik", False)
    url = f"http://127.0.0.1:{box.ports['authentik']}{CONTROL_PATH}"
    response = requests.post(url, data=BODY.encode(), headers=box.control_headers(), timeout=5)
    assert response.status_code == 200
    assert box.is_healthy("authentik")
    stranger = requests.post(url, data=BODY.encode(), headers=other.control_headers(), timeout=5)
    assert stranger.status_code == 403
