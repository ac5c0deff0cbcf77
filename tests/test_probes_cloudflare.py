"""The Cloudflare probes against the sandbox's two worlds: today's real shapes pass, the broken states fail by name.

Each probe whose verdict changed with the current APIs is run on both sides: the real-world default (account-owned
token, locally managed tunnel, registrations instead of the retired registrar domains) and the broken state
(permission-limited or IP-restricted token, down/degraded/inactive tunnel, pending/moved zone, a remote tunnel not
configured yet), each injected as a sandbox fault the way `--sandbox-fault` does.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from infracore_verify.clients.cloudflare import CloudflareClient
from infracore_verify.clients.http import Limits
from infracore_verify.contracts.sets import BUNDLED_CONTRACTS, SUITE_ROOT, Contracts
from infracore_verify.sandbox import Sandbox, SandboxSeed, parse_fault_spec
from infracore_verify.smoke.probes import ProbeContext, ProbeOutcome, run_probe
from tests.conftest import PROJECT_CONFTEST, ContractEditor
from tests.projects import UNTIMED_SLO

TUNNEL_ID = "6f1c2d3e-4a5b-4c6d-8e7f-90a1b2c3d4e5"
EXAMPLE_COM = "1a2b3c4d5e6f708192a3b4c5d6e7f801"
FAST = Limits(max_attempts=1, max_total_wait=0)


def client_of(sb: Sandbox, **overrides: Any) -> CloudflareClient:
    """Returns our Cloudflare client on the sandbox with its credentials (overrides may drop some with None)."""
    creds: dict[str, Any] = {**sb.credentials["cloudflare"], **overrides}
    return CloudflareClient(sb.base_urls["cloudflare"], limits=FAST, **creds)


def run(sb: Sandbox, probe_id: str, *faults: str, settings: dict[str, Any] | None = None, **creds: Any) -> ProbeOutcome:
    """Runs one Cloudflare probe on the sandbox with `faults` injected, as the smoke runner would."""
    for spec in faults:
        sb.inject(parse_fault_spec(spec))
    client = client_of(sb, **creds)
    inventory = Contracts.open(BUNDLED_CONTRACTS).doc("inventory").data
    try:
        ctx = ProbeContext(lambda system: client, inventory, settings or {})
        return run_probe(probe_id, probe_id, "cloudflare", ctx, UNTIMED_SLO)
    finally:
        client.close()


def passed(outcome: ProbeOutcome) -> bool:
    """Returns True when the probe passed."""
    return outcome.verdict == "pass" and outcome.failure_class is None


# -- token posture ------------------------------------------------------------------------------------------


def test_account_owned_token_verifies_at_the_account_endpoint(sb: Sandbox) -> None:
    """Passes an account-owned token (formerly token_invalid): detected after the user endpoint's 401, recorded."""
    outcome = run(sb, "cloudflare.token.verify")
    assert passed(outcome), outcome.message
    assert outcome.details["verify_endpoint"] == "GET /accounts/{account}/tokens/verify"
    assert outcome.details["token_owner"] == "account"
    assert outcome.message == (
        "cloudflare.token.verify: ok (token active, account-owned, verified at GET /accounts/{account}/tokens/verify; "
        "permissions granted: Zone Read, DNS Read, Cloudflare Tunnel Read, Registrar Read)"
    )
    assert [e.status for e in outcome.exchanges] == [401, 200, 200, 200, 200, 200]
    assert all("Authorization" in e.request_headers for e in outcome.exchanges)  # never the Global API Key


def test_user_owned_token_verifies_at_the_user_endpoint(sb: Sandbox) -> None:
    """Passes a user-owned token at /user/tokens/verify, without asking the account endpoint."""
    outcome = run(sb, "cloudflare.token.verify", "cloudflare:user_token")
    assert passed(outcome), outcome.message
    assert (outcome.details["verify_endpoint"], outcome.details["token_owner"]) == ("GET /user/tokens/verify", "user")
    assert not any(
        r.relative_path.endswith("/tokens/verify") and "/accounts/" in r.relative_path
        for r in sb.requests("cloudflare")
    )


@pytest.mark.parametrize(
    ("owner", "fault", "paths"),
    [
        ("account", None, ["/accounts/{account}/tokens/verify"]),
        ("user", "cloudflare:user_token", ["/user/tokens/verify"]),
    ],
    ids=["account", "user"],
)
def test_configured_token_owner_asks_only_its_endpoint(
    sb: Sandbox, edit_contract: ContractEditor, contracts_dir: Path, owner: str, fault: str | None, paths: list[str]
) -> None:
    """Reads systems.cloudflare.token_owner from the environment file and verifies at that endpoint only."""

    def configure(data: Any) -> None:
        data["systems"]["cloudflare"]["token_owner"] = owner

    edit_contract("environments/sandbox.yaml", configure)
    settings = {"contracts": Contracts.open(contracts_dir), "environment": "sandbox"}
    outcome = run(sb, "cloudflare.token.verify", *([fault] if fault else []), settings=settings)
    assert passed(outcome), outcome.message
    account = sb.credentials["cloudflare"]["account_id"]
    verified = [r.relative_path for r in sb.requests("cloudflare") if r.relative_path.endswith("/tokens/verify")]
    assert verified == [p.format(account=account) for p in paths]


def test_invalid_token_owner_is_a_schema_error(edit_contract: ContractEditor, contracts_dir: Path) -> None:
    """Rejects a token_owner outside auto, user and account when the environment file loads."""

    def configure(data: Any) -> None:
        data["systems"]["cloudflare"]["token_owner"] = "team"

    edit_contract("environments/sandbox.yaml", configure)
    doc = Contracts.open(contracts_dir).environment("sandbox")
    assert [f.render() for f in doc.errors if "token_owner" in f.render()] != []


def test_permission_limited_token_fails_the_posture_despite_the_fallback(sb: Sandbox) -> None:
    """Fails token.verify naming the refused permission and code 10000, while the fallback keeps the read green."""
    fault = "cloudflare:token_403@/accounts/*/registrar/*"
    outcome = run(sb, "cloudflare.token.verify", fault)
    assert (outcome.verdict, outcome.failure_class) == ("fail", "token_invalid")
    assert (
        "refused: Registrar Read (GET /accounts/{account_id}/registrar/registrations -> 403 10000 Authentication error)"
        in outcome.message
    )
    assert "the Global API Key fallback keeps these reads going" in outcome.message
    registrar = run(sb, "cloudflare.registrar.status")
    assert passed(registrar), registrar.message
    assert registrar.details["auth_fallback"] == ["GET /accounts/{account}/registrar/registrations"]
    assert any("fell back to the Global API Key" in w for w in registrar.warnings)


def test_permission_limited_token_without_global_key_fails_too(sb: Sandbox) -> None:
    """Fails the posture without a Global API Key as well, and does not mention a fallback it does not have."""
    outcome = run(sb, "cloudflare.token.verify", "cloudflare:token_403@/zones", api_email=None, api_key=None)
    assert (outcome.verdict, outcome.failure_class) == ("fail", "token_invalid")
    assert "refused: Zone Read (GET /zones -> 403 10000 Authentication error)" in outcome.message
    assert "fallback" not in outcome.message


def test_ip_restricted_token_fails_naming_9109(sb: Sandbox) -> None:
    """Fails token.verify with code 9109 for an IP-restricted token; the reads still pass through the fallback."""
    outcome = run(sb, "cloudflare.token.verify", "cloudflare:token_ip_restricted")
    assert (outcome.verdict, outcome.failure_class) == ("fail", "token_invalid")
    assert "9109 Cannot use the access token from location: 127.0.0.1" in outcome.message
    zones = run(sb, "cloudflare.zone.list")
    assert passed(zones)
    assert zones.details["auth_fallback"] == ["GET /zones"]


# -- zones and tunnels --------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["pending", "moved"])
def test_zone_not_active_fails_naming_zone_and_state(sb: Sandbox, status: str) -> None:
    """Fails zone.list as status_drift naming the inventory zone and its status; active zones pass."""
    assert passed(run(sb, "cloudflare.zone.list"))
    outcome = run(sb, "cloudflare.zone.list", f"cloudflare:zone_{status}@/zones/{EXAMPLE_COM}")
    assert (outcome.verdict, outcome.failure_class) == ("fail", "status_drift")
    assert outcome.message == (
        f"cloudflare.zone.list (cloudflare): expected every inventory zone active; zone example.com ({EXAMPLE_COM}) "
        f"is {status} [class status_drift]"
    )


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("down", "down (no connection to the Cloudflare edge)"),
        ("degraded", "degraded (serving, but a connector is unhealthy)"),
        ("inactive", "inactive (never run)"),
    ],
    ids=["down", "degraded", "inactive"],
)
def test_tunnel_not_healthy_fails_naming_tunnel_and_state(sb: Sandbox, status: str, state: str) -> None:
    """Fails tunnel.list as status_drift naming the inventory tunnel and its status; a healthy one passes."""
    assert passed(run(sb, "cloudflare.tunnel.list"))
    outcome = run(sb, "cloudflare.tunnel.list", f"cloudflare:tunnel_{status}")
    assert (outcome.verdict, outcome.failure_class) == ("fail", "status_drift")
    assert outcome.message == (
        f"cloudflare.tunnel.list (cloudflare): expected every inventory tunnel healthy; tunnel infra-core "
        f"({TUNNEL_ID}) is {state} [class status_drift]"
    )


# -- tunnel configuration -----------------------------------------------------------------------------------


@pytest.mark.parametrize("probe_id", ["cloudflare.tunnel.ingress.status", "cloudflare.inventory.sync"])
def test_local_tunnel_ingress_is_said_unreadable_not_drift(sb: Sandbox, probe_id: str) -> None:
    """Passes a locally managed tunnel (config null, source local; formerly schema_drift), saying it is unreadable."""
    outcome = run(sb, probe_id)
    assert passed(outcome), outcome.message
    assert outcome.details["not_readable"] == [
        "tunnel infra-core: ingress managed locally (source: local), not readable from the API; "
        "3 inventory hostname(s) not compared"
    ]
    assert "ingress managed locally (source: local), not readable from the API" in outcome.message


@pytest.mark.parametrize("probe_id", ["cloudflare.tunnel.ingress.status", "cloudflare.inventory.sync"])
def test_remote_tunnel_ingress_is_compared(sb: Sandbox, probe_id: str) -> None:
    """Compares a remotely managed tunnel's ingress with the inventory and passes when they match."""
    outcome = run(sb, probe_id, "cloudflare:tunnel_remote")
    assert passed(outcome), outcome.message
    assert "not_readable" not in outcome.details


@pytest.mark.parametrize("probe_id", ["cloudflare.tunnel.ingress.status", "cloudflare.inventory.sync"])
def test_remote_tunnel_not_configured_yet_is_named_not_schema_drift(sb: Sandbox, probe_id: str) -> None:
    """Fails a remote tunnel with config null as not configured yet (its hostnames missing), never schema_drift."""
    outcome = run(sb, probe_id, "cloudflare:tunnel_unconfigured")
    assert (outcome.verdict, outcome.failure_class) == ("fail", "inventory_drift")
    assert (
        "tunnel infra-core is managed remotely but not configured yet (config: null): "
        "MISSING_INGRESS auth.example.com, secrets.example.com, vault.example.com"
    ) in outcome.message


def test_configuration_without_config_or_source_is_still_schema_drift(sb: Sandbox) -> None:
    """Keeps catching a configuration that says neither config nor source (the drift fault drops both)."""
    outcome = run(
        sb, "cloudflare.tunnel.ingress.status", "cloudflare:tunnel_remote", "cloudflare:drift@*/configurations"
    )
    assert (outcome.verdict, outcome.failure_class) == ("fail", "schema_drift")


# -- registrar ----------------------------------------------------------------------------------------------


def test_registrar_reads_registrations_with_cursor_paging(sb: Sandbox) -> None:
    """Passes on the registrations listing (domain_name), following the cursor; never calls the retired endpoint."""
    client = client_of(sb)
    try:
        listing = client.registrar_registrations(per_page=1)
    finally:
        client.close()
    assert [r["domain_name"] for r in listing.items] == ["example.com", "example.org"]
    assert len(listing.pages) == 2
    outcome = run(sb, "cloudflare.registrar.status")
    assert passed(outcome)
    assert outcome.message == "cloudflare.registrar.status: ok (2 registrar registrations)"
    assert not any("/registrar/domains" in r.relative_path for r in sb.requests("cloudflare"))


def test_retired_registrar_domains_answer_404(sb: Sandbox) -> None:
    """Answers the retired /registrar/domains like a route the API no longer has: 404 code 7003."""
    client = client_of(sb)
    try:
        result = client.request("GET", f"/accounts/{sb.credentials['cloudflare']['account_id']}/registrar/domains")
    finally:
        client.close()
    assert (result.status, result.failure_class, result.detail) == (404, "http_404", "7003 No route for the URI")


def test_registrar_without_an_inventory_zone_fails_by_name() -> None:
    """Fails registrar.status as inventory_drift when a `registrar: true` zone has no registration."""
    seed = SandboxSeed.default()
    zones = tuple(replace(z, registrar=False) if z.name == "example.org" else z for z in seed.zones)
    with Sandbox(replace(seed, zones=zones)) as box:
        outcome = run(box, "cloudflare.registrar.status")
    assert (outcome.verdict, outcome.failure_class) == ("fail", "inventory_drift")
    assert outcome.message == (
        "cloudflare.registrar.status (cloudflare): expected the registrar to hold example.org; "
        "it holds ['example.com'] [class inventory_drift]"
    )


def test_registrations_that_drift_are_schema_drift(sb: Sandbox) -> None:
    """Fails registrar.status as schema_drift when registrations lose domain_name."""
    outcome = run(sb, "cloudflare.registrar.status", "cloudflare:drift@*/registrations")
    assert (outcome.verdict, outcome.failure_class) == ("fail", "schema_drift")


# -- end to end through the plugin --------------------------------------------------------------------------


def test_d315_fails_a_permission_limited_token_although_the_fallback_reads(pytester: pytest.Pytester) -> None:
    """Fails D315 on its token part only: the registrar read passes through the fallback, the posture does not."""
    (pytester.path / "conftest.py").write_text(PROJECT_CONFTEST)
    (pytester.path / "gates").mkdir()
    shutil.copy(SUITE_ROOT / "gates" / "test_gates.py", pytester.path / "gates" / "test_gates.py")
    shutil.copytree(SUITE_ROOT / "contracts", pytester.path / "contracts")
    pytester.makeini(f"[pytest]\naddopts = -p no:cacheprovider\ninfracore_contracts = {pytester.path / 'contracts'}\n")
    fault = "cloudflare:token_403@/accounts/*/registrar/*"
    result = pytester.runpytest_subprocess("--gate", "D315", "--sandbox-fault", fault, timeout=120)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "D315 FAIL: 1 of 5 part(s) failed [[]deterministic[]]",
            "  part cloudflare.token.verify FAIL: *refused: Registrar Read (GET /accounts/{account_id}/registrar/"
            "registrations -> 403 10000 Authentication error) (the Global API Key fallback keeps these reads going*",
        ]
    )


def test_drift_probe_notes_local_ingress_and_names_an_unconfigured_tunnel() -> None:
    """Passes the drift probe on a local tunnel (noted as unreadable), fails it on a remote one without config."""
    from tests.test_drift import probe_outcome

    local = probe_outcome(SandboxSeed.default(), {})
    assert passed(local), local.message
    assert "managed locally, not readable from the API: infra-core" in local.details["drift"]["markdown"]
    unconfigured = probe_outcome(SandboxSeed.default(), {}, "cloudflare:tunnel_unconfigured")
    assert (unconfigured.verdict, unconfigured.failure_class) == ("fail", "inventory_drift")
    assert (
        "cloudflare.ingress missing: auth.example.com (tunnel infra-core), secrets.example.com (tunnel infra-core), "
        "vault.example.com (tunnel infra-core)"
    ) in unconfigured.message
