"""D320 baseline contract, D149 service parity, D901 recovery bindings and D902 system presence on tiny files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_checks import Edit, OpenContracts, check_findings, gate_findings, write_contracts

REGISTRY = "gate.registry.yaml"
BASELINE = "infra.core.baseline.contract.yaml"
RECOVERY = "recovery.actions.yaml"
SLO = "infra.core.slo.yaml"
HEALTH = "services.health.yaml"
BASE = f"contracts/{BASELINE}"
REC = f"contracts/{RECOVERY}"
SLOF = f"contracts/{SLO}"
HLTH = f"contracts/{HEALTH}"

# Trigger gates and capabilities come from the copied registry and capabilities.yaml (D149, D320,
# cloudflare.zone.list, vaultwarden.alive, infisical.status, authentik.health.live, alerting.dispatch).
BASELINE_FILES = {
    BASELINE: """\
systems:
  cloudflare:
    authority: "@operator"
    lifecycle_requirements: {smoke_capabilities: [cloudflare.zone.list]}
    self_heal: {recovery_action_id: recover-cloudflare, recovery_type: capability_retry, trigger_gate_ids: [D320]}
    auth_posture: {preferred_mode: token}
  vaultwarden:
    authority: "@operator"
    lifecycle_requirements: {smoke_capabilities: [vaultwarden.alive]}
    self_heal: {recovery_action_id: recover-vaultwarden, recovery_type: docker_compose_restart, trigger_gate_ids: [D149]}
    auth_posture: {preferred_mode: unauthenticated probes}
  infisical:
    authority: "@operator"
    lifecycle_requirements: {smoke_capabilities: [infisical.status]}
    self_heal: {recovery_action_id: recover-infisical, recovery_type: docker_compose_restart, trigger_gate_ids: [D149]}
    auth_posture: {preferred_mode: universal_auth}
  authentik:
    authority: "@operator"
    lifecycle_requirements: {smoke_capabilities: [authentik.health.live]}
    self_heal: {recovery_action_id: recover-authentik, recovery_type: docker_compose_restart, trigger_gate_ids: [D149]}
    auth_posture: {preferred_mode: api_token}
""",
    RECOVERY: """\
actions:
  - id: recover-cloudflare
    trigger: {gate_ids: [D320]}
    recovery: {type: capability_retry, capability: cloudflare.zone.list, max_attempts: 2, backoff_seconds: [60, 300]}
  - id: recover-vaultwarden
    trigger: {gate_ids: [D149], probe_ids: [vaultwarden.alive]}
    recovery: {type: docker_compose_restart, target: infra-core, stack: vaultwarden}
  - id: recover-infisical
    trigger: {gate_ids: [D149]}
    recovery: {type: docker_compose_restart, target: infra-core, stack: infisical}
  - id: recover-authentik
    trigger: {gate_ids: [D149]}
    recovery: {type: docker_compose_restart, target: infra-core, stack: authentik}
  - id: alert-oncall
    trigger: {gate_ids: [], manual_only: true}
    recovery: {type: alert_only, capability: alerting.dispatch}
    safety: {max_attempts: 0, cooldown_seconds: 900, escalate_after_failures: 1}
""",
    SLO: """\
target:
  host: infra-core
  required_service_ids: [caddy, authentik, vaultwarden, infisical]
  optional_service_ids: [pihole]
""",
    HEALTH: """\
endpoints:
  - {id: caddy, host: infra-core, url: "http://infra-core:80/", expect: 200, enabled: true}
  - {id: authentik, host: infra-core, url: "http://infra-core:9000/-/health/live/", expect: "200,204"}
  - {id: vaultwarden, host: infra-core, url: "http://infra-core:8081/alive"}
  - {id: infisical, host: infra-core, url: "http://infra-core:8088/api/status", expect: 200}
  - {id: pihole, host: infra-core, url: "http://infra-core:8053/admin/", expect: 302, enabled: false}
""",
}

CF_RETRY = (
    "recovery: {type: capability_retry, capability: cloudflare.zone.list, max_attempts: 2, backoff_seconds: [60, 300]}"
)
VW_HEAL = "recovery_action_id: recover-vaultwarden, recovery_type: docker_compose_restart, trigger_gate_ids: [D149]"
VW_ENDPOINT = '{id: vaultwarden, host: infra-core, url: "http://infra-core:8081/alive"}'


@pytest.mark.parametrize("gate_id", ["D320", "D149", "D901", "D902"])
def test_tiny_baseline_passes(contracts_dir: Path, open_contracts: OpenContracts, gate_id: str) -> None:
    """The tiny baseline, recovery actions, SLO and health endpoints pass every infra-core gate."""
    write_contracts(contracts_dir, BASELINE_FILES)
    assert gate_findings(open_contracts(), gate_id) == []


# D320 baseline contract lock.

MISMATCH_FIX = "make recovery_type equal the action's recovery.type"

D320_CASES = [
    pytest.param(
        [Edit(RECOVERY, CF_RETRY, "recovery: {type: capability_rerun, capabilities: [cloudflare.zone.list]}")],
        [
            f"{REC}:4 $.actions[0].recovery.type: unsupported legacy recovery type 'capability_rerun' in action "
            "'recover-cloudflare'; convert it to one capability_retry action per capability",
            f"{BASE}:5 $.systems.cloudflare.self_heal.recovery_type: cloudflare: contract/binding recovery type "
            f"mismatch (contract 'capability_retry', action 'recover-cloudflare' has 'capability_rerun'); {MISMATCH_FIX}",
        ],
        id="capability-rerun-in-binding",
    ),
    pytest.param(
        [Edit(BASELINE, "recovery_type: capability_retry", "recovery_type: capability_rerun")],
        [
            f"{BASE}:5 $.systems.cloudflare.self_heal.recovery_type: cloudflare: unsupported legacy recovery type "
            "'capability_rerun'; convert it to one capability_retry action per capability",
            f"{BASE}:5 $.systems.cloudflare.self_heal.recovery_type: cloudflare: contract/binding recovery type "
            f"mismatch (contract 'capability_rerun', action 'recover-cloudflare' has 'capability_retry'); {MISMATCH_FIX}",
        ],
        id="capability-rerun-in-contract",
    ),
    pytest.param(
        [Edit(BASELINE, VW_HEAL, VW_HEAL.replace("docker_compose_restart", "launchd_restart"))],
        [
            f"{BASE}:10 $.systems.vaultwarden.self_heal.recovery_type: vaultwarden: contract/binding recovery type "
            f"mismatch (contract 'launchd_restart', action 'recover-vaultwarden' has 'docker_compose_restart'); {MISMATCH_FIX}"
        ],
        id="recovery-type-mismatch",
    ),
    pytest.param(
        [Edit(BASELINE, VW_HEAL, VW_HEAL.replace("docker_compose_restart", "docker_restart"))],
        [
            f"{BASE}:10 $.systems.vaultwarden.self_heal.recovery_type: vaultwarden: recovery_type 'docker_restart' is "
            "not supported (did you mean 'docker_compose_restart'?); use one of: docker_compose_restart, "
            "capability_retry, alert_only, launchd_restart, capability_commit",
            f"{BASE}:10 $.systems.vaultwarden.self_heal.recovery_type: vaultwarden: contract/binding recovery type "
            f"mismatch (contract 'docker_restart', action 'recover-vaultwarden' has 'docker_compose_restart'); {MISMATCH_FIX}",
        ],
        id="recovery-type-unsupported",
    ),
    pytest.param(
        [Edit(RECOVERY, "backoff_seconds: [60, 300]", "backoff_seconds: []")],
        [
            f"{REC}:4 $.actions[0].recovery.backoff_seconds: cloudflare: capability_retry has no backoff_seconds; "
            "set backoff_seconds: [60, 300]"
        ],
        id="retry-empty-backoff",
    ),
    pytest.param(
        [Edit(RECOVERY, "max_attempts: 2, backoff_seconds", "max_attempts: 0, backoff_seconds")],
        [
            f"{REC}:4 $.actions[0].recovery.max_attempts: cloudflare: capability_retry max_attempts is 0, not an "
            "integer >= 1; set max_attempts: 2"
        ],
        id="retry-max-attempts-zero",
    ),
    pytest.param(
        [Edit(BASELINE, "recovery_action_id: recover-infisical,", "recovery_action_id: recover-infisicl,")],
        [
            f"{BASE}:15 $.systems.infisical.self_heal.recovery_action_id: infisical: recovery action "
            "'recover-infisicl' does not exist in recovery.actions.yaml (did you mean 'recover-infisical'?); "
            "add the action or fix the id"
        ],
        id="missing-action",
    ),
    pytest.param(
        [Edit(BASELINE, VW_HEAL, VW_HEAL.replace("[D149]", "[D149, D1490]"))],
        [
            f"{BASE}:10 $.systems.vaultwarden.self_heal.trigger_gate_ids[1]: vaultwarden: trigger gate 'D1490' is not "
            "registered (did you mean 'D149'?); register it or fix the id",
            f"{BASE}:10 $.systems.vaultwarden.self_heal.trigger_gate_ids: vaultwarden: trigger gate 'D1490' is not a "
            "trigger of action 'recover-vaultwarden' (its triggers: D149); make self_heal.trigger_gate_ids and the "
            "action's trigger.gate_ids agree",
        ],
        id="trigger-gate-not-registered",
    ),
    pytest.param(
        # The ops gate never compared the contract's trigger ids with the action's.
        [Edit(BASELINE, "trigger_gate_ids: [D320]", "trigger_gate_ids: [D320, D149]")],
        [
            f"{BASE}:5 $.systems.cloudflare.self_heal.trigger_gate_ids: cloudflare: trigger gate 'D149' is not a "
            "trigger of action 'recover-cloudflare' (its triggers: D320); make self_heal.trigger_gate_ids and the "
            "action's trigger.gate_ids agree"
        ],
        id="trigger-not-among-action-triggers",
    ),
    pytest.param(
        [Edit(RECOVERY, "trigger: {gate_ids: [D320]}", "trigger: {gate_ids: []}")],
        [
            f"{REC}:3 $.actions[0].trigger: cloudflare: action 'recover-cloudflare' has no trigger gate ids (the ops "
            "dispatcher treats that as every gate); set trigger.gate_ids: [D320]"
        ],
        id="action-wildcard-trigger",
    ),
    pytest.param(
        [Edit(BASELINE, VW_HEAL, VW_HEAL + ", failure_class: freshness")],
        [
            f"{BASE}:10 $.systems.vaultwarden.self_heal.failure_class: vaultwarden: failure_class 'freshness' differs "
            "from action 'recover-vaultwarden' ('deterministic'); make the two failure classes agree"
        ],
        id="failure-class-mismatch",
    ),
    pytest.param(
        [
            Edit(
                BASELINE,
                '"@operator"\n    lifecycle_requirements: {smoke_capabilities: [cloudflare',
                '"null"\n    lifecycle_requirements: {smoke_capabilities: [cloudflare',
            )
        ],
        [
            f"{BASE}:2 $.systems.cloudflare: cloudflare: authority is empty; set authority (who owns this system, "
            "e.g. '@operator')"
        ],
        id="authority-null",
    ),
    pytest.param(
        [Edit(SLO, "[caddy, authentik, vaultwarden, infisical]", "[caddy, authentik, vaultwarden]")],
        [
            f"{SLOF}:3 $.target.required_service_ids: the SLO lists 3 required services, fewer than 4; list the "
            "infra-core services (caddy, authentik, vaultwarden, infisical, cloudflared)"
        ],
        id="slo-too-few-services",
    ),
]


@pytest.mark.parametrize(("edits", "expected"), D320_CASES)
def test_d320_fails(contracts_dir: Path, open_contracts: OpenContracts, edits: list[Edit], expected: list[str]) -> None:
    """D320 reports legacy recovery types, type and trigger drift between contract and binding, and retry gaps."""
    write_contracts(contracts_dir, BASELINE_FILES, edits)
    assert gate_findings(open_contracts(), "D320") == expected


def test_d320_ignores_capability_rerun_in_comments(contracts_dir: Path, open_contracts: OpenContracts) -> None:
    """D320 reads the parsed data, so a comment mentioning capability_rerun passes (the ops grep failed it)."""
    note = "# capability_rerun was converted to one capability_retry per capability\n"
    edits = [Edit(RECOVERY, "actions:\n", note + "actions:\n"), Edit(BASELINE, "systems:\n", note + "systems:\n")]
    write_contracts(contracts_dir, BASELINE_FILES, edits)
    assert gate_findings(open_contracts(), "D320") == []


STRING_POSTURE = Edit(BASELINE, "auth_posture: {preferred_mode: token}", "auth_posture: token")


def test_d320_string_auth_posture_caught_by_schema(contracts_dir: Path, open_contracts: OpenContracts) -> None:
    """A string auth_posture fails D320 with the JSON Schema finding (the schema catches it first)."""
    write_contracts(contracts_dir, BASELINE_FILES, [STRING_POSTURE])
    assert gate_findings(open_contracts(), "D320") == [
        f"{BASE}:6 $.systems.cloudflare.auth_posture: 'token' is a string, not a mapping; write a mapping here "
        "(Auth posture: a non-empty map (preferred_mode, contract_rule, ...))"
    ]


def test_d320_string_auth_posture_caught_by_gate(contracts_dir: Path, open_contracts: OpenContracts) -> None:
    """D320's own check also rejects a string auth_posture (the ops gate passed any non-empty value)."""
    write_contracts(contracts_dir, BASELINE_FILES, [STRING_POSTURE])
    assert check_findings(open_contracts(), "D320") == [
        f"{BASE}:6 $.systems.cloudflare.auth_posture: cloudflare: auth_posture must be a non-empty mapping; "
        "describe preferred_mode and contract_rule as keys"
    ]


# D149 service parity: the SLO and health endpoints above.

D149_CASES = [
    pytest.param(
        # The ops gate's `(.enabled // true)` turned false into true, so this could never fail there.
        [Edit(HEALTH, VW_ENDPOINT, VW_ENDPOINT.replace("}", ", enabled: false}"))],
        [
            f"{HLTH}:4 $.endpoints[2].enabled: required service 'vaultwarden' is disabled (enabled: false); "
            "enable it, or move it to optional_service_ids"
        ],
        id="required-service-disabled",
    ),
    pytest.param(
        [
            Edit(
                HEALTH,
                "expect: 302, enabled: false}\n",
                'expect: 302, enabled: false}\n  - {id: caddy, host: infra-core, url: "http://infra-core:8080/"}\n',
            )
        ],
        [
            f"{HLTH}:7 $.endpoints[5].id: endpoint id 'caddy' is defined twice (first at line 2, which wins); "
            "remove or rename the second entry"
        ],
        id="duplicate-endpoint-id",
    ),
    pytest.param(
        [Edit(HEALTH, VW_ENDPOINT, VW_ENDPOINT.replace("host: infra-core", "host: infra-core-2"))],
        [
            f"{HLTH}:4 $.endpoints[2].host: endpoint 'vaultwarden' runs on host 'infra-core-2', but the SLO target "
            "host is 'infra-core'; set host: infra-core"
        ],
        id="host-mismatch",
    ),
    pytest.param(
        [Edit(HEALTH, "{id: infisical,", "{id: infisical-api,")],
        [
            f"{SLOF}:3 $.target.required_service_ids: required service 'infisical' has no endpoint in "
            "services.health.yaml (did you mean 'infisical-api'?); add an endpoint with id: infisical"
        ],
        id="missing-endpoint",
    ),
    pytest.param(
        [Edit(HEALTH, "{id: pihole,", "{id: pi-hole,")],
        [
            f"{SLOF}:4 $.target.optional_service_ids: optional service 'pihole' has no endpoint in "
            "services.health.yaml (did you mean 'pi-hole'?); add an endpoint with id: pihole"
        ],
        id="missing-optional-endpoint",
    ),
    pytest.param(
        [Edit(SLO, "[caddy, authentik, vaultwarden, infisical]", "[caddy, authentik, vaultwarden, infisical, caddy]")],
        [f"{SLOF}:3 $.target.required_service_ids: service 'caddy' is listed 2 times; list each service once"],
        id="duplicate-required-service",
    ),
    pytest.param(
        [Edit(HEALTH, 'url: "http://infra-core:8081/alive"', 'url: "http://"')],
        [
            f"{HLTH}:4 $.endpoints[2].url: endpoint 'vaultwarden' has no http(s) URL ('http://'); set url: http://<host>:<port>/<path>"
        ],
        id="url-without-host",
    ),
]


@pytest.mark.parametrize(("edits", "expected"), D149_CASES)
def test_d149_fails(contracts_dir: Path, open_contracts: OpenContracts, edits: list[Edit], expected: list[str]) -> None:
    """D149 reports SLO services without one enabled endpoint on the target host, with a URL and a status."""
    write_contracts(contracts_dir, BASELINE_FILES, edits)
    assert gate_findings(open_contracts(), "D149") == expected


INFISICAL_EXPECT = '"http://infra-core:8088/api/status", expect: 200'


def test_d149_bad_expect_caught_by_schema(contracts_dir: Path, open_contracts: OpenContracts) -> None:
    """An expect that is no HTTP status fails D149 with the JSON Schema finding (the schema catches it first)."""
    write_contracts(
        contracts_dir, BASELINE_FILES, [Edit(HEALTH, INFISICAL_EXPECT, INFISICAL_EXPECT.replace("200", "2.5"))]
    )
    assert gate_findings(open_contracts(), "D149") == [
        f"{HLTH}:5 $.endpoints[3].expect: 2.5 is a number, not an integer; write an integer here"
    ]


def test_d149_bad_expect_caught_by_gate(contracts_dir: Path, open_contracts: OpenContracts) -> None:
    """D149's own check also rejects an expect that is no HTTP status (the ops default hid a missing one)."""
    write_contracts(
        contracts_dir, BASELINE_FILES, [Edit(HEALTH, INFISICAL_EXPECT, INFISICAL_EXPECT.replace("200", "999"))]
    )
    assert check_findings(open_contracts(), "D149") == [
        f"{HLTH}:5 $.endpoints[3].expect: endpoint 'infisical' expects 999, not an HTTP status or comma list of "
        'them; write e.g. 200 or "401,403"'
    ]


# D902 system presence: a registry of its own, so that coverage by systems lists can be switched off.

PRESENCE_REGISTRY = """\
gate_count: {total: 2, active: 1, retired: 1}
gates:
  - {id: D5, name: retired-presence-gate, gate_class: invariant, ring: deep, retired: true, systems: [authentik]}
  - {id: D902, name: infra-core-system-presence-lock, gate_class: invariant, ring: instant, systems: [cloudflare, vaultwarden, infisical, authentik]}
"""
ALL_SYSTEMS = "systems: [cloudflare, vaultwarden, infisical, authentik]}"

D902_CASES = [
    pytest.param(
        # The trigger gates D149 and D320 are not in this registry, and the retired D5 does not count.
        [Edit(REGISTRY, ALL_SYSTEMS, "systems: [cloudflare, vaultwarden, infisical]}")],
        [
            f"{BASE}:17 $.systems.authentik: system 'authentik' has no gate; add 'authentik' to the systems list of a "
            "gate in gate.registry.yaml (or a trigger gate to self_heal)"
        ],
        id="system-without-gate",
    ),
    pytest.param(
        [
            Edit(REGISTRY, ALL_SYSTEMS, "systems: [cloudflare, vaultwarden, infisical]}"),
            Edit(
                BASELINE,
                "recovery_action_id: recover-authentik, recovery_type: docker_compose_restart, trigger_gate_ids: [D149]",
                "recovery_action_id: recover-authentik, recovery_type: docker_compose_restart, trigger_gate_ids: [D902]",
            ),
        ],
        [],
        id="system-covered-by-trigger-gate",
    ),
    pytest.param(
        [Edit(BASELINE, "{smoke_capabilities: [authentik.health.live]}", "{smoke_capabilities: []}")],
        [
            f"{BASE}:19 $.systems.authentik.lifecycle_requirements: system 'authentik' lists no smoke capability; "
            "list at least one in lifecycle_requirements.smoke_capabilities"
        ],
        id="no-smoke-capability",
    ),
    pytest.param(
        [Edit(BASELINE, "[authentik.health.live]", "[authentik.health.lve]")],
        [
            f"{BASE}:19 $.systems.authentik.lifecycle_requirements.smoke_capabilities[0]: smoke capability "
            "'authentik.health.lve' of authentik is not declared in capabilities.yaml (did you mean "
            "'authentik.health.live'?); declare it in capabilities.yaml or fix the name"
        ],
        id="smoke-capability-not-declared",
    ),
]


@pytest.mark.parametrize(("edits", "expected"), D902_CASES)
def test_d902_fails(contracts_dir: Path, open_contracts: OpenContracts, edits: list[Edit], expected: list[str]) -> None:
    """D902 reports a baseline system without an active gate or without declared smoke capabilities."""
    write_contracts(contracts_dir, {**BASELINE_FILES, REGISTRY: PRESENCE_REGISTRY}, edits)
    assert gate_findings(open_contracts(), "D902") == expected


# D901 recovery bindings: the recovery actions above, checked on their own.

VW_TRIGGER = "trigger: {gate_ids: [D149], probe_ids: [vaultwarden.alive]}"
VW_RESTART = "recovery: {type: docker_compose_restart, target: infra-core, stack: vaultwarden}"
ALERT_TRIGGER = "trigger: {gate_ids: [], manual_only: true}"

D901_CASES = [
    pytest.param(
        [Edit(RECOVERY, ALERT_TRIGGER, "trigger: {gate_ids: []}")],
        [
            f"{REC}:15 $.actions[4].trigger: action 'alert-oncall' has an empty trigger list, which the ops dispatcher "
            "treats as a wildcard for every gate; list the trigger gate_ids, or set trigger.manual_only: true"
        ],
        id="empty-trigger-without-manual-only",
    ),
    pytest.param(
        [Edit(RECOVERY, ALERT_TRIGGER, "trigger: {gate_ids: [D149], manual_only: true}")],
        [
            f"{REC}:15 $.actions[4].trigger.manual_only: action 'alert-oncall' is manual_only but lists triggers; "
            "drop manual_only or the triggers"
        ],
        id="manual-only-with-triggers",
    ),
    pytest.param(
        [Edit(RECOVERY, VW_TRIGGER, VW_TRIGGER.replace("[D149]", "[D149, D999]"))],
        [
            f"{REC}:6 $.actions[1].trigger.gate_ids[1]: 'D999' is not a registered gate (did you mean 'D909'?); add it "
            "to gate.registry.yaml or remove it from the trigger"
        ],
        id="unregistered-trigger-gate",
    ),
    pytest.param(
        [Edit(RECOVERY, VW_TRIGGER, VW_TRIGGER.replace("[D149]", "[D149, D3]"))],
        [f"{REC}:6 $.actions[1].trigger.gate_ids[1]: trigger gate 'D3' is retired; remove it from the trigger"],
        id="retired-trigger-gate",
    ),
    pytest.param(
        [Edit(RECOVERY, VW_TRIGGER, VW_TRIGGER.replace("vaultwarden.alive", "vaultwarden.aliv"))],
        [
            f"{REC}:6 $.actions[1].trigger.probe_ids[0]: trigger probe 'vaultwarden.aliv' is not a capability "
            "(did you mean 'vaultwarden.alive'?); declare it in capabilities.yaml or remove it"
        ],
        id="unknown-trigger-probe",
    ),
    pytest.param(
        [Edit(RECOVERY, VW_RESTART, VW_RESTART.replace("docker_compose_restart", "docker_compose_restrt"))],
        [
            f"{REC}:7 $.actions[1].recovery.type: action 'recover-vaultwarden' has unsupported recovery type "
            "'docker_compose_restrt' (did you mean 'docker_compose_restart'?); use one of: docker_compose_restart, "
            "capability_retry, alert_only, launchd_restart, capability_commit"
        ],
        id="unsupported-type",
    ),
    pytest.param(
        [Edit(RECOVERY, CF_RETRY, "recovery: {type: capability_rerun, capabilities: [cloudflare.zone.list]}")],
        [
            f"{REC}:4 $.actions[0].recovery.type: action 'recover-cloudflare' uses unsupported legacy recovery type "
            "'capability_rerun'; convert it to one capability_retry action per capability"
        ],
        id="capability-rerun",
    ),
    pytest.param(
        [Edit(RECOVERY, "capability: cloudflare.zone.list, max_attempts", "max_attempts")],
        [
            f"{REC}:4 $.actions[0].recovery: capability_retry action 'recover-cloudflare' has no capability; "
            "set recovery.capability"
        ],
        id="retry-without-capability",
    ),
    pytest.param(
        [Edit(RECOVERY, "max_attempts: 2, backoff_seconds: [60, 300]", "max_attempts: 0, backoff_seconds: []")],
        [
            f"{REC}:4 $.actions[0].recovery.max_attempts: action 'recover-cloudflare': capability_retry max_attempts "
            "is 0, not an integer >= 1; set max_attempts: 2",
            f"{REC}:4 $.actions[0].recovery.backoff_seconds: action 'recover-cloudflare': capability_retry has no "
            "backoff_seconds; set backoff_seconds: [60, 300]",
        ],
        id="retry-without-attempts-or-backoff",
    ),
    pytest.param(
        [Edit(RECOVERY, VW_RESTART, VW_RESTART.replace(", stack: vaultwarden", ""))],
        [
            f"{REC}:7 $.actions[1].recovery: docker_compose_restart action 'recover-vaultwarden' has no stack; set recovery.stack"
        ],
        id="restart-without-stack",
    ),
    pytest.param(
        [Edit(RECOVERY, "capability: alerting.dispatch}", "capability: alerting.dispatchh}")],
        [
            f"{REC}:16 $.actions[4].recovery.capability: capability 'alerting.dispatchh' of action 'alert-oncall' is "
            "not declared (did you mean 'alerting.dispatch'?); declare it in capabilities.yaml or fix the name"
        ],
        id="missing-capability",
    ),
    pytest.param(
        [Edit(RECOVERY, "cooldown_seconds: 900", "cooldown_seconds: -5")],
        [
            f"{REC}:17 $.actions[4].safety.cooldown_seconds: safety.cooldown_seconds is -5, not an integer >= 0; "
            "set a whole number >= 0"
        ],
        id="negative-cooldown",
    ),
    pytest.param(
        [Edit(RECOVERY, "escalate_after_failures: 1}", "escalate_after_failures: 0}")],
        [
            f"{REC}:17 $.actions[4].safety.escalate_after_failures: safety.escalate_after_failures is 0, not an "
            "integer >= 1; set a whole number >= 1"
        ],
        id="escalate-after-zero",
    ),
    pytest.param(
        [
            Edit(
                RECOVERY,
                "escalate_after_failures: 1}\n",
                "escalate_after_failures: 1}\ndefaults: {cooldown_seconds: -1}\n",
            )
        ],
        [
            f"{REC}:18 $.defaults.cooldown_seconds: defaults.cooldown_seconds is -1, not an integer >= 0; "
            "set a whole number >= 0"
        ],
        id="negative-default-cooldown",
    ),
    pytest.param(
        [Edit(RECOVERY, "- id: recover-infisical", "- id: recover-vaultwarden")],
        [
            f"{REC}:8 $.actions[2].id: action id 'recover-vaultwarden' is defined twice (first at line 5); "
            "rename or remove one"
        ],
        id="duplicate-action-id",
    ),
]


@pytest.mark.parametrize(("edits", "expected"), D901_CASES)
def test_d901_fails(contracts_dir: Path, open_contracts: OpenContracts, edits: list[Edit], expected: list[str]) -> None:
    """D901 reports wildcard or unknown triggers, unsupported types, missing fields and bad safety numbers."""
    write_contracts(contracts_dir, BASELINE_FILES, edits)
    assert gate_findings(open_contracts(), "D901") == expected
