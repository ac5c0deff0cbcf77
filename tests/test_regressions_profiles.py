"""Regression tests for profile resolution (issue 8): each kills a named mutant that no test noticed before.

Pure-function tests build the registry, topology and run profiles by hand, so every expected selection is
written out here and never derived from the resolver. The end-to-end test reads the shipped YAML itself.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from infracore_verify.contracts.model import Assignment, Gate, Registry, RunProfiles, Topology
from infracore_verify.gates.profiles import SelectionError, resolve_domain, resolve_fast, resolve_release
from tests.conftest import gates_project


def registry(*gates: Gate) -> Registry:
    """Returns a registry of the given gates (file order kept, no duplicates)."""
    return Registry(list(gates), {g.id: g for g in gates}, [])


def gate(gate_id: str, gate_class: str = "invariant", *, retired: bool = False, ring: str = "standard") -> Gate:
    """Returns a registry gate with the class, ring and retirement given."""
    return Gate(id=gate_id, name=f"{gate_id.lower()}-lock", gate_class=gate_class, ring=ring, retired=retired)


def topology(core: list[str], domains: list[str], rows: list[tuple[str, str, tuple[str, ...]]]) -> Topology:
    """Returns a topology with the core ids, domains and (gate, primary, secondaries) rows in file order."""
    assignments = [Assignment(g, primary, secondary, i) for i, (g, primary, secondary) in enumerate(rows)]
    return Topology(core, len(core), domains, assignments, domains)


FAST = RunProfiles(fast_domains=[("core", ("invariant",))])
"""The shipped fast profile: the core gates of class invariant."""
NO_CORE_BASE = RunProfiles(include_core_base=False)
"""Domain runs without the core base, so a selection shows the domain's own gates only."""


def test_fast_profile_drops_retired_core_gates() -> None:
    """Leaves a retired gate out of the fast profile even when core_gate_ids still lists it."""
    reg = registry(gate("D1", retired=True), gate("D2"), gate("D3"))
    topo = topology(["D1", "D2", "D3"], ["core"], [("D2", "core", ()), ("D3", "core", ())])
    assert resolve_fast(reg, topo, FAST).gate_ids == ("D2", "D3")
    only_retired = topology(["D1"], ["core"], [])
    with pytest.raises(SelectionError, match="the fast profile resolves to no gate"):
        resolve_fast(reg, only_retired, FAST)


def test_domain_profile_takes_gates_assigned_as_secondary_domain() -> None:
    """Selects a gate whose primary domain is another one but that lists the domain in secondary_domains."""
    reg = registry(gate("D5"), gate("D6"), gate("D7"))
    topo = topology(
        [],
        ["core", "infra", "verify"],
        [("D5", "verify", ("infra",)), ("D6", "infra", ()), ("D7", "verify", ())],
    )
    selection = resolve_domain("infra", reg, topo, NO_CORE_BASE)
    assert selection.gate_ids == ("D5", "D6")
    assert selection.source == "topology gate_assignments"


def test_domain_profile_orders_gates_naturally_not_by_file_order() -> None:
    """Orders the domain's gates by number (D9 before D10 before D100), whatever the assignment order."""
    reg = registry(gate("D100"), gate("D10"), gate("D9"))
    topo = topology([], ["infra"], [("D100", "infra", ()), ("D10", "infra", ()), ("D9", "infra", ())])
    assert resolve_domain("infra", reg, topo, NO_CORE_BASE).gate_ids == ("D9", "D10", "D100")


@pytest.mark.parametrize(
    ("alias", "domain"),
    [
        ("loop-gap", "loop_gap"),
        ("home-automation", "home"),
        ("finance-ops", "finance"),
        ("automation", "n8n"),
        ("photos", "immich"),
        ("identity", "microsoft"),
        ("email", "microsoft"),
        ("calendar", "microsoft"),
    ],
)
def test_domain_aliases_are_normalised(alias: str, domain: str) -> None:
    """Resolves the ops repository's domain aliases (loop-gap -> loop_gap, ...) to the topology domain."""
    reg = registry(gate("D40"), gate("D41"))
    topo = topology([], ["core", domain], [("D40", domain, ()), ("D41", "core", ())])
    selection = resolve_domain(alias, reg, topo, NO_CORE_BASE)
    assert selection.profile == f"domain:{domain}"
    assert selection.gate_ids == ("D40",)


def test_domain_core_base_keeps_only_core_base_classes() -> None:
    """Filters the core base by core_base.classes (not by the target classes), in core order."""
    reg = registry(gate("D3"), gate("D1", "freshness"), gate("D2"), gate("D20", "freshness"))
    topo = topology(
        ["D3", "D1", "D2"],
        ["core", "infra"],
        [("D3", "core", ()), ("D1", "core", ()), ("D2", "core", ()), ("D20", "infra", ())],
    )
    invariant_base = RunProfiles(core_base_classes=("invariant",), target_classes=("invariant", "freshness"))
    assert resolve_domain("infra", reg, topo, invariant_base).gate_ids == ("D3", "D2", "D20")
    freshness_base = RunProfiles(core_base_classes=("freshness",), target_classes=("invariant", "freshness"))
    assert resolve_domain("infra", reg, topo, freshness_base).gate_ids == ("D1", "D20")


def test_release_profile_runs_every_active_gate_in_the_deep_ring() -> None:
    """Selects every active gate in registry order with the deep ring, never instant or standard."""
    reg = registry(gate("D2", ring="instant"), gate("D1", retired=True), gate("D3", "advisory", ring="instant"))
    selection = resolve_release(reg)
    assert selection.profile == "release"
    assert selection.ring == "deep"
    assert selection.gate_ids == ("D2", "D3")


# --- end to end: --profile fast and --profile release ---------------------------------------------------


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """Returns a pytester directory laid out like the project: plugin conftest and gates/test_gates.py."""
    return gates_project(pytester)


def expected_fast_and_release(contracts_dir: Path) -> tuple[list[str], list[str]]:
    """Returns (fast ids, active ids) read straight from the copied YAML: core ids of the fast classes, in order."""
    reg = yaml.safe_load((contracts_dir / "gate.registry.yaml").read_text())
    topo = yaml.safe_load((contracts_dir / "gate.execution.topology.yaml").read_text())
    prof = yaml.safe_load((contracts_dir / "verify.run.profile.contract.yaml").read_text())
    gates: dict[str, dict[str, Any]] = {}
    for entry in reg["gates"]:
        gates.setdefault(entry["id"], entry)
    active = [g for g, e in gates.items() if not e.get("retired")]
    [core_entry] = prof["profiles"]["fast"]["domains"]
    assert core_entry["domain"] == "core"
    fast = [
        g for g in topo["core_mode"]["core_gate_ids"] if g in active and gates[g]["gate_class"] in core_entry["classes"]
    ]
    return fast, active


def test_profile_fast_runs_the_fast_set_not_the_release_set(suite: pytest.Pytester, contracts_dir: Path) -> None:
    """Collects exactly the core gates for --profile fast (core order), and all active gates for release."""
    fast, active = expected_fast_and_release(contracts_dir)
    assert set(fast) < set(active), "the shipped contracts must tell fast and release apart"
    collected = suite.runpytest_subprocess(f"--contracts={contracts_dir}", "--profile", "fast", "--collect-only", "-q")
    assert re.findall(r"test_gate\[(D\d+)\]", collected.stdout.str()) == fast
    release = suite.runpytest_subprocess(f"--contracts={contracts_dir}", "--profile", "release", "--collect-only", "-q")
    assert re.findall(r"test_gate\[(D\d+)\]", release.stdout.str()) == active


def test_profile_fast_receipt_records_the_fast_selection(suite: pytest.Pytester, contracts_dir: Path) -> None:
    """Runs --profile fast green and records profile fast, the fast ring from the contract and the fast ids."""
    fast, _ = expected_fast_and_release(contracts_dir)
    prof = yaml.safe_load((contracts_dir / "verify.run.profile.contract.yaml").read_text())
    result = suite.runpytest_subprocess(f"--contracts={contracts_dir}", "--profile", "fast", timeout=120)
    result.assert_outcomes(passed=len(fast))
    [path] = [p for p in (suite.path / "reports" / "receipts").glob("*.json") if not p.name.endswith(".drift.json")]
    receipt = json.loads(path.read_text())
    assert receipt["selection"]["profile"] == "fast"
    assert receipt["selection"]["ring"] == prof["profiles"]["fast"].get("ring", "instant")
    assert receipt["selection"]["gate_ids"] == fast
    assert [g["id"] for g in receipt["gates"]] == fast
