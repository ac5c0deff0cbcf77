"""The suite's own gates (D900 and up): which they are, and adding them to a registry that lacks them.

The suite's gates check what the suite notices beyond the ops repository's own verdicts (schemas, duplicate
keys, the style of the gaps file...). They are the suite's, not the repository's: whatever registry the
contracts come from, they run and `--list-gates` lists them. An ops repository's registry has none of them,
so the plan's registry view gets the static ones from the suite's own registry (the embedded
`gate.registry.yaml`); they have no topology assignment there, so they stay out of the ops profiles (fast,
domain) and run in release, in a run without a profile, with `--gate` and with `-m suite`. Live suite gates
(probe-backed, such as D907) are not added: they compare live systems with the suite's own contracts.
"""

from __future__ import annotations

from functools import lru_cache

from infracore_verify.contracts.model import Gate, Registry, gate_number
from infracore_verify.contracts.sets import BUNDLED_CONTRACTS, Contracts

SUITE_GATE_FLOOR = 900
"""Gate numbers from here on are the suite's own."""
SUITE_MARKER = "suite"
"""The marker every suite gate carries (`pytest -m suite`)."""


def is_suite_gate(gate_id: str) -> bool:
    """Return True for one of the suite's own gate ids (D900 and up)."""
    return gate_number(gate_id) >= SUITE_GATE_FLOOR


@lru_cache(maxsize=1)
def suite_catalog() -> tuple[Gate, ...]:
    """Return the suite's static gates as its own registry defines them (empty if that registry does not load)."""
    try:
        doc = Contracts.open(BUNDLED_CONTRACTS).doc("registry")
    except OSError:
        return ()
    if not doc.ok:
        return ()
    registry = Registry.from_doc(doc)
    return tuple(g for g in registry.active if is_suite_gate(g.id) and not g.probes)


def with_suite_gates(registry: Registry) -> tuple[Registry, tuple[str, ...]]:
    """Return the registry view with every suite gate it lacks appended, and the ids that were added.

    The registry object itself is left alone (it is the cached view of the file that the ported gates read).
    """
    missing = [g for g in suite_catalog() if g.id not in registry.by_id]
    if not missing:
        return registry, ()
    by_id = {**registry.by_id, **{g.id: g for g in missing}}
    return Registry([*registry.gates, *missing], by_id, list(registry.duplicates)), tuple(g.id for g in missing)
