"""One Infisical login per run: counted in the sandbox for `pytest -m "smoke or live"` (pytester, real sandbox).

Each login mints a token, uses up one `numUsesLimit` use and writes an audit entry. The session shares one
Infisical client per identity between the credential source, every test module's client fixture, the probes,
the live gates and the auth probe (`secrets.auth.status`), so a run without xdist logs in exactly once.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from infracore_verify.clients.infisical import LOGIN_PATH, InfisicalClient
from infracore_verify.sandbox import Sandbox
from tests import test_smoke_plugin
from tests.conftest import PROJECT_CONFTEST
from tests.test_smoke_plugin import deployment_env, run, sandbox_deployment

suite = test_smoke_plugin.suite
external_sandbox = test_smoke_plugin.external_sandbox

COUNTING_CONFTEST = (
    PROJECT_CONFTEST
    + '''
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _count_infisical_logins(sandbox, pytestconfig):
    """Writes how many universal-auth logins the run's sandbox received, after the last test."""
    yield
    logins = [r for r in sandbox.requests("infisical") if r.method == "POST" and r.path == "'''
    + LOGIN_PATH
    + """"]
    (Path(str(pytestconfig.rootpath)) / "infisical-logins.txt").write_text(str(len(logins)))
"""
)


INFISICAL_PASSED = [
    "*test_probe?infisical.status? PASSED*",
    "*test_probe?secrets.auth.status? PASSED*",
    "*test_probe?secrets.namespace.status? PASSED*",
    "*test_gate?D55? PASSED*",
]
"""The Infisical probes and the secrets-readiness live gate (the other systems' verdicts are tested elsewhere)."""


def logins(box: Sandbox) -> int:
    """Returns the universal-auth logins the sandbox received."""
    return sum(1 for r in box.requests("infisical") if r.method == "POST" and r.path == LOGIN_PATH)


def test_a_smoke_and_live_run_logs_in_to_infisical_once(suite: pytest.Pytester) -> None:
    """Runs `-m "smoke or live"` on the sandbox: every probe and live gate passes, with exactly one login."""
    (suite.path / "conftest.py").write_text(COUNTING_CONFTEST)
    # A second module asking for the client fixture, as an operator's own tests would.
    (suite.path / "smoke" / "test_own.py").write_text(
        "import pytest\n\n\n@pytest.mark.smoke\ndef test_own_listing(make_client):\n"
        '    """Lists through the session\'s Infisical client."""\n'
        '    assert make_client("infisical").session_login().ok\n'
    )
    result = run(suite, "-m", "smoke or live", "-v")
    result.stdout.fnmatch_lines_random([*INFISICAL_PASSED, "*test_own.py::test_own_listing PASSED*"])
    assert (suite.path / "infisical-logins.txt").read_text() == "1"


def test_infisical_as_credential_source_shares_the_one_login(
    suite: pytest.Pytester, external_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fetches credentials from Infisical and runs the Infisical probes with the same identity: one login."""
    creds = external_sandbox.credentials["infisical"]
    monkeypatch.setenv("LAB_INFISICAL_ID", creds["client_id"])
    monkeypatch.setenv("LAB_INFISICAL_SECRET", creds["client_secret"])
    monkeypatch.setenv("LAB_INFISICAL_PROJECT", creds["project_id"])
    identity = {"client_id": {"env": "LAB_INFISICAL_ID"}, "client_secret": {"env": "LAB_INFISICAL_SECRET"}}
    source: dict[str, Any] = {
        "type": "infisical",
        "system": "infisical",
        "project_id": creds["project_id"],
        "environment": "prod",
        "path": "/infra-core",
        "identity": identity,
    }
    refs: dict[str, dict[str, Any]] = {
        "cloudflare": {
            "api_token": {"secret": "/infra-core/CLOUDFLARE_API_TOKEN"},
            "account_id": {"secret": "/infra-core/CLOUDFLARE_ACCOUNT_ID"},
        },
        "vaultwarden": {},
        "infisical": {**identity, "project_id": {"env": "LAB_INFISICAL_PROJECT"}},
        "authentik": {"api_token": {"secret": "/infra-core/AUTHENTIK_API_TOKEN"}},
    }
    deployment_env(suite.path / "contracts", "lab", sandbox_deployment(external_sandbox, source, refs))
    result = run(suite, "--env", "lab", "-m", "smoke or live", "-v")
    result.stdout.fnmatch_lines_random(INFISICAL_PASSED)
    assert logins(external_sandbox) == 1


def test_session_login_is_shared_by_concurrent_callers() -> None:
    """Lets eight threads ask for the login at once; the server sees one login and each caller its result."""
    with Sandbox() as box:
        creds = box.credentials["infisical"]
        client = InfisicalClient(
            box.base_urls["infisical"], client_id=creds["client_id"], client_secret=creds["client_secret"]
        )
        results: list[Any] = []
        threads = [threading.Thread(target=lambda: results.append(client.session_login())) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        listing = client.list_secrets(creds["project_id"], "prod", "/infra-core")
        assert [r.ok for r in results] == [True] * 8
        assert listing.ok
        assert (client.logins, logins(box)) == (1, 1)
        client.close()


def test_a_login_after_the_token_expired_is_a_new_login() -> None:
    """Logs in again once the server expired the token (the shared login is per token lifetime, not forever)."""
    with Sandbox() as box:
        creds = box.credentials["infisical"]
        client = InfisicalClient(
            box.base_urls["infisical"], client_id=creds["client_id"], client_secret=creds["client_secret"]
        )
        assert client.session_login().ok
        box.expire_tokens("infisical")
        assert client.list_secrets(creds["project_id"], "prod", "/infra-core").ok
        assert client.session_login().ok
        assert (client.logins, logins(box)) == (2, 2)
        client.close()
