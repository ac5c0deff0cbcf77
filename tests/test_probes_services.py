"""Verdicts of the Authentik, Infisical and Vaultwarden probes that changed (issue 10), both sides, on the sandbox.

- `authentik.outposts.status`: passes on current outposts; fails naming the outpost and `version_outdated` when
  an instance runs an older version (seeded, or the `authentik:outpost_outdated` fault).
- `authentik.user.self`: passes on the 2026.8 `users/me` shape (`is_current`, `users`).
- `vaultwarden.revision.date`: with the API key it logs in and reads the revision date; a refused key fails as
  `token_invalid`; no key passes with a warning; a declared key that does not resolve is a `setup_error`.
- `secrets.auth.status`: reuses the run's one login.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from infracore_verify.clients.authentik import AuthentikClient
from infracore_verify.clients.http import Limits
from infracore_verify.clients.infisical import InfisicalClient
from infracore_verify.clients.vaultwarden import VaultwardenClient
from infracore_verify.contracts.sets import BUNDLED_CONTRACTS, Contracts
from infracore_verify.contracts.verdict import Verdict
from infracore_verify.sandbox import Sandbox, SandboxSeed, parse_fault_spec
from infracore_verify.sandbox.authentik import OUTDATED_OUTPOST_VERSION
from infracore_verify.smoke.probes import ProbeContext, ProbeOutcome, run_probe
from tests.projects import UNTIMED_SLO

LIMITS = Limits(max_attempts=1, max_total_wait=0.0, read_timeout=5.0)


@pytest.fixture
def box() -> Iterator[Sandbox]:
    """Runs a fresh sandbox for one test."""
    with Sandbox() as sandbox:
        yield sandbox


def clients_for(box: Sandbox, **overrides: Any) -> Callable[[str], Any]:
    """Returns clients(system) for the sandbox; `vaultwarden=` replaces the Vaultwarden credentials."""
    creds = box.credentials
    urls = box.base_urls
    vw = overrides.get("vaultwarden", creds["vaultwarden"])
    built = {
        "authentik": AuthentikClient(urls["authentik"], api_token=creds["authentik"]["api_token"], limits=LIMITS),
        "vaultwarden": VaultwardenClient(urls["vaultwarden"], limits=LIMITS, **vw),
        "infisical": InfisicalClient(
            urls["infisical"],
            client_id=creds["infisical"]["client_id"],
            client_secret=creds["infisical"]["client_secret"],
            limits=LIMITS,
        ),
    }
    return built.__getitem__


def probe(probe_id: str, clients: Callable[[str], Any], settings: dict[str, Any] | None = None) -> ProbeOutcome:
    """Runs one probe implementation with the given clients."""
    return run_probe(probe_id, probe_id, probe_id.split(".")[0], ProbeContext(clients, {}, settings), UNTIMED_SLO)


# -- authentik ----------------------------------------------------------------------------------------------


def test_outposts_on_the_server_version_pass(box: Sandbox) -> None:
    """Passes when every outpost instance runs the server's version."""
    outcome = probe("authentik.outposts.status", clients_for(box))
    assert (outcome.verdict, outcome.failure_class) == (Verdict.PASS, None), outcome.message
    assert "none outdated" in outcome.message


def test_an_outdated_outpost_fails_naming_it_and_the_state() -> None:
    """Fails (inventory_drift) naming the outdated outpost, its instance, both versions and version_outdated."""
    seed = SandboxSeed.default()
    outposts = tuple(replace(o, outdated=o.name == "infra-core-ldap") for o in seed.authentik_outposts)
    with Sandbox(replace(seed, authentik_outposts=outposts)) as box:
        outcome = probe("authentik.outposts.status", clients_for(box))
    assert (outcome.verdict, outcome.failure_class) == (Verdict.FAIL, "inventory_drift")
    assert (
        f"outpost 'infra-core-ldap' is outdated: instance infra-core-ldap-0 runs {OUTDATED_OUTPOST_VERSION}, "
        f"the server expects {seed.authentik_version} (version_outdated: true)"
    ) in outcome.message
    assert "Embedded Outpost" not in outcome.message


def test_the_outpost_outdated_fault_marks_outposts_and_the_version_endpoint(box: Sandbox) -> None:
    """Makes every outpost outdated with `authentik:outpost_outdated` (a state: never used up by requests)."""
    box.inject(parse_fault_spec("authentik:outpost_outdated"))
    first = probe("authentik.outposts.status", clients_for(box))
    again = probe("authentik.outposts.status", clients_for(box))
    version = probe("authentik.version", clients_for(box))
    assert first.failure_class == again.failure_class == "inventory_drift"
    assert "'authentik Embedded Outpost' is outdated" in first.message
    assert "'infra-core-ldap' is outdated" in first.message
    assert version.verdict == Verdict.PASS
    assert any("an outpost runs another version" in w for w in version.warnings)
    box.clear_faults("authentik")
    assert probe("authentik.outposts.status", clients_for(box)).verdict == Verdict.PASS


def test_the_outdated_fault_takes_a_path_and_refuses_times() -> None:
    """Targets one outpost by its health path; a count or another system is refused with the reason."""
    spec = parse_fault_spec("authentik:outpost_outdated@/api/v3/outposts/instances/abc/*")
    assert spec.path == "/api/v3/outposts/instances/abc/*"
    with pytest.raises(ValueError, match="a state until cleared"):
        parse_fault_spec("authentik:outpost_outdated@/api/*x2")
    with pytest.raises(ValueError, match="applies to authentik only"):
        parse_fault_spec("vaultwarden:outpost_outdated")


def test_user_self_passes_on_the_current_users_me_shape(box: Sandbox) -> None:
    """Reads the 2026.8 SessionUser (user.is_current, users[]) and passes for the active service account."""
    outcome = probe("authentik.user.self", clients_for(box))
    assert outcome.verdict == Verdict.PASS, outcome.message
    body = outcome.exchanges[-1].response_body
    assert body["user"]["is_current"] is True
    assert body["users"] == [body["user"]]


# -- vaultwarden --------------------------------------------------------------------------------------------


def test_revision_date_with_the_api_key_passes(box: Sandbox) -> None:
    """Logs in with client_credentials, then reads the account revision date with the bearer token."""
    outcome = probe("vaultwarden.revision.date", clients_for(box))
    assert outcome.verdict == Verdict.PASS, outcome.message
    assert "account revised 2025-11-20T08:00:00Z" in outcome.message
    paths = [(r.method, r.path) for r in box.requests("vaultwarden")]
    assert paths == [("POST", "/identity/connect/token"), ("GET", "/api/accounts/revision-date")]
    assert str(box.requests("vaultwarden")[-1].header("Authorization")).startswith("Bearer ")


def test_revision_date_with_a_refused_api_key_fails_as_token_invalid(box: Sandbox) -> None:
    """Fails as token_invalid when Vaultwarden refuses the API key (400 Incorrect client_secret)."""
    wrong = {"client_id": box.credentials["vaultwarden"]["client_id"], "client_secret": "sandbox-wrong-secret"}
    outcome = probe("vaultwarden.revision.date", clients_for(box, vaultwarden=wrong))
    assert (outcome.verdict, outcome.failure_class) == (Verdict.FAIL, "token_invalid")
    assert "Incorrect client_secret" in outcome.message
    assert [r.path for r in box.requests("vaultwarden")] == ["/identity/connect/token"]


def test_revision_date_without_an_api_key_passes_with_a_warning(box: Sandbox) -> None:
    """Runs no login when the environment gives no API key, and says the authenticated check did not run."""
    outcome = probe("vaultwarden.revision.date", clients_for(box, vaultwarden={}))
    assert outcome.verdict == Verdict.PASS
    assert any("the authenticated check did not run" in w for w in outcome.warnings)
    assert box.requests("vaultwarden") == []


def test_revision_date_with_a_declared_key_that_does_not_resolve_is_a_setup_error(box: Sandbox) -> None:
    """Fails as setup_error when the environment declares the API key but the client got none."""
    settings = {"contracts": Contracts.open(BUNDLED_CONTRACTS), "environment": "sandbox"}
    outcome = probe("vaultwarden.revision.date", clients_for(box, vaultwarden={}), settings)
    assert (outcome.verdict, outcome.failure_class) == (Verdict.FAIL, "setup_error")
    assert "needs an API key; missing: client_id, client_secret" in outcome.message


# -- infisical ----------------------------------------------------------------------------------------------


def test_auth_probe_reuses_the_login_of_the_secret_listing(box: Sandbox) -> None:
    """Checks the login the namespace listing already made instead of logging in again."""
    clients = clients_for(box)
    settings = {"infisical_project_id": box.credentials["infisical"]["project_id"], "infisical_path": "/infra-core"}
    assert probe("secrets.namespace.status", clients, settings).verdict == Verdict.PASS
    auth = probe("secrets.auth.status", clients)
    assert auth.verdict == Verdict.PASS, auth.message
    assert "logins this session: 1" in auth.message
    assert sum(1 for r in box.requests("infisical") if r.method == "POST") == 1


def test_auth_probe_still_fails_on_refused_credentials(box: Sandbox) -> None:
    """Fails as token_invalid when the machine identity is refused (the shared login is no free pass)."""
    creds = box.credentials["infisical"]
    client = InfisicalClient(
        box.base_urls["infisical"], client_id=creds["client_id"], client_secret="sandbox-wrong", limits=LIMITS
    )
    outcome = probe("secrets.auth.status", {"infisical": client}.__getitem__)
    assert (outcome.verdict, outcome.failure_class) == (Verdict.FAIL, "token_invalid")
    assert "Invalid credentials" in outcome.message
