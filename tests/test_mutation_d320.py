"""D320 cases that kill mutmut's survivors (issue 8, item 4); see bench/MUTATION.md.

The tiny baseline of tests/test_checks_infra.py, edited so that one gap shows: a missing authority, auth
posture, action id or recovery type, failure classes set on both sides, triggers listed by several gates, a
`systems` that is not a mapping, and the ops layout's smoke runner. Where the JSON Schema would report the gap
first, D320's own check is called (`check_findings`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from infracore_verify.contracts.sets import Contracts
from tests.test_checks import Edit, OpenContracts, check_findings, gate_findings, write_contracts
from tests.test_checks_infra import BASE, BASELINE, BASELINE_FILES, REC, RECOVERY, VW_HEAL

VW_ACTION = "trigger: {gate_ids: [D149], probe_ids: [vaultwarden.alive]}"
CF_AUTHORITY = '"@operator"\n    lifecycle_requirements: {smoke_capabilities: [cloudflare'
CF_POSTURE = "    auth_posture: {preferred_mode: token}\n"
SMOKE_RUNNER = "ops/runtime/infra-core-smoke.sh"


def findings(contracts_dir: Path, open_contracts: OpenContracts, *edits: Edit) -> list[str]:
    """D320's own findings on the tiny baseline with `edits` applied."""
    write_contracts(contracts_dir, BASELINE_FILES, edits)
    return check_findings(open_contracts(), "D320")


def test_d320_missing_authority(contracts_dir: Path, open_contracts: OpenContracts) -> None:
    """A system without an authority key is reported like an empty one."""
    got = findings(
        contracts_dir, open_contracts, Edit(BASELINE, CF_AUTHORITY, CF_AUTHORITY.replace('"@operator"', '""'))
    )
    assert got == [
        f"{BASE}:2 $.systems.cloudflare: cloudflare: authority is empty; set authority (who owns this system, "
        "e.g. '@operator')"
    ]


def test_d320_missing_auth_posture_points_at_the_system(contracts_dir: Path, open_contracts: OpenContracts) -> None:
    """Without an auth_posture key the finding points at the system (there is no key to point at)."""
    got = findings(contracts_dir, open_contracts, Edit(BASELINE, CF_POSTURE, ""))
    assert got == [
        f"{BASE}:2 $.systems.cloudflare: cloudflare: auth_posture must be a non-empty mapping; "
        "describe preferred_mode and contract_rule as keys"
    ]


def test_d320_self_heal_without_action_id(contracts_dir: Path, open_contracts: OpenContracts) -> None:
    """A self_heal block naming no recovery action is one finding; no binding to a made-up action is checked."""
    got = findings(
        contracts_dir,
        open_contracts,
        Edit(BASELINE, VW_HEAL, VW_HEAL.replace("recovery_action_id: recover-vaultwarden, ", "")),
    )
    assert got == [
        f"{BASE}:10 $.systems.vaultwarden.self_heal: vaultwarden: self_heal.recovery_action_id is not set; "
        "name the action in recovery.actions.yaml"
    ]


def test_d320_self_heal_without_recovery_type(contracts_dir: Path, open_contracts: OpenContracts) -> None:
    """A missing recovery_type is reported at self_heal as unsupported, and not as a mismatch with the action."""
    got = findings(
        contracts_dir,
        open_contracts,
        Edit(BASELINE, VW_HEAL, VW_HEAL.replace("recovery_type: docker_compose_restart, ", "")),
    )
    assert len(got) == 1
    assert got[0].startswith(
        f"{BASE}:10 $.systems.vaultwarden.self_heal: vaultwarden: recovery_type '' is not supported"
    )


def test_d320_action_without_recovery_type_is_no_type_mismatch(
    contracts_dir: Path, open_contracts: OpenContracts
) -> None:
    """An action whose recovery has no type is D901's business: D320 reports no type mismatch for it."""
    got = findings(
        contracts_dir,
        open_contracts,
        Edit(
            RECOVERY,
            "recovery: {type: docker_compose_restart, target: infra-core, stack: vaultwarden}",
            "recovery: {target: infra-core, stack: vaultwarden}",
        ),
    )
    assert got == []


@pytest.mark.parametrize(
    ("action_class", "expected"),
    [
        pytest.param("freshness", [], id="agree"),
        pytest.param(
            "deterministic",
            [
                f"{BASE}:10 $.systems.vaultwarden.self_heal.failure_class: vaultwarden: failure_class 'freshness' "
                "differs from action 'recover-vaultwarden' ('deterministic'); make the two failure classes agree"
            ],
            id="differ",
        ),
    ],
)
def test_d320_failure_class_set_on_both_sides(
    contracts_dir: Path, open_contracts: OpenContracts, action_class: str, expected: list[str]
) -> None:
    """The action's own trigger.failure_class is what the contract's is compared with."""
    write_contracts(
        contracts_dir,
        BASELINE_FILES,
        [
            Edit(BASELINE, VW_HEAL, VW_HEAL + ", failure_class: freshness"),
            Edit(RECOVERY, VW_ACTION, VW_ACTION.replace("}", f", failure_class: {action_class}}}")),
        ],
    )
    assert gate_findings(open_contracts(), "D320") == expected


def test_d320_trigger_lists_name_every_gate(contracts_dir: Path, open_contracts: OpenContracts) -> None:
    """The fix for a wildcard action lists all the system's trigger gates; a stray trigger names all of the action's."""
    two = VW_HEAL.replace("trigger_gate_ids: [D149]", "trigger_gate_ids: [D149, D320]")
    got = findings(
        contracts_dir,
        open_contracts,
        Edit(BASELINE, VW_HEAL, two),
        Edit(RECOVERY, VW_ACTION, "trigger: {gate_ids: [], probe_ids: [vaultwarden.alive]}"),
    )
    assert got == [
        f"{REC}:6 $.actions[1].trigger: vaultwarden: action 'recover-vaultwarden' has no trigger gate ids (the ops "
        "dispatcher treats that as every gate); set trigger.gate_ids: [D149, D320]"
    ]
    got = findings(
        contracts_dir,
        open_contracts,
        Edit(BASELINE, VW_HEAL, VW_HEAL.replace("trigger_gate_ids: [D149]", "trigger_gate_ids: [D85]")),
        Edit(RECOVERY, VW_ACTION, "trigger: {gate_ids: [D149, D320], probe_ids: [vaultwarden.alive]}"),
    )
    assert got[-1] == (
        f"{BASE}:10 $.systems.vaultwarden.self_heal.trigger_gate_ids: vaultwarden: trigger gate 'D85' is not a "
        "trigger of action 'recover-vaultwarden' (its triggers: D149, D320); make self_heal.trigger_gate_ids and "
        "the action's trigger.gate_ids agree"
    )


@pytest.mark.parametrize(
    "text", ["systems: [cloudflare, vaultwarden]\n", "- cloudflare\n- vaultwarden\n"], ids=["systems", "document"]
)
def test_d320_systems_that_are_not_a_mapping(contracts_dir: Path, open_contracts: OpenContracts, text: str) -> None:
    """`systems` (or the whole baseline) as a list reads as no systems: each of the four is reported missing."""
    write_contracts(contracts_dir, BASELINE_FILES)
    (contracts_dir / BASELINE).write_text(text, encoding="utf-8")
    got = check_findings(open_contracts(), "D320")
    assert [line.split(": ", 1)[1] for line in got] == [
        f"system '{name}' is missing; add systems.{name} to the baseline contract"
        for name in ("cloudflare", "vaultwarden", "infisical", "authentik")
    ]


def ops_root(tmp_path: Path, contracts_dir: Path) -> Path:
    """An ops repository root with the shipped contracts under ops/bindings and an executable smoke runner."""
    root = tmp_path / "ops-repo"
    bindings = root / "ops" / "bindings"
    bindings.mkdir(parents=True)
    for path in contracts_dir.glob("*.yaml"):
        if path.name != "capabilities.yaml":
            shutil.copy(path, bindings / path.name)
    shutil.copy(contracts_dir / "capabilities.yaml", root / "ops" / "capabilities.yaml")
    runner = root / SMOKE_RUNNER
    runner.parent.mkdir(parents=True)
    runner.write_text("#!/usr/bin/env bash\nexit 0\n", encoding="utf-8")
    runner.chmod(0o755)
    return root


@pytest.mark.parametrize("state", ["executable", "not-executable", "missing", "a-directory"])
def test_d320_ops_layout_needs_an_executable_smoke_runner(contracts_dir: Path, tmp_path: Path, state: str) -> None:
    """In the ops layout the smoke runner must be an executable file; the finding names the file and the fix."""
    root = ops_root(tmp_path, contracts_dir)
    runner = root / SMOKE_RUNNER
    if state == "not-executable":
        runner.chmod(0o644)
    elif state == "missing":
        runner.unlink()
    elif state == "a-directory":
        runner.unlink()
        runner.mkdir()
    expected = (
        []
        if state == "executable"
        else [f"ops-repo/{SMOKE_RUNNER}: the smoke runner is missing or not executable; chmod +x {SMOKE_RUNNER}"]
    )
    assert check_findings(Contracts.open(root, tmp_path), "D320") == expected


def test_d320_suite_layout_has_no_smoke_runner_to_check(contracts_dir: Path, open_contracts: OpenContracts) -> None:
    """The smoke runner is an ops-layout file: the tiny suite-layout baseline passes without one."""
    write_contracts(contracts_dir, BASELINE_FILES)
    assert not (contracts_dir.parent / SMOKE_RUNNER).exists()
    assert gate_findings(open_contracts(), "D320") == []
