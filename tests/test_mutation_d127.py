"""D127 cases that kill mutmut's survivors (issue 8, item 4); see bench/MUTATION.md.

The tiny topology of tests/test_checks_topology.py, edited so that one drift shows: the core set's shape
(no limit, empty, a repeated id away from the end), a core gate without an assignment while the coverage rule
is off, an empty release sequence, and no domain profiles file at all.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_checks import Edit, OpenContracts, check_findings, gate_findings, write_contracts
from tests.test_checks_topology import DOMAIN_PROFILES, TOPO, TOPOLOGY, TOPOLOGY_FILES

CORE = "[D127]\n  core_count_limit: 1"
CORE_ROW = "  - {gate_id: D127, primary_domain: core}\n"
COVERAGE_RULE = "require_primary_domain_for_all_active_gates: true"
RELEASE = "release_sequence: [core, infra, verify]"


def test_d127_core_gate_without_assignment_is_reported_when_coverage_is_off(
    contracts_dir: Path, open_contracts: OpenContracts
) -> None:
    """With the every-gate coverage rule off, an unassigned core gate is still a finding, at its core entry."""
    write_contracts(
        contracts_dir,
        TOPOLOGY_FILES,
        [Edit(TOPOLOGY, CORE_ROW, ""), Edit(TOPOLOGY, COVERAGE_RULE, COVERAGE_RULE.replace("true", "false"))],
    )
    assert gate_findings(open_contracts(), "D127") == [
        f"{TOPO}:2 $.core_mode.core_gate_ids[0]: core gate 'D127' has no assignment; assign it to a domain"
    ]


def test_d127_core_gate_without_assignment_is_reported_once_when_coverage_is_on(
    contracts_dir: Path, open_contracts: OpenContracts
) -> None:
    """With the coverage rule on, the coverage finding names the gate; the core check does not repeat it."""
    write_contracts(contracts_dir, TOPOLOGY_FILES, [Edit(TOPOLOGY, CORE_ROW, "")])
    assert gate_findings(open_contracts(), "D127") == [
        f"{TOPO}:8 $.gate_assignments: active gate 'D127' missing assignment in topology; "
        "add '{gate_id: D127, primary_domain: <domain>}' to gate_assignments"
    ]


def test_d127_core_set_without_count_limit(contracts_dir: Path, open_contracts: OpenContracts) -> None:
    """A core set without core_count_limit is a finding whose fix names the count to set."""
    write_contracts(contracts_dir, TOPOLOGY_FILES, [Edit(TOPOLOGY, CORE, "[D127]")])
    assert check_findings(open_contracts(), "D127") == [
        f"{TOPO}:1 $.core_mode: core_count_limit is not set; set core_mode.core_count_limit: 1"
    ]


def test_d127_empty_core_set(contracts_dir: Path, open_contracts: OpenContracts) -> None:
    """An empty core set is a finding (and no count mismatch is reported on top of it)."""
    write_contracts(contracts_dir, TOPOLOGY_FILES, [Edit(TOPOLOGY, CORE, "[]\n  core_count_limit: 1")])
    assert check_findings(open_contracts(), "D127") == [
        f"{TOPO}:1 $.core_mode: core_gate_ids is empty; list the core gates in core_mode.core_gate_ids"
    ]


def test_d127_repeated_core_id_points_at_its_last_entry(contracts_dir: Path, open_contracts: OpenContracts) -> None:
    """A repeated core id is reported at its last entry, counted from the front, with other ids after it."""
    write_contracts(
        contracts_dir,
        TOPOLOGY_FILES,
        [Edit(TOPOLOGY, CORE, "[D127, D127, D10, D20]\n  core_count_limit: 3")],
    )
    assert gate_findings(open_contracts(), "D127") == [
        f"{TOPO}:2 $.core_mode.core_gate_ids[1]: core gate 'D127' is listed 2 times; remove the repeated entries"
    ]


def test_d127_empty_release_sequence(contracts_dir: Path, open_contracts: OpenContracts) -> None:
    """An empty release sequence is one finding (not one per missing domain)."""
    write_contracts(contracts_dir, TOPOLOGY_FILES, [Edit(TOPOLOGY, RELEASE, "release_sequence: []")])
    assert check_findings(open_contracts(), "D127") == [
        f"{TOPO}:12 $.release_sequence: release_sequence is empty; list every domain in release order"
    ]


@pytest.mark.parametrize("contents", [None, "domains: [not, a, mapping\n"], ids=["absent", "unloadable"])
def test_d127_without_usable_domain_profiles_checks_the_rest(
    contracts_dir: Path, open_contracts: OpenContracts, contents: str | None
) -> None:
    """Domain profiles are optional for D127: without the file, or with one that does not load, the rest passes."""
    write_contracts(contracts_dir, TOPOLOGY_FILES)
    path = contracts_dir / DOMAIN_PROFILES
    if contents is None:
        path.unlink()
    else:
        path.write_text(contents, encoding="utf-8")
    assert check_findings(open_contracts(), "D127") == []
