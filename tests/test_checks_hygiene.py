"""D903 gap links, D906 environment targets and D900 schema validity on tiny contract files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_checks import Edit, OpenContracts, check_findings, gate_findings, swap, write_contracts

# D903 gap links; D149, D320 and the retired D3 come from the copied registry.

GAPS = "operational.gaps.yaml"
GAPF = f"contracts/{GAPS}"
GAPS_TEXT = """\
gaps:
  - {id: GAP-OP-1, discovered_by: "@operator", discovered_at: "2026-10-14", description: Registrar rows read http_000, severity: medium, type: runtime-bug, status: open, gate_ids: [D320]}
  - {id: GAP-OP-2, discovered_by: "@operator", discovered_at: "2026-11-02", description: Endpoint on the wrong host, severity: high, type: stale-ssot, status: fixed, regression_lock_id: D149}
"""


def test_d903_tiny_gaps_pass(contracts_dir: Path, open_contracts: OpenContracts) -> None:
    """Gaps that link registered gates (by gate_ids or regression_lock_id) pass D903."""
    write_contracts(contracts_dir, {GAPS: GAPS_TEXT})
    assert gate_findings(open_contracts(), "D903") == []


D903_CASES = [
    pytest.param(
        [Edit(GAPS, "status: open, gate_ids: [D320]}", "status: open}")],
        [f"{GAPF}:2 $.gaps[0]: open gap 'GAP-OP-1' links no gate; add gate_ids: [D...] naming the gates it affects"],
        id="open-gap-links-no-gate",
    ),
    pytest.param(
        [Edit(GAPS, "status: open, gate_ids: [D320]}", "status: accepted}")],
        [
            f"{GAPF}:2 $.gaps[0]: accepted gap 'GAP-OP-1' links no gate; add gate_ids: [D...] naming the gates it affects"
        ],
        id="accepted-gap-links-no-gate",
    ),
    pytest.param(
        [Edit(GAPS, "gate_ids: [D320]", "gate_ids: [D3200]")],
        [
            f"{GAPF}:2 $.gaps[0].gate_ids[0]: gap 'GAP-OP-1' links 'D3200', which is not a registered gate "
            "(did you mean 'D320'?); fix the id or register the gate"
        ],
        id="links-unknown-gate",
    ),
    pytest.param(
        [Edit(GAPS, "regression_lock_id: D149", "regression_lock_id: D1490")],
        [
            f"{GAPF}:3 $.gaps[1].regression_lock_id: gap 'GAP-OP-2' links 'D1490', which is not a registered gate "
            "(did you mean 'D149'?); fix the id or register the gate"
        ],
        id="regression-lock-unknown-gate",
    ),
    pytest.param(
        [Edit(GAPS, "gate_ids: [D320]", "gate_ids: [D3]")],
        [
            f"{GAPF}:2 $.gaps[0].gate_ids[0]: open gap 'GAP-OP-1' links retired gate 'D3'; link the gate that replaced it"
        ],
        id="open-gap-links-retired-gate",
    ),
    pytest.param(
        [Edit(GAPS, "{id: GAP-OP-2,", "{id: GAP-OP-1,")],
        [f"{GAPF}:3 $.gaps[1].id: gap id 'GAP-OP-1' is used twice (first at line 2); give each gap its own id"],
        id="duplicate-gap-id",
    ),
]


@pytest.mark.parametrize(("edits", "expected"), D903_CASES)
def test_d903_fails(contracts_dir: Path, open_contracts: OpenContracts, edits: list[Edit], expected: list[str]) -> None:
    """D903 reports open gaps that link no gate and links to unknown or retired gates."""
    write_contracts(contracts_dir, {GAPS: GAPS_TEXT}, edits)
    assert gate_findings(open_contracts(), "D903") == expected


# D906 environment targets.

SANDBOX = "environments/sandbox.yaml"
EXAMPLE = "environments/example.deployment.yaml"
SBX = f"contracts/{SANDBOX}"
EXM = f"contracts/{EXAMPLE}"
LOOPBACK_FIX = "use 'sandbox' or a 127.0.0.1 / ::1 address"
SANDBOX_URL = (
    "a kind: sandbox environment has no base URLs of its own, but this one is '{url}': the sandbox's credentials "
    "would be sent there while the output says 'not real infrastructure'; write base_url: sandbox (the suite gives "
    "each system its 127.0.0.1 sandbox address), or set kind: deployment for any other target"
)

ENVIRONMENT_FILES = {
    SANDBOX: """\
name: sandbox
kind: sandbox
credential_source: {type: env}
hosts:
  infra-core: {address: "127.0.0.1", transport: local}
systems:
  cloudflare: {base_url: sandbox, credentials: {api_token: {env: CLOUDFLARE_API_TOKEN}}}
  vaultwarden: {base_url: sandbox}
  infisical: {base_url: sandbox}
  authentik: {base_url: sandbox}
""",
    EXAMPLE: """\
name: example.deployment
kind: deployment
hosts:
  infra-core: {address: "<infra-core-host>", transport: ssh}
systems:
  cloudflare: {base_url: "https://api.cloudflare.com/client/v4", credentials: {api_token: {secret: /infra-core/CLOUDFLARE_API_TOKEN}}}
  vaultwarden: {base_url: "https://<vaultwarden-host>"}
""",
}


def test_d906_tiny_environments_pass(contracts_dir: Path, open_contracts: OpenContracts) -> None:
    """A loopback-only sandbox and a placeholder-only example with secret references pass D906."""
    write_contracts(contracts_dir, ENVIRONMENT_FILES)
    assert gate_findings(open_contracts(), "D906") == []


D906_CASES = [
    # Issue 9 item 17: a sandbox environment has no base URLs at all, loopback or not (the suite assigns them);
    # the environment file no longer loads, so D906 fails with the loader's finding.
    pytest.param(
        [Edit(SANDBOX, "vaultwarden: {base_url: sandbox}", 'vaultwarden: {base_url: "http://10.0.0.5:8081"}')],
        [f"{SBX}:8 $.systems.vaultwarden.base_url: {SANDBOX_URL.format(url='http://10.0.0.5:8081')}"],
        id="sandbox-url-not-loopback",
    ),
    pytest.param(
        [Edit(SANDBOX, "authentik: {base_url: sandbox}", 'authentik: {base_url: "http://localhost:9000"}')],
        [f"{SBX}:10 $.systems.authentik.base_url: {SANDBOX_URL.format(url='http://localhost:9000')}"],
        id="sandbox-url-loopback",
    ),
    pytest.param(
        [Edit(SANDBOX, 'address: "127.0.0.1"', 'address: "infra-core.lan"')],
        [f"{SBX}:5 $.hosts.infra-core.address: the sandbox environment points at 'infra-core.lan'; {LOOPBACK_FIX}"],
        id="sandbox-host-not-loopback",
    ),
    pytest.param(
        # Outside `credentials` the schema accepts any extra top-level key, so only D906 catches this one.
        [Edit(SANDBOX, "kind: sandbox\n", "kind: sandbox\nnotes: {admin_password: hunter2}\n")],
        [
            f"{SBX}:3 $.notes.admin_password: 'admin_password' holds a literal value (secrets never live in "
            "contracts); write {env: VARIABLE} or {secret: /path/KEY} instead"
        ],
        id="literal-secret-outside-credentials",
    ),
    pytest.param(
        [Edit(EXAMPLE, '"https://<vaultwarden-host>"', '"https://vault.example.org"')],
        [
            f"{EXM}:7 $.systems.vaultwarden.base_url: the example environment holds a real-looking address "
            "'https://vault.example.org'; use a placeholder such as <vaultwarden-host>"
        ],
        id="example-real-address",
    ),
    pytest.param(
        [Edit(SANDBOX, "name: sandbox\n", "name: sandbox-2\n")],
        [f"{SBX}:1 $.name: name 'sandbox-2' differs from the file name 'sandbox'; set name: sandbox"],
        id="name-differs-from-file",
    ),
]


@pytest.mark.parametrize(("edits", "expected"), D906_CASES)
def test_d906_fails(contracts_dir: Path, open_contracts: OpenContracts, edits: list[Edit], expected: list[str]) -> None:
    """D906 reports sandbox targets off loopback, real addresses in examples and literal secrets."""
    write_contracts(contracts_dir, ENVIRONMENT_FILES, edits)
    assert gate_findings(open_contracts(), "D906") == expected


LITERAL_TOKEN = Edit(SANDBOX, "{api_token: {env: CLOUDFLARE_API_TOKEN}}", '{api_token: "cf-live-1234"}')


def test_d906_literal_credential_caught_by_schema(contracts_dir: Path, open_contracts: OpenContracts) -> None:
    """A literal credential fails D906 with the JSON Schema finding (the schema catches it first)."""
    write_contracts(contracts_dir, ENVIRONMENT_FILES, [LITERAL_TOKEN])
    # The loader does not echo the value: it sits where a secret would.
    assert gate_findings(open_contracts(), "D906") == [
        f"{SBX}:7 $.systems.cloudflare.credentials.api_token: the value is a string, not a mapping; write a mapping "
        'here (A credential reference: exactly one of {env: VAR} or {secret: "/path/KEY"}; never a literal string)'
    ]


def test_d906_literal_credential_caught_by_gate(contracts_dir: Path, open_contracts: OpenContracts) -> None:
    """D906's own check also rejects a literal credential."""
    write_contracts(contracts_dir, ENVIRONMENT_FILES, [LITERAL_TOKEN])
    assert check_findings(open_contracts(), "D906") == [
        f"{SBX}:7 $.systems.cloudflare.credentials.api_token: 'api_token' holds a literal value (secrets never live "
        "in contracts); write {env: VARIABLE} or {secret: /path/KEY} instead"
    ]


# D900 schema validity.

# Each case writes one tiny broken file; every other contract is the shipped copy.
D900_CASES = [
    pytest.param(
        "services.health.yaml",
        'endpoints:\n  - {id: caddy, url: "http://infra-core:80/", enabled: "yes"}\n',
        "contracts/services.health.yaml:2 $.endpoints[0].enabled: 'yes' is a string, not a boolean; "
        "write a boolean here (Default true)",
        id="services.health.yaml",
    ),
    pytest.param(
        "gate.registry.yaml",
        "gate_count: {total: 1, active: 1, retired: 0}\n"
        "gates:\n  - {id: D85, name: gate-registry-parity-lock, gate_class: invariant, ring: fast}\n",
        "contracts/gate.registry.yaml:3 $.gates[0].ring: 'fast' is not an allowed value; "
        "use one of: instant, standard, deep, home",
        id="gate.registry.yaml",
    ),
    pytest.param(
        GAPS,
        swap(GAPS_TEXT, "gate_ids: [D320]", "gate_id: D320"),
        f"{GAPF}:2 $.gaps[0].gate_id: unknown key 'gate_id'; remove it or fix its spelling (did you mean 'gate_ids'?)",
        id="operational.gaps.yaml",
    ),
    pytest.param(
        "recovery.actions.yaml",
        "actions:\n"
        "  - id: alert-oncall\n"
        "    trigger: {gate_ids: [], manual_only: true}\n"
        "    recovery: {type: alert_only, capability: alerting.dispatch}\n"
        '    safety: {cooldown_seconds: "15m"}\n',
        "contracts/recovery.actions.yaml:5 $.actions[0].safety.cooldown_seconds: '15m' is a string, not an "
        "integer; write an integer here (Seconds between attempts)",
        id="recovery.actions.yaml",
    ),
    pytest.param(
        SANDBOX,
        swap(ENVIRONMENT_FILES[SANDBOX], "transport: local", "transport: docker"),
        f"{SBX}:5 $.hosts.infra-core.transport: 'docker' is not an allowed value; use one of: local, ssh",
        id="environments/sandbox.yaml",
    ),
]


@pytest.mark.parametrize(("file_name", "text", "finding"), D900_CASES)
def test_d900_reports_schema_violations(
    contracts_dir: Path, open_contracts: OpenContracts, file_name: str, text: str, finding: str
) -> None:
    """D900 reports a schema violation in any contract file with its file, line and YAML path."""
    write_contracts(contracts_dir, {file_name: text})
    assert gate_findings(open_contracts(), "D900") == [finding]
