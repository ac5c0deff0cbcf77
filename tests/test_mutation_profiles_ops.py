"""Profile cases for the ops-parity additions of issue 11 that kill mutmut's survivors (issue 8, item 4).

`domain_sources` (what `--domain X --list-gates` prints from each source), `verbose_only_parts` (parts the
ops repository runs only inside their composite) and the release selection's source text. Pure functions
on registries and topologies built by hand; see bench/MUTATION.md ("Confirmed by mutmut").
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from infracore_verify.gates.profiles import domain_sources, resolve_release, verbose_only_parts
from tests.test_regressions_profiles import gate, registry, topology

LOOP_GAP_TOPOLOGY = topology(
    [],
    ["core", "loop_gap", "infra"],
    [("D10", "loop_gap", ()), ("D2", "infra", ("loop_gap",)), ("D10", "loop_gap", ()), ("D3", "infra", ())],
)


def test_domain_sources_lists_each_source_naturally_sorted_without_repeats() -> None:
    """Topology ids (primary or secondary) and profile ids (under the alias and the topology id), D2 before D10."""
    profiles = {"loop-gap": ["D30", "D4"], "loop_gap": ["D4", "D100"], "infra": ["D9"]}
    assert domain_sources("loop-gap", LOOP_GAP_TOPOLOGY, profiles) == (["D2", "D10"], ["D4", "D30", "D100"])


@pytest.mark.parametrize(
    ("profiles", "listed"),
    [
        pytest.param({"loop-gap": ["D30", "D4"]}, ["D4", "D30"], id="alias-only"),
        pytest.param({"loop_gap": ["D100", "D4"]}, ["D4", "D100"], id="topology-id-only"),
        pytest.param({}, [], id="no-entry"),
        pytest.param(None, [], id="no-profiles-file"),
    ],
)
def test_domain_sources_reads_the_profiles_under_either_name(
    profiles: dict[str, list[str]] | None, listed: list[str]
) -> None:
    """A profiles file may list the domain under its alias, its topology id, or not at all."""
    assert domain_sources("loop-gap", LOOP_GAP_TOPOLOGY, profiles) == (["D2", "D10"], listed)


COMPOSITES = registry(
    replace(gate("D1"), composite_of=("D4",)),
    gate("C2"),
    gate("C3", retired=True),
    gate("D4"),
    gate("D11"),
    gate("D12"),
    gate("D13"),
    gate("D14"),
    gate("D15"),
    gate("D16"),
)
"""D1 runs D4 as a part; C2 is an active gate a part can name as composite_parent, C3 a retired one."""
ENTRIES: list[Any] = [
    "not a mapping",
    {"id": "D4", "verbose_only": True},
    {"id": "D11", "verbose_only": True, "composite_parent": "C2"},
    {"id": "D12", "verbose_only": True, "composite_parent": "C3"},
    {"id": "D13", "verbose_only": True, "composite_parent": "D999"},
    {"id": "D14", "verbose_only": "true", "composite_parent": "C2"},
    {"id": "D15", "verbose_only": False, "composite_parent": "C2"},
    {"id": "D16", "composite_parent": "C2"},
]
"""Registry entries as the file has them (gates D1, C2, C3 have none): only `verbose_only: true` with an active
composite (its `composite_of`, else the part's own `composite_parent`) counts."""


def test_verbose_only_parts_are_those_an_active_composite_runs() -> None:
    """D4 (in D1's composite_of) and D11 (composite_parent C2) only; a retired or unknown parent, a string
    'true', false or no flag leave the gate to run on its own."""
    assert verbose_only_parts(ENTRIES, COMPOSITES) == {"D4": "D1", "D11": "C2"}


@pytest.mark.parametrize("entries", [None, {"D4": {"verbose_only": True}}, "gates"], ids=["none", "mapping", "text"])
def test_verbose_only_parts_of_a_registry_without_a_gate_list_are_none(entries: Any) -> None:
    """Entries that are not a list (a broken registry the schema reports) mark no gate as a part."""
    assert verbose_only_parts(entries, COMPOSITES) == {}


def test_release_source_names_the_parts_left_to_their_composites_in_natural_order() -> None:
    """The release selection leaves the parts out and its source says which, D4 before D11."""
    selection = resolve_release(COMPOSITES, {"D11": "C2", "D4": "D1"})
    assert "D4" not in selection.gate_ids
    assert "D11" not in selection.gate_ids
    assert selection.source == "gate.registry.yaml (all active gates; D4, D11 run inside their composites)"
