"""Profile resolution cases that kill mutmut's survivors (issue 8, item 4); see bench/MUTATION.md.

Pure functions on a registry, topology and run profiles built by hand (helpers of
tests/test_regressions_profiles.py): the ring and source a selection carries, the domain-profiles fallback
(only without topology assignments, by alias or by topology id), the fast profile's non-core domains, the
`SelectionError` texts a user reads, and `widest_ring`.
"""

from __future__ import annotations

import pytest

from infracore_verify.contracts.model import RunProfiles
from infracore_verify.gates.profiles import (
    SelectionError,
    resolve_domain,
    resolve_fast,
    resolve_release,
    widest_ring,
)
from tests.test_regressions_profiles import NO_CORE_BASE, gate, registry, topology

PROFILES = RunProfiles(
    fast_ring="instant",
    fast_domains=[("core", ("invariant",)), ("infra", ("freshness",))],
    domain_ring="standard",
)


def test_fast_profile_takes_a_non_core_domain_by_its_assignments() -> None:
    """A `fast.domains` entry other than core selects that domain's gates of its classes, after the core ones."""
    reg = registry(gate("D1"), gate("D2", "freshness"), gate("D3", "freshness"), gate("D4"))
    topo = topology(
        ["D1"], ["core", "infra", "verify"], [("D2", "infra", ()), ("D3", "verify", ()), ("D4", "infra", ())]
    )
    selection = resolve_fast(reg, topo, PROFILES)
    assert selection.gate_ids == ("D1", "D2")
    assert (selection.ring, selection.source) == ("instant", "topology core_mode.core_gate_ids")


def test_domain_selection_carries_the_domain_ring_and_its_source() -> None:
    """A domain run is budgeted by the profile's domain ring, and says its gates came from the topology."""
    reg = registry(gate("D1"), gate("D2"))
    topo = topology(["D1"], ["core", "infra"], [("D1", "core", ()), ("D2", "infra", ())])
    selection = resolve_domain("infra", reg, topo, RunProfiles(domain_ring="deep"))
    assert selection == type(selection)("domain:infra", ("D1", "D2"), "deep", "topology gate_assignments")


def test_domain_profiles_are_used_only_when_the_topology_assigns_nothing() -> None:
    """With topology assignments for the domain, gate.domain.profiles.yaml is ignored."""
    reg = registry(gate("D2"), gate("D3"))
    topo = topology([], ["infra"], [("D2", "infra", ())])
    selection = resolve_domain("infra", reg, topo, NO_CORE_BASE, {"infra": ["D3"]})
    assert (selection.gate_ids, selection.source) == (("D2",), "topology gate_assignments")


@pytest.mark.parametrize("key", ["loop-gap", "loop_gap"])
def test_domain_profiles_fallback_by_alias_or_by_domain_id(key: str) -> None:
    """Without assignments, the domain's profile is found under the name asked for or its topology id."""
    reg = registry(gate("D7"), gate("D8"))
    topo = topology([], ["loop_gap"], [])
    selection = resolve_domain("loop-gap", reg, topo, NO_CORE_BASE, {key: ["D8", "D7"]})
    assert selection.gate_ids == ("D7", "D8")
    assert selection.source == "gate.domain.profiles.yaml (no topology assignment)"
    assert selection.profile == "domain:loop_gap"


def test_release_selection_is_every_active_gate_from_the_registry() -> None:
    """The release selection says where its gates came from."""
    reg = registry(gate("D1"), gate("D2", retired=True), gate("D3"))
    selection = resolve_release(reg)
    assert (selection.gate_ids, selection.ring, selection.source) == (
        ("D1", "D3"),
        "deep",
        "gate.registry.yaml (all active gates)",
    )


def test_selection_errors_say_what_is_wrong_and_the_fix() -> None:
    """Unknown domains list the known ones (or none); empty selections name the fix."""
    reg = registry(gate("D1"), gate("D2", retired=True))
    topo = topology([], ["infra", "core"], [("D2", "infra", ())])
    with pytest.raises(SelectionError) as unknown:
        resolve_domain("hmoe", reg, topo, NO_CORE_BASE, {"verify": []})
    assert (unknown.value.message, unknown.value.fix) == ("unknown domain 'hmoe'", "use one of: core, infra, verify")
    assert str(unknown.value) == "unknown domain 'hmoe'; use one of: core, infra, verify"
    with pytest.raises(SelectionError) as none_known:
        resolve_domain("infra", reg, topology([], [], []), NO_CORE_BASE)
    assert none_known.value.fix == "use one of: none"
    with pytest.raises(SelectionError) as empty:
        resolve_domain("infra", reg, topo, NO_CORE_BASE)
    assert (empty.value.message, empty.value.fix) == (
        "the domain profile 'infra' resolves to no gate",
        "assign gates of the target classes to it in the topology",
    )
    with pytest.raises(SelectionError) as no_active:
        resolve_release(registry(gate("D2", retired=True)))
    assert str(no_active.value) == "the registry has no active gate; add a gate that is not retired"


BUDGETS = {"instant": 5, "standard": 60, "deep": 600}


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        pytest.param(["D1", "D2"], "standard", id="largest-budget-wins"),
        pytest.param(["D1"], "instant", id="one-gate"),
        pytest.param(["D4", "D1"], "deep", id="by-budget-not-by-name"),
        pytest.param(["D1", "D9"], "instant", id="unknown-gate-ignored"),
        pytest.param(["D9"], "deep", id="no-known-gate-is-deep"),
        pytest.param(["D3"], "deep", id="ring-without-budget-is-deep"),
        pytest.param(["D3", "D1"], "instant", id="ring-without-budget-ignored"),
    ],
)
def test_widest_ring(ids: list[str], expected: str) -> None:
    """The ring with the largest budget among the known gates' rings; deep when none is known."""
    reg = registry(
        gate("D1", ring="instant"), gate("D2", ring="standard"), gate("D3", ring="weekly"), gate("D4", ring="deep")
    )
    assert widest_ring(ids, reg, BUDGETS) == expected
