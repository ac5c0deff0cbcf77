"""D127 domain-assignment drift, D904 ring policy and D905 profile resolution on tiny contract files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_checks import Edit, OpenContracts, check_findings, gate_findings, write_contracts

REGISTRY = "gate.registry.yaml"
TOPOLOGY = "gate.execution.topology.yaml"
DOMAIN_PROFILES = "gate.domain.profiles.yaml"
AGENT_PROFILES = "gate.agent.profiles.yaml"
RING_POLICY = "verify.ring.policy.yaml"
RUN_PROFILES = "verify.run.profile.contract.yaml"

TOPO = f"contracts/{TOPOLOGY}"
REG = f"contracts/{REGISTRY}"
PROF = f"contracts/{DOMAIN_PROFILES}"
RING = f"contracts/{RING_POLICY}"
RUN = f"contracts/{RUN_PROFILES}"

TOPOLOGY_FILES = {
    REGISTRY: """\
gate_count: {total: 4, active: 3, retired: 1}
gates:
  - {id: D1, name: retired-gate, gate_class: invariant, ring: instant, retired: true}
  - {id: D127, name: domain-assignment-drift-lock, gate_class: invariant, ring: instant}
  - {id: D10, name: infra-gate, gate_class: invariant, ring: standard}
  - {id: D20, name: verify-gate, gate_class: freshness, ring: deep}
""",
    TOPOLOGY: """\
core_mode:
  core_gate_ids: [D127]
  core_count_limit: 1
domain_metadata:
  - {domain_id: core}
  - {domain_id: infra}
  - {domain_id: verify}
gate_assignments:
  - {gate_id: D127, primary_domain: core}
  - {gate_id: D10, primary_domain: infra}
  - {gate_id: D20, primary_domain: verify, secondary_domains: [core]}
release_sequence: [core, infra, verify]
validation_rules:
  require_primary_domain_for_all_active_gates: true
  reject_undefined_domain_refs: true
  require_release_sequence_coverage: true
""",
    DOMAIN_PROFILES: """\
domains:
  core: {gate_ids: [D127]}
  infra: {gate_ids: [D10]}
  verify: {gate_ids: [D20]}
""",
    RING_POLICY: """\
rings: [instant, standard, deep]
budgets_seconds:
  instant: 5
  standard: 60
  deep: 300
assignment_policy:
  core_gates: instant
  domain_pack_gates: standard
  release_only_or_non_pack_active_gates: deep
""",
    RUN_PROFILES: """\
profiles:
  fast:
    ring: instant
    domains:
      - {domain: core, classes: [invariant]}
  domain:
    ring: standard
    include_core_base: true
    core_base: {domain: core, classes: [invariant]}
    target: {classes: [invariant, freshness]}
""",
}

D10_ROW = "  - {gate_id: D10, primary_domain: infra}\n"
D20_ROW = "  - {gate_id: D20, primary_domain: verify, secondary_domains: [core]}\n"


@pytest.mark.parametrize("gate_id", ["D127", "D904", "D905"])
def test_tiny_topology_passes(contracts_dir: Path, open_contracts: OpenContracts, gate_id: str) -> None:
    """The tiny registry, topology, profiles and ring policy pass every topology gate."""
    write_contracts(contracts_dir, TOPOLOGY_FILES)
    assert gate_findings(open_contracts(), gate_id) == []


D127_CASES = [
    pytest.param(
        [Edit(TOPOLOGY, D10_ROW, "")],
        [
            f"{TOPO}:8 $.gate_assignments: active gate 'D10' missing assignment in topology; "
            "add '{gate_id: D10, primary_domain: <domain>}' to gate_assignments"
        ],
        id="active-gate-without-assignment",
    ),
    pytest.param(
        [Edit(TOPOLOGY, D10_ROW, D10_ROW + "  - {gate_id: D10, primary_domain: verify}\n")],
        [
            f"{TOPO}:8 $.gate_assignments: active gate 'D10' assigned multiple times in topology (count=2); "
            "keep exactly one gate_assignments row per gate"
        ],
        id="gate-assigned-twice",
    ),
    pytest.param(
        [Edit(TOPOLOGY, D20_ROW, D20_ROW + "  - {gate_id: D200, primary_domain: verify}\n")],
        [
            f"{TOPO}:12 $.gate_assignments[3].gate_id: assignment of 'D200', which is not in the gate registry "
            "(did you mean 'D20'?); register the gate in gate.registry.yaml or remove this row"
        ],
        id="unknown-gate-assigned",
    ),
    pytest.param(
        [Edit(TOPOLOGY, D20_ROW, D20_ROW + "  - {gate_id: D1, primary_domain: core}\n")],
        [
            f"{TOPO}:12 $.gate_assignments[3].gate_id: assignment of retired gate 'D1'; "
            "remove this row (retired gates never run)"
        ],
        id="retired-gate-assigned",
    ),
    pytest.param(
        [Edit(TOPOLOGY, "primary_domain: infra}", "primary_domain: infr}")],
        [
            f"{TOPO}:10 $.gate_assignments[1].primary_domain: 'infr' is not a domain in domain_metadata "
            "(did you mean 'infra'?); define it in domain_metadata or use one of: core, infra, verify"
        ],
        id="undefined-primary-domain",
    ),
    pytest.param(
        [Edit(TOPOLOGY, "secondary_domains: [core]", "secondary_domains: [cor]")],
        [
            f"{TOPO}:11 $.gate_assignments[2].secondary_domains[0]: 'cor' is not a domain in domain_metadata "
            "(did you mean 'core'?); define it in domain_metadata or use one of: core, infra, verify"
        ],
        id="undefined-secondary-domain",
    ),
    pytest.param(
        [Edit(TOPOLOGY, "primary_domain: infra}", 'primary_domain: ""}')],
        [
            f"{TOPO}:10 $.gate_assignments[1]: gate_assignments row for 'D10' has no primary_domain; "
            "set one of: core, infra, verify"
        ],
        id="empty-primary-domain",
    ),
    pytest.param(
        [Edit(TOPOLOGY, "core_count_limit: 1", "core_count_limit: 2")],
        [
            f"{TOPO}:3 $.core_mode.core_count_limit: core gate count mismatch: expected 2 got 1; "
            "set core_count_limit to 1 or change core_gate_ids"
        ],
        id="core-count-limit-mismatch",
    ),
    pytest.param(
        # The ops gate counted the duplicate toward the limit and passed this.
        [Edit(TOPOLOGY, "[D127]\n  core_count_limit: 1", "[D127, D127]\n  core_count_limit: 2")],
        [
            f"{TOPO}:2 $.core_mode.core_gate_ids[1]: core gate 'D127' is listed 2 times; remove the repeated entries",
            f"{TOPO}:3 $.core_mode.core_count_limit: core gate count mismatch: expected 2 got 1; "
            "set core_count_limit to 1 or change core_gate_ids",
        ],
        id="duplicate-core-id",
    ),
    pytest.param(
        [Edit(TOPOLOGY, "[D127]\n  core_count_limit: 1", "[D127, D128]\n  core_count_limit: 2")],
        [
            f"{TOPO}:2 $.core_mode.core_gate_ids[1]: core gate 'D128' is not registered (did you mean 'D127'?); "
            "register it or remove it from the core set"
        ],
        id="core-gate-not-registered",
    ),
    pytest.param(
        [Edit(TOPOLOGY, "[D127]\n  core_count_limit: 1", "[D127, D1]\n  core_count_limit: 2")],
        [f"{TOPO}:2 $.core_mode.core_gate_ids[1]: core gate 'D1' is retired; remove it from the core set"],
        id="core-gate-retired",
    ),
    pytest.param(
        [Edit(TOPOLOGY, "release_sequence: [core, infra, verify]", "release_sequence: [core, infra]")],
        [f"{TOPO}:12 $.release_sequence: release_sequence lacks domain 'verify'; add 'verify' to release_sequence"],
        id="release-sequence-misses-domain",
    ),
    pytest.param(
        [Edit(TOPOLOGY, "release_sequence: [core, infra, verify]", "release_sequence: [core, infra, verify, home]")],
        [
            f"{TOPO}:12 $.release_sequence[3]: release_sequence names undefined domain 'home'; "
            "use one of: core, infra, verify"
        ],
        id="release-sequence-undefined-domain",
    ),
    pytest.param(
        [Edit(DOMAIN_PROFILES, "infra: {gate_ids: [D10]}", "infra: {gate_ids: [D10, D11]}")],
        [
            f"{PROF}:3 $.domains.infra.gate_ids[1]: 'D11' is not a registered gate; register it or remove it from the profile"
        ],
        id="profile-gate-not-registered",
    ),
    pytest.param(
        [Edit(DOMAIN_PROFILES, "infra: {gate_ids: [D10]}", "infr: {gate_ids: [D10]}")],
        [
            f"{PROF}:3 $.domains.infr: domain profile 'infr' is not a topology domain (did you mean 'infra'?); "
            "rename it to one of: core, infra, verify, or define it in domain_metadata"
        ],
        id="profile-domain-undefined",
    ),
]


@pytest.mark.parametrize(("edits", "expected"), D127_CASES)
def test_d127_fails(contracts_dir: Path, open_contracts: OpenContracts, edits: list[Edit], expected: list[str]) -> None:
    """D127 reports each topology drift at the line and YAML path where it is."""
    write_contracts(contracts_dir, TOPOLOGY_FILES, edits)
    assert gate_findings(open_contracts(), "D127") == expected


RULE_CASES = [
    pytest.param(
        "require_release_sequence_coverage",
        Edit(TOPOLOGY, "release_sequence: [core, infra, verify]", "release_sequence: [core, infra]"),
        f"{TOPO}:12 $.release_sequence: release_sequence lacks domain 'verify'; add 'verify' to release_sequence",
        id="require_release_sequence_coverage",
    ),
    pytest.param(
        "reject_undefined_domain_refs",
        Edit(TOPOLOGY, "release_sequence: [core, infra, verify]", "release_sequence: [core, infra, verify, home]"),
        f"{TOPO}:12 $.release_sequence[3]: release_sequence names undefined domain 'home'; "
        "use one of: core, infra, verify",
        id="reject_undefined_domain_refs",
    ),
    pytest.param(
        "require_primary_domain_for_all_active_gates",
        Edit(TOPOLOGY, D10_ROW, "  # D10 is not assigned\n"),
        f"{TOPO}:8 $.gate_assignments: active gate 'D10' missing assignment in topology; "
        "add '{gate_id: D10, primary_domain: <domain>}' to gate_assignments",
        id="require_primary_domain_for_all_active_gates",
    ),
]


@pytest.mark.parametrize("enabled", [True, False], ids=["rule-on", "rule-off"])
@pytest.mark.parametrize(("rule", "violation", "finding"), RULE_CASES)
def test_d127_validation_rules_switch(
    contracts_dir: Path,
    open_contracts: OpenContracts,
    rule: str,
    violation: Edit,
    finding: str,
    enabled: bool,
) -> None:
    """A validation rule set to false really switches its check off (the ops `false // true` never did)."""
    switch = Edit(TOPOLOGY, f"{rule}: true", f"{rule}: {str(enabled).lower()}")
    write_contracts(contracts_dir, TOPOLOGY_FILES, [violation, switch])
    assert gate_findings(open_contracts(), "D127") == ([finding] if enabled else [])


def test_d127_pack_profile_domain_undefined(contracts_dir: Path, open_contracts: OpenContracts) -> None:
    """D127 rejects a pack profile (gate.agent.profiles.yaml) that names an undefined domain."""
    # The suite ships no schema for this optional file, and without one it cannot load at all; the set's
    # own schemas/ directory is searched first, so a permissive schema lets the gate read it.
    (contracts_dir / "schemas" / "gate.agent.profiles.schema.json").write_text('{"type": "object"}', encoding="utf-8")
    files = {**TOPOLOGY_FILES, AGENT_PROFILES: "profiles:\n  - {agent_id: infra-operator, domains: [core, infar]}\n"}
    write_contracts(contracts_dir, files)
    assert gate_findings(open_contracts(), "D127") == [
        f"contracts/{AGENT_PROFILES}:2 $.profiles[0].domains[1]: pack profile domain 'infar' is not a topology "
        "domain; use one of: core, infra, verify"
    ]


D904_CASES = [
    pytest.param(
        [
            Edit(
                REGISTRY,
                "name: infra-gate, gate_class: invariant, ring: standard",
                "name: infra-gate, gate_class: invariant, ring: home",
            )
        ],
        [
            f"{REG}:5 $.gates[2].ring: gate 'D10' uses ring 'home', which the ring policy does not define; "
            "use one of: instant, standard, deep"
        ],
        id="gate-ring-home",
    ),
    pytest.param(
        [
            Edit(
                REGISTRY,
                "drift-lock, gate_class: invariant, ring: instant",
                "drift-lock, gate_class: invariant, ring: standard",
            )
        ],
        [
            f"{REG}:4 $.gates[1].ring: core gate 'D127' has ring 'standard', but core gates must be instant; "
            "set ring: instant or take the gate out of core_mode.core_gate_ids"
        ],
        id="core-gate-not-instant",
    ),
    pytest.param(
        [Edit(RING_POLICY, "standard: 60", "standard: 90")],
        [
            f"{RING}:4 $.budgets_seconds.standard: ring 'standard' has a budget of 90s, not the 60s the ring "
            "contract requires; set budgets_seconds.standard: 60"
        ],
        id="budget-changed",
    ),
    pytest.param(
        [Edit(RING_POLICY, "instant: 5", "instant: 0")],
        [
            f"{RING}:3 $.budgets_seconds.instant: ring 'instant' has a budget of 0s, not the 5s the ring "
            "contract requires; set budgets_seconds.instant: 5"
        ],
        id="budget-zero",
    ),
    pytest.param(
        [Edit(RING_POLICY, "  deep: 300\n", "")],
        [f"{RING}:2 $.budgets_seconds: ring 'deep' has no budget; set budgets_seconds.deep: 300"],
        id="budget-missing",
    ),
    pytest.param(
        [Edit(RING_POLICY, "rings: [instant, standard, deep]", "rings: [instant, standard]")],
        [
            f"{RING}:1 $.rings: rings are [instant, standard], not [instant, standard, deep]; "
            "write rings: [instant, standard, deep]"
        ],
        id="ring-missing",
    ),
    pytest.param(
        [Edit(RING_POLICY, "core_gates: instant", "core_gates: standard")],
        [
            f"{RING}:7 $.assignment_policy.core_gates: assignment_policy.core_gates is 'standard', not 'instant'; "
            "set assignment_policy.core_gates: instant"
        ],
        id="assignment-policy-wrong",
    ),
    pytest.param(
        [Edit(RING_POLICY, "  domain_pack_gates: standard\n", "")],
        [
            f"{RING}:6 $.assignment_policy: assignment_policy.domain_pack_gates is missing; "
            "set assignment_policy.domain_pack_gates: standard"
        ],
        id="assignment-policy-missing",
    ),
]


@pytest.mark.parametrize(("edits", "expected"), D904_CASES)
def test_d904_fails(contracts_dir: Path, open_contracts: OpenContracts, edits: list[Edit], expected: list[str]) -> None:
    """D904 reports unknown rings, non-instant core gates and ring policy values other than the ops ones."""
    write_contracts(contracts_dir, TOPOLOGY_FILES, edits)
    assert gate_findings(open_contracts(), "D904") == expected


EMPTY_DOMAIN = Edit(TOPOLOGY, "  - {domain_id: verify}\n", "  - {domain_id: verify}\n  - {domain_id: empty}\n")

D905_CASES = [
    pytest.param(
        # With the core base (the default) the domain still resolves to D127, which hid this before.
        [EMPTY_DOMAIN],
        [
            f"{TOPO}:8 $.domain_metadata[3]: domain 'empty' has no active gate of the target classes "
            "(invariant, freshness), so its domain run only repeats the core base; "
            "assign gates of those classes to it in gate_assignments, or remove the domain"
        ],
        id="domain-without-gates",
    ),
    pytest.param(
        [EMPTY_DOMAIN, Edit(RUN_PROFILES, "include_core_base: true", "include_core_base: false")],
        [
            f"{TOPO}:8 $.domain_metadata[3]: domain 'empty' has no active gate of the target classes "
            "(invariant, freshness), so its domain run selects no gate; "
            "assign gates of those classes to it in gate_assignments, or remove the domain"
        ],
        id="domain-without-gates-no-core-base",
    ),
    pytest.param(
        [Edit(RUN_PROFILES, "target: {classes: [invariant, freshness]}", "target: {classes: [invariant]}")],
        [
            f"{TOPO}:7 $.domain_metadata[2]: domain 'verify' has no active gate of the target classes "
            "(invariant), so its domain run only repeats the core base; "
            "assign gates of those classes to it in gate_assignments, or remove the domain"
        ],
        id="domain-gates-of-other-classes",
    ),
    pytest.param(
        [
            Edit(
                RUN_PROFILES,
                "{domain: core, classes: [invariant]}\n  domain:",
                "{domain: core, classes: [freshness]}\n  domain:",
            )
        ],
        [
            f"{TOPO}:2 $.core_mode.core_gate_ids: the fast profile resolves to no gate (core_mode.core_gate_ids "
            "has no active gate of the classes in profiles.fast.domains); add active gates of those classes to "
            "the core set"
        ],
        id="fast-profile-empty",
    ),
    pytest.param(
        [
            Edit(
                RUN_PROFILES,
                "{domain: core, classes: [invariant]}\n  domain:",
                "{domain: infr, classes: [invariant]}\n  domain:",
            )
        ],
        [
            f"{RUN}:5 $.profiles.fast.domains[0].domain: fast profile domain 'infr' is not a topology domain; "
            "use core or a domain from domain_metadata",
            f"{TOPO}:2 $.core_mode.core_gate_ids: the fast profile resolves to no gate (core_mode.core_gate_ids "
            "has no active gate of the classes in profiles.fast.domains); add active gates of those classes to "
            "the core set",
        ],
        id="fast-profile-undefined-domain",
    ),
]


@pytest.mark.parametrize(("edits", "expected"), D905_CASES)
def test_d905_fails(contracts_dir: Path, open_contracts: OpenContracts, edits: list[Edit], expected: list[str]) -> None:
    """D905 reports a profile or a domain that selects no gate of its own."""
    write_contracts(contracts_dir, TOPOLOGY_FILES, edits)
    assert gate_findings(open_contracts(), "D905") == expected


def test_d905_domain_profile_fallback_passes(contracts_dir: Path, open_contracts: OpenContracts) -> None:
    """A domain without topology assignments passes when gate.domain.profiles.yaml lists gates for it."""
    edits = [
        Edit(TOPOLOGY, "  - {domain_id: verify}\n", "  - {domain_id: verify}\n  - {domain_id: extra}\n"),
        Edit(
            DOMAIN_PROFILES,
            "  verify: {gate_ids: [D20]}\n",
            "  verify: {gate_ids: [D20]}\n  extra: {gate_ids: [D10]}\n",
        ),
    ]
    write_contracts(contracts_dir, TOPOLOGY_FILES, edits)
    assert gate_findings(open_contracts(), "D905") == []


UNKNOWN_CLASS = Edit(
    RUN_PROFILES, "target: {classes: [invariant, freshness]}", "target: {classes: [invariant, freshnes]}"
)


def test_d905_unknown_class_caught_by_schema(contracts_dir: Path, open_contracts: OpenContracts) -> None:
    """An unknown gate class in a profile fails D905 with the JSON Schema finding (the schema catches it first)."""
    write_contracts(contracts_dir, TOPOLOGY_FILES, [UNKNOWN_CLASS])
    assert gate_findings(open_contracts(), "D905") == [
        f"{RUN}:10 $.profiles.domain.target.classes[1]: 'freshnes' is not an allowed value (did you mean "
        "'freshness'?); use one of: invariant, freshness, advisory, observational, parity"
    ]


def test_d905_unknown_class_caught_by_gate(contracts_dir: Path, open_contracts: OpenContracts) -> None:
    """D905's own check also rejects an unknown class in a profile, should the schema ever allow it."""
    write_contracts(contracts_dir, TOPOLOGY_FILES, [UNKNOWN_CLASS])
    assert check_findings(open_contracts(), "D905") == [
        f"{RUN}:10 $.profiles.domain.target.classes: 'freshnes' is not a gate class (did you mean 'freshness'?); "
        "use one of: invariant, freshness, advisory, observational, parity",
        f"{TOPO}:7 $.domain_metadata[2]: domain 'verify' has no active gate of the target classes "
        "(invariant, freshnes), so its domain run only repeats the core base; "
        "assign gates of those classes to it in gate_assignments, or remove the domain",
    ]
