"""End-to-end tests of the smoke layer with pytester: probes on the sandbox, faults, credentials, canary."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from infracore_verify.contracts.sets import SUITE_ROOT
from infracore_verify.sandbox import FaultSpec, Sandbox
from tests.conftest import PROJECT_CONFTEST

ALL_PROBES = [
    "cloudflare.token.verify",
    "cloudflare.zone.list",
    "cloudflare.dns.records",
    "cloudflare.tunnel.list",
    "cloudflare.tunnel.ingress.status",
    "cloudflare.registrar.status",
    "cloudflare.inventory.sync",
    "infra.core.drift",
    "vaultwarden.alive",
    "vaultwarden.version",
    "vaultwarden.config",
    "vaultwarden.revision.date",
    "infisical.status",
    "secrets.auth.status",
    "secrets.namespace.status",
    "authentik.health.live",
    "authentik.health.ready",
    "authentik.version",
    "authentik.user.self",
    "authentik.outposts.status",
]


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """Returns a pytester directory laid out like the project (both plugins, gates and smoke, contracts)."""
    (pytester.path / "conftest.py").write_text(PROJECT_CONFTEST)
    for folder in ("gates", "smoke"):
        (pytester.path / folder).mkdir()
        shutil.copy(SUITE_ROOT / folder / f"test_{folder}.py", pytester.path / folder / f"test_{folder}.py")
    shutil.copytree(SUITE_ROOT / "contracts", pytester.path / "contracts")
    pytester.makeini(f"[pytest]\naddopts = -p no:cacheprovider\ninfracore_contracts = {pytester.path / 'contracts'}\n")
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Runs pytest in a fresh subprocess, bounded."""
    return pytester.runpytest_subprocess(*args, timeout=120)


def receipt(pytester: pytest.Pytester) -> dict[str, Any]:
    """Returns the single receipt the run wrote."""
    [path] = [p for p in (pytester.path / "reports" / "receipts").glob("*.json") if not p.name.endswith(".drift.json")]
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_smoke_on_the_sandbox_passes_for_all_four_systems(suite: pytest.Pytester) -> None:
    """Runs every smoke capability of the baseline on the sandbox, says it is the sandbox, and records each probe."""
    result = run(suite, "-m", "smoke", "-v")
    result.assert_outcomes(passed=len(ALL_PROBES), deselected=19)
    result.stdout.fnmatch_lines(
        [
            "environment: sandbox: built-in sandbox emulation on 127.0.0.1 (not real infrastructure)",
            f"smoke: total={len(ALL_PROBES)} pass={len(ALL_PROBES)} fail=0 skipped=0",
            "failing_probes: none",
        ]
    )
    data = receipt(suite)
    assert data["environment"]["sandbox"] is True
    assert [p["id"] for p in data["probes"]] == ALL_PROBES
    assert {p["environment"] for p in data["probes"]} == {"sandbox"}
    assert {p["system"] for p in data["probes"]} == {"cloudflare", "vaultwarden", "infisical", "authentik"}


def test_injected_faults_name_system_probe_and_class(suite: pytest.Pytester) -> None:
    """Fails the affected probes with their system, probe id, expectation and class; the rest still pass."""
    result = run(
        suite,
        "-m",
        "smoke",
        "--sandbox-fault",
        "vaultwarden:down",
        "--sandbox-fault",
        "authentik:status=503@/-/health/ready/",
        "--sandbox-fault",
        "infisical:drift@/api/status",
        "--sandbox-fault",
        "cloudflare:malformed_json@/user/tokens/verify",
    )
    result.assert_outcomes(passed=13, failed=7, deselected=19)
    result.stdout.fnmatch_lines(
        [
            "cloudflare.token.verify (cloudflare): expected GET /user/tokens/verify -> 2xx; got * parse_error *",
            "vaultwarden.alive (vaultwarden): expected GET /alive -> 200 with a date-time; got GET /alive -> "
            "no response network_error after 1 attempt*[[]class network_error[]]",
            "infisical.status (infisical): expected GET /api/status to match "
            "contracts/schemas/api/infisical.status.schema.json; got $: missing required key 'message' [[]class schema_drift[]]",
            "authentik.health.ready (authentik): expected GET /-/health/ready/ -> 200 or 204; got *503* (not ready)*",
        ]
    )
    failing = {p["id"]: p["failure_class"] for p in receipt(suite)["probes"] if p["verdict"] == "fail"}
    assert failing == {
        "cloudflare.token.verify": "parse_error",
        "vaultwarden.alive": "network_error",
        "vaultwarden.version": "network_error",
        "vaultwarden.config": "network_error",
        "vaultwarden.revision.date": "network_error",
        "infisical.status": "schema_drift",
        "authentik.health.ready": "api_error",
    }


def test_probe_selection_and_unknown_probe(suite: pytest.Pytester) -> None:
    """Runs only the probes named by --probe and rejects an unknown id with the closest one."""
    result = run(suite, "--probe", "vaultwarden.alive,authentik.version", "-v")
    result.assert_outcomes(passed=2, deselected=19)
    bad = run(suite, "--probe", "vaultwarden.aliv", "-m", "smoke")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(
        ["ERROR: --probe vaultwarden.aliv: no such smoke probe (did you mean 'vaultwarden.alive'?); known: *"]
    )


def test_bad_fault_spec_is_a_usage_error(suite: pytest.Pytester) -> None:
    """Rejects a malformed --sandbox-fault with the allowed kinds, before anything runs."""
    result = run(suite, "-m", "smoke", "--sandbox-fault", "vaultwarden:explode")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --sandbox-fault vaultwarden:explode: *explode*"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_live_gates_run_through_the_same_clients(suite: pytest.Pytester) -> None:
    """Passes D315 and D55 on the sandbox and fails D315 naming the failing probe part and its class."""
    run(suite, "-m", "live", "-v").assert_outcomes(passed=3, deselected=36)
    failing = run(suite, "--gate", "D315", "--sandbox-fault", "cloudflare:rate_limit@/zones*")
    failing.assert_outcomes(failed=1)
    # cloudflare.token.verify asks Zone Read with the token (GET /zones), so the rate limit stops it too.
    failing.stdout.fnmatch_lines(
        [
            "D315 FAIL: 3 of 5 part(s) failed [[]deterministic[]]",
            "  part cloudflare.token.verify FAIL: *GET /zones -> 429 rate_limited* [[]rate_limited[]]",
            "  part cloudflare.zone.list FAIL: *429 rate_limited* [[]rate_limited[]]",
            "  part cloudflare.inventory.sync FAIL: *429 rate_limited* [[]rate_limited[]]",
        ]
    )


def deployment_env(contracts: Path, name: str, data: dict[str, Any]) -> None:
    """Writes an environment file into the copied contract set."""
    (contracts / "environments" / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


def test_missing_credential_is_a_setup_error_naming_the_variable(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fails (never skips) a probe whose credential is missing, naming the variable and the YAML path."""
    monkeypatch.delenv("AK_TOKEN_FOR_TEST", raising=False)
    deployment_env(
        suite.path / "contracts",
        "staging",
        {
            "name": "staging",
            "kind": "deployment",
            "credential_source": {"type": "env"},
            "systems": {
                "authentik": {
                    "base_url": "http://127.0.0.1:9",
                    "credentials": {"api_token": {"env": "AK_TOKEN_FOR_TEST"}},
                }
            },
        },
    )
    result = run(suite, "--env", "staging", "--probe", "authentik.version")
    result.assert_outcomes(failed=1, deselected=19)
    result.stdout.fnmatch_lines(
        [
            "authentik.version (authentik): cannot run: *environments/staging.yaml $.systems.authentik.credentials.api_token: "
            "environment variable AK_TOKEN_FOR_TEST is not set; set the variable (or store the secret) and run again,"
            " never a literal value [[]class setup_error[]]",
            "environment: staging: deployment",
        ]
    )


@pytest.fixture
def external_sandbox() -> Iterator[Sandbox]:
    """Starts a sandbox in this process that a pytester subprocess reaches as a 'real' deployment on 127.0.0.1."""
    box = Sandbox()
    box.start()
    yield box
    box.stop()


def sandbox_deployment(box: Sandbox, source: dict[str, Any], refs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Returns a deployment environment that points at `box`, with the given credential source and references."""
    return {
        "name": "lab",
        "kind": "deployment",
        "credential_source": source,
        "systems": {
            system: {"base_url": box.base_urls[system], "credentials": refs[system], "limits": {"max_attempts": 2}}
            for system in ("cloudflare", "vaultwarden", "infisical", "authentik")
        },
    }


def test_infisical_as_the_credential_source(
    suite: pytest.Pytester, external_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Logs in to Infisical with the machine identity and fetches the other systems' credentials from it."""
    creds = external_sandbox.credentials
    monkeypatch.setenv("LAB_INFISICAL_ID", creds["infisical"]["client_id"])
    monkeypatch.setenv("LAB_INFISICAL_SECRET", creds["infisical"]["client_secret"])
    monkeypatch.setenv("LAB_INFISICAL_PROJECT", creds["infisical"]["project_id"])
    source = {
        "type": "infisical",
        "system": "infisical",
        "project_id": creds["infisical"]["project_id"],
        "environment": "prod",
        "path": "/infra-core",
        "identity": {"client_id": {"env": "LAB_INFISICAL_ID"}, "client_secret": {"env": "LAB_INFISICAL_SECRET"}},
    }
    refs = {
        "cloudflare": {
            "api_token": {"secret": "/infra-core/CLOUDFLARE_API_TOKEN"},
            "account_id": {"secret": "/infra-core/CLOUDFLARE_ACCOUNT_ID"},
        },
        "vaultwarden": {},
        "infisical": {
            "client_id": {"env": "LAB_INFISICAL_ID"},
            "client_secret": {"env": "LAB_INFISICAL_SECRET"},
            "project_id": {"env": "LAB_INFISICAL_PROJECT"},
        },
        "authentik": {"api_token": {"secret": "/infra-core/AUTHENTIK_API_TOKEN"}},
    }
    deployment_env(suite.path / "contracts", "lab", sandbox_deployment(external_sandbox, source, refs))
    result = run(suite, "--env", "lab", "-m", "smoke")
    result.assert_outcomes(passed=len(ALL_PROBES), deselected=19)
    result.stdout.fnmatch_lines(["environment: lab: deployment"])
    logins = [r for r in external_sandbox.requests("infisical") if r.path.endswith("/universal-auth/login")]
    assert logins  # the credential fetch and the probes logged in with the machine identity
    secret_reads = [r for r in external_sandbox.requests("infisical") if r.path == "/api/v3/secrets/raw"]
    assert any(r.query.get("secretPath") == ["/infra-core"] for r in secret_reads)


def test_canary_secret_never_reaches_any_artifact(
    suite: pytest.Pytester, external_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keeps every planted credential out of the terminal, JUnit, Allure and the receipt while probes fail."""
    creds = external_sandbox.credentials
    names = {
        ("cloudflare", "api_token"): "CANARY_CF_TOKEN",
        ("cloudflare", "api_email"): "CANARY_CF_EMAIL",
        ("cloudflare", "api_key"): "CANARY_CF_KEY",
        ("cloudflare", "account_id"): "CANARY_CF_ACCOUNT",
        ("vaultwarden", "client_id"): "CANARY_VW_ID",
        ("vaultwarden", "client_secret"): "CANARY_VW_SECRET",
        ("infisical", "client_id"): "CANARY_INF_ID",
        ("infisical", "client_secret"): "CANARY_INF_SECRET",
        ("infisical", "project_id"): "CANARY_INF_PROJECT",
        ("authentik", "api_token"): "CANARY_AK_TOKEN",
    }
    refs: dict[str, dict[str, Any]] = {s: {} for s in ("cloudflare", "vaultwarden", "infisical", "authentik")}
    for (system, name), variable in names.items():
        monkeypatch.setenv(variable, creds[system][name])
        refs[system][name] = {"env": variable}
    deployment_env(suite.path / "contracts", "lab", sandbox_deployment(external_sandbox, {"type": "env"}, refs))
    planted = [creds[s][n] for (s, n) in names if n not in ("account_id", "project_id", "client_id", "api_email")]
    # Failures that put credentials on the wire and in responses: token refused (fallback to the global key),
    # 5xx and drift on authenticated endpoints, and the login path failing after the secret was sent.
    for spec in (
        FaultSpec("cloudflare", "token_401"),
        FaultSpec("cloudflare", "status", 500, path="/zones*"),
        FaultSpec("authentik", "status", 500, path="/api/v3/core/users/me/"),
        FaultSpec("authentik", "drift", path="/api/v3/admin/version/"),
        FaultSpec("infisical", "status", 502, path="/api/v3/secrets/raw"),
    ):
        external_sandbox.inject(spec)
    result = run(
        suite,
        "--env",
        "lab",
        "-m",
        "smoke or live",
        "-vv",
        "--tb=long",
        "-rA",
        "--log-level=DEBUG",
        f"--junitxml={suite.path / 'junit.xml'}",
        f"--alluredir={suite.path / 'allure'}",
    )
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] >= 5
    output = result.stdout.str() + result.stderr.str()
    leaks = [secret for secret in planted if secret in output]
    assert leaks == []
    artifacts = [
        p
        for p in suite.path.rglob("*")
        if p.is_file() and not {"contracts", "gates", "smoke", "__pycache__"} & set(p.parts)
    ]
    assert {"junit.xml"} <= {p.name for p in artifacts}
    assert any(p.match("reports/receipts/*.json") for p in artifacts)
    assert any(p.suffix == ".json" and "allure" in p.parts for p in artifacts)
    leaked = sorted(str(p.relative_to(suite.path)) for p in artifacts for s in planted if s.encode() in p.read_bytes())
    assert leaked == []
    # The fallback really happened, so the Global API Key was on the wire and still never in the output.
    assert any(r.header("X-Auth-Key") for r in external_sandbox.requests("cloudflare"))


def test_placeholder_base_url_is_a_setup_error_and_never_resolved(suite: pytest.Pytester) -> None:
    """Refuses to call a system whose base_url is still a template placeholder (no DNS lookup, no request)."""
    deployment_env(
        suite.path / "contracts",
        "template",
        {
            "name": "template",
            "kind": "deployment",
            "credential_source": {"type": "env"},
            "systems": {"vaultwarden": {"base_url": "https://<vaultwarden-host>", "credentials": {}}},
        },
    )
    result = run(suite, "--env", "template", "--probe", "vaultwarden.alive")
    result.assert_outcomes(failed=1, deselected=19)
    result.stdout.fnmatch_lines(
        [
            "vaultwarden.alive (vaultwarden): cannot run: systems.vaultwarden.base_url is still the placeholder "
            "'https://<vaultwarden-host>'; set the real URL [[]class setup_error[]]"
        ]
    )
