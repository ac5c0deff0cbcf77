"""Gate planning at configure time: the contract set, the profile or --gate selection, usage errors."""

from __future__ import annotations

import difflib

import pytest

from infracore_verify.contracts.findings import render_all
from infracore_verify.contracts.model import Registry, RunProfiles, Topology, gate_number, ring_budgets
from infracore_verify.contracts.sets import Contracts, ContractsPathError
from infracore_verify.gates.checks.suite_gates import with_suite_gates
from infracore_verify.gates.classify import Classifier
from infracore_verify.gates.profiles import (
    Selection,
    SelectionError,
    resolve_domain,
    resolve_fast,
    resolve_release,
    verbose_only_parts,
    widest_ring,
)
from infracore_verify.plugin.state import GatePlan, contracts_path, requested_ids


def _closest_ids(wanted: str, registry: Registry) -> str:
    number = gate_number(wanted)
    ids = list(registry.by_id)
    if number >= 0:
        ids.sort(key=lambda g: (abs(gate_number(g) - number), g))
    else:
        ids = difflib.get_close_matches(wanted, ids, n=3, cutoff=0.0)
    return ", ".join(ids[:3]) or "none"


def _load_for_selection(contracts: Contracts) -> tuple[Registry, Topology, RunProfiles]:
    problems = []
    for name in ("registry", "topology", "run_profiles"):
        doc = contracts.doc(name)
        problems += doc.errors
    if problems:
        raise pytest.UsageError("cannot select gates; these contracts do not load:\n" + render_all(problems))
    return (
        Registry.from_doc(contracts.doc("registry")),
        Topology.from_doc(contracts.doc("topology")),
        RunProfiles.from_doc(contracts.doc("run_profiles")),
    )


def build_plan(config: pytest.Config) -> GatePlan:
    """Resolve the contract set and the gate selection from the options; raise UsageError when impossible."""
    try:
        contracts = Contracts.open(contracts_path(config), config.invocation_params.dir)
    except ContractsPathError as exc:
        raise pytest.UsageError(f"--contracts {exc}") from None
    registry, topology, profiles = _load_for_selection(contracts)
    # The suite's own gates (D900 and up) run whatever registry the contracts come from; an ops repository's
    # registry has none, so the plan's view adds them (never assigned a domain: out of fast and domain).
    registry, added = with_suite_gates(registry)
    budgets = ring_budgets(contracts.doc("ring_policy"))
    classifier = Classifier.from_doc(contracts.doc("classification"))
    ids = requested_ids(config)
    profile, domain = config.getoption("profile"), config.getoption("domain")
    if ids and (profile or domain):
        raise pytest.UsageError("--gate cannot be combined with --profile or --domain; use one of them")
    if domain and profile not in (None, "domain"):
        raise pytest.UsageError(f"--domain goes with --profile domain, not --profile {profile}")
    if profile == "domain" and not domain:
        raise pytest.UsageError("--profile domain needs --domain NAME; domains: " + ", ".join(topology.domains))
    inside = verbose_only_parts(contracts.doc("registry").data.get("gates"), registry)
    try:
        fast = resolve_fast(registry, topology, profiles)
        explicit = True
        if ids:
            selection = _gate_selection(ids, registry, budgets)
        elif profile == "fast":
            selection = fast
        elif domain:
            selection = resolve_domain(domain, registry, topology, profiles, domain_profile_ids(contracts))
        elif profile == "release":
            selection = resolve_release(registry, inside)
        else:
            explicit = False
            release = resolve_release(registry, inside)
            rest = [g for g in release.gate_ids if g not in fast.gate_ids]
            selection = Selection("all", (*fast.gate_ids, *rest), "deep", release.source)
    except SelectionError as exc:
        raise pytest.UsageError(f"empty or invalid selection: {exc}") from None
    shown = [g for g in added if g in selection.gate_ids]
    if shown:
        source = f"{selection.source}; the suite's own {', '.join(shown)} added (not in this registry)"
        selection = Selection(selection.profile, selection.gate_ids, selection.ring, source)
    return GatePlan(contracts, registry, topology, profiles, budgets, classifier, fast.gate_ids, selection, explicit)


def _gate_selection(ids: list[str], registry: Registry, budgets: dict[str, int]) -> Selection:
    for gate_id in ids:
        gate = registry.by_id.get(gate_id)
        if gate is None:
            raise pytest.UsageError(
                f"--gate {gate_id}: no such gate in the registry; closest registered ids: {_closest_ids(gate_id, registry)}"
            )
        if gate.retired:
            raise pytest.UsageError(f"--gate {gate_id}: the gate is retired and never runs")
    return Selection("gate", tuple(ids), widest_ring(ids, registry, budgets), "--gate")


def domain_profile_ids(contracts: Contracts) -> dict[str, list[str]]:
    """Return gate.domain.profiles.yaml's gate ids per domain ({} when the file is absent or does not load)."""
    if not contracts.exists("domain_profiles"):
        return {}
    doc = contracts.doc("domain_profiles")
    if not doc.ok:
        return {}
    return {
        str(k): [str(g) for g in (v or {}).get("gate_ids") or []] for k, v in (doc.data.get("domains") or {}).items()
    }
