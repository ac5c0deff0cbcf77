"""Topology, ring and profile gates: D127 domain-assignment drift, D904 ring policy, D905 profile resolution."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace

from infracore_verify.contracts.findings import Finding, did_you_mean
from infracore_verify.contracts.loader import Document, Key
from infracore_verify.contracts.model import (
    DEFAULT_BUDGETS,
    GATE_CLASSES,
    RINGS,
    Assignment,
    Registry,
    Topology,
    as_list,
)
from infracore_verify.gates.checks.base import ContractView, native_gate
from infracore_verify.gates.profiles import SelectionError, resolve_domain, resolve_fast, resolve_release


@native_gate("D127", reads=("registry", "topology", "domain_profiles", "agent_profiles"))
def check_domain_assignment_drift(c: ContractView) -> Iterator[Finding]:
    """Checks that every active gate has exactly one topology assignment to defined domains, and the core set."""
    topo_doc, reg_doc = c["topology"], c["registry"]
    topo, registry = c.topology, c.registry
    domains = set(topo.domains)
    domain_list = ", ".join(topo.domains) or "none defined"
    yield from _core_set_shape(topo_doc, topo)
    if not domains:
        yield topo_doc.finding(("domain_metadata",), "domain_metadata is empty", "define at least one domain")
    if not registry.active:
        yield reg_doc.finding(("gates",), "the registry has no active gate", "add a gate that is not retired")
    if not topo.assignments:
        yield topo_doc.finding(
            ("gate_assignments",), "gate_assignments is empty", "assign every active gate to a primary domain"
        )
    for row in topo.assignments:
        yield from _assignment_row(topo_doc, registry, row, domains, domain_list)
    rows_per_gate = Counter(row.gate_id for row in topo.assignments)
    if topo.rules["require_primary_domain_for_all_active_gates"]:
        yield from _assignment_coverage(topo_doc, registry, rows_per_gate)
    yield from _core_gates(topo_doc, topo, registry, rows_per_gate)
    if topo.rules["reject_undefined_domain_refs"]:
        yield from _undefined_domain_refs(c, domains, domain_list)
    if topo.rules["require_release_sequence_coverage"]:
        yield from _release_sequence_coverage(topo_doc, topo)


def _core_set_shape(topo_doc: Document, topo: Topology) -> Iterator[Finding]:
    """The core set is declared, has a count limit that matches it, and lists each gate once."""
    core_ids = topo.core_gate_ids
    if topo.core_count_limit is None:
        yield topo_doc.finding(
            ("core_mode",),
            "core_count_limit is not set",
            f"set core_mode.core_count_limit: {len(set(core_ids))}",
        )
    if not core_ids:
        yield topo_doc.finding(
            ("core_mode",), "core_gate_ids is empty", "list the core gates in core_mode.core_gate_ids"
        )
    for gate_id, count in Counter(core_ids).items():
        if count > 1:
            index = len(core_ids) - 1 - core_ids[::-1].index(gate_id)
            yield topo_doc.finding(
                ("core_mode", "core_gate_ids", index),
                f"core gate '{gate_id}' is listed {count} times",
                "remove the repeated entries",
            )
    unique_core = len(set(core_ids))
    if topo.core_count_limit is not None and core_ids and unique_core != topo.core_count_limit:
        yield topo_doc.finding(
            ("core_mode", "core_count_limit"),
            f"core gate count mismatch: expected {topo.core_count_limit} got {unique_core}",
            f"set core_count_limit to {unique_core} or change core_gate_ids",
        )


def _assignment_row(
    topo_doc: Document, registry: Registry, row: Assignment, domains: set[str], domain_list: str
) -> Iterator[Finding]:
    """One gate_assignments row: a registered live gate, a defined primary domain, defined secondary domains."""
    where: Key = ("gate_assignments", row.index)
    gate = registry.by_id.get(row.gate_id)
    if gate is None:
        yield topo_doc.finding(
            (*where, "gate_id"),
            f"assignment of '{row.gate_id}', which is not in the gate registry{did_you_mean(row.gate_id, registry.by_id)}",
            "register the gate in gate.registry.yaml or remove this row",
        )
    elif gate.retired:
        yield topo_doc.finding(
            (*where, "gate_id"),
            f"assignment of retired gate '{row.gate_id}'",
            "remove this row (retired gates never run)",
        )
    if not row.primary_domain:
        yield topo_doc.finding(
            where,
            f"gate_assignments row for '{row.gate_id}' has no primary_domain",
            f"set one of: {domain_list}",
        )
    elif row.primary_domain not in domains:
        yield topo_doc.finding(
            (*where, "primary_domain"),
            f"'{row.primary_domain}' is not a domain in domain_metadata{did_you_mean(row.primary_domain, domains)}",
            f"define it in domain_metadata or use one of: {domain_list}",
        )
    for i, secondary in enumerate(row.secondary_domains):
        if secondary not in domains:
            yield topo_doc.finding(
                (*where, "secondary_domains", i),
                f"'{secondary}' is not a domain in domain_metadata{did_you_mean(secondary, domains)}",
                f"define it in domain_metadata or use one of: {domain_list}",
            )


def _assignment_coverage(topo_doc: Document, registry: Registry, rows_per_gate: Counter[str]) -> Iterator[Finding]:
    """Every active gate has exactly one gate_assignments row."""
    for gate in registry.active:
        count = rows_per_gate.get(gate.id, 0)
        if count == 0:
            yield topo_doc.finding(
                ("gate_assignments",),
                f"active gate '{gate.id}' missing assignment in topology",
                f"add '{{gate_id: {gate.id}, primary_domain: <domain>}}' to gate_assignments",
            )
        elif count > 1:
            yield topo_doc.finding(
                ("gate_assignments",),
                f"active gate '{gate.id}' assigned multiple times in topology (count={count})",
                "keep exactly one gate_assignments row per gate",
            )


def _core_gates(
    topo_doc: Document, topo: Topology, registry: Registry, rows_per_gate: Counter[str]
) -> Iterator[Finding]:
    """Each core gate is registered, live and (when not every gate must be) assigned to a domain."""
    for index, gate_id in enumerate(topo.core_gate_ids):
        where = ("core_mode", "core_gate_ids", index)
        gate = registry.by_id.get(gate_id)
        if gate is None:
            yield topo_doc.finding(
                where,
                f"core gate '{gate_id}' is not registered{did_you_mean(gate_id, registry.by_id)}",
                "register it or remove it from the core set",
            )
        elif gate.retired:
            yield topo_doc.finding(where, f"core gate '{gate_id}' is retired", "remove it from the core set")
        elif rows_per_gate.get(gate_id, 0) == 0 and not topo.rules["require_primary_domain_for_all_active_gates"]:
            yield topo_doc.finding(where, f"core gate '{gate_id}' has no assignment", "assign it to a domain")


def _release_sequence_coverage(topo_doc: Document, topo: Topology) -> Iterator[Finding]:
    """The release sequence is set and names every domain."""
    if not topo.release_sequence:
        yield topo_doc.finding(("release_sequence",), "release_sequence is empty", "list every domain in release order")
        return
    for domain in topo.domains:
        if domain not in topo.release_sequence:
            yield topo_doc.finding(
                ("release_sequence",),
                f"release_sequence lacks domain '{domain}'",
                f"add '{domain}' to release_sequence",
            )


def _undefined_domain_refs(c: ContractView, domains: set[str], domain_list: str) -> Iterator[Finding]:
    topo_doc = c["topology"]
    for i, domain in enumerate(c.topology.release_sequence):
        if domain not in domains:
            yield topo_doc.finding(
                ("release_sequence", i),
                f"release_sequence names undefined domain '{domain}'",
                f"use one of: {domain_list}",
            )
    profiles = c.optional("domain_profiles")
    if profiles is not None and profiles.ok:
        for key, entry in (profiles.data.get("domains") or {}).items():
            if key not in domains:
                yield profiles.finding(
                    ("domains", key),
                    f"domain profile '{key}' is not a topology domain{did_you_mean(key, domains)}",
                    f"rename it to one of: {domain_list}, or define it in domain_metadata",
                )
            for j, gate_id in enumerate(as_list((entry or {}).get("gate_ids"))):
                if str(gate_id) not in c.registry.by_id:
                    yield profiles.finding(
                        ("domains", key, "gate_ids", j),
                        f"'{gate_id}' is not a registered gate",
                        "register it or remove it from the profile",
                    )
    packs = c.optional("agent_profiles")
    if packs is not None and packs.ok:
        for i, profile in enumerate(as_list(packs.data.get("profiles"))):
            for j, domain in enumerate(as_list((profile or {}).get("domains"))):
                if str(domain) not in domains:
                    yield packs.finding(
                        ("profiles", i, "domains", j),
                        f"pack profile domain '{domain}' is not a topology domain",
                        f"use one of: {domain_list}",
                    )


@native_gate("D904", reads=("ring_policy", "registry", "topology", "run_profiles"))
def check_ring_policy(c: ContractView) -> Iterator[Finding]:
    """Checks the ring policy's rings, budgets and assignment policy, and that gates use known rings."""
    doc = c["ring_policy"]
    rings = [str(r) for r in as_list(doc.data.get("rings"))]
    if rings != list(RINGS):
        yield doc.finding(
            ("rings",),
            f"rings are [{', '.join(rings)}], not [instant, standard, deep]",
            "write rings: [instant, standard, deep]",
        )
    # The ops ring contract requires exactly the ops budgets (SPINE 2.6), not merely growing ones.
    budgets = doc.data.get("budgets_seconds") or {}
    for ring in RINGS:
        wanted = DEFAULT_BUDGETS[ring]
        if ring not in budgets:
            yield doc.finding(
                ("budgets_seconds",), f"ring '{ring}' has no budget", f"set budgets_seconds.{ring}: {wanted}"
            )
        elif budgets[ring] != wanted or isinstance(budgets[ring], bool):
            yield doc.finding(
                ("budgets_seconds", ring),
                f"ring '{ring}' has a budget of {budgets[ring]!r}s, not the {wanted}s the ring contract requires",
                f"set budgets_seconds.{ring}: {wanted}",
            )
    expected = {
        "core_gates": "instant",
        "domain_pack_gates": "standard",
        "release_only_or_non_pack_active_gates": "deep",
    }
    policy = doc.data.get("assignment_policy") or {}
    for key, ring in expected.items():
        if key not in policy:
            yield doc.finding(
                ("assignment_policy",), f"assignment_policy.{key} is missing", f"set assignment_policy.{key}: {ring}"
            )
        elif policy[key] != ring:
            yield doc.finding(
                ("assignment_policy", key),
                f"assignment_policy.{key} is {policy[key]!r}, not '{ring}'",
                f"set assignment_policy.{key}: {ring}",
            )
    reg_doc = c["registry"]
    core = set(c.topology.core_gate_ids)
    for gate in c.registry.gates:
        if gate.ring not in RINGS:
            yield reg_doc.finding(
                ("gates", gate.index, "ring"),
                f"gate '{gate.id}' uses ring '{gate.ring}', which the ring policy does not define",
                "use one of: instant, standard, deep",
            )
        elif gate.id in core and not gate.retired and gate.ring != "instant":
            yield reg_doc.finding(
                ("gates", gate.index, "ring"),
                f"core gate '{gate.id}' has ring '{gate.ring}', but core gates must be instant",
                "set ring: instant or take the gate out of core_mode.core_gate_ids",
            )
    prof_doc = c["run_profiles"]
    for path, ring in (
        (("profiles", "fast", "ring"), c.run_profiles.fast_ring),
        (("profiles", "domain", "ring"), c.run_profiles.domain_ring),
    ):
        if ring not in RINGS:
            yield prof_doc.finding(path, f"profile ring '{ring}' is not a ring", "use one of: instant, standard, deep")


@native_gate("D905", reads=("registry", "topology", "run_profiles", "domain_profiles"))
def check_profile_resolution(c: ContractView) -> Iterator[Finding]:
    """Checks that the fast and release profiles resolve to gates and that every domain has gates of its own."""
    prof_doc, topo_doc = c["run_profiles"], c["topology"]
    profiles = c.run_profiles
    class_paths: list[tuple[tuple[str | int, ...], tuple[str, ...]]] = [
        (("profiles", "fast", "domains", i, "classes"), classes) for i, (_, classes) in enumerate(profiles.fast_domains)
    ]
    class_paths += [
        (("profiles", "domain", "core_base", "classes"), profiles.core_base_classes),
        (("profiles", "domain", "target", "classes"), profiles.target_classes),
    ]
    for path, classes in class_paths:
        for gate_class in classes:
            if gate_class not in GATE_CLASSES:
                yield prof_doc.finding(
                    path,
                    f"'{gate_class}' is not a gate class{did_you_mean(gate_class, GATE_CLASSES)}",
                    "use one of: " + ", ".join(GATE_CLASSES),
                )
    for i, (domain, _) in enumerate(profiles.fast_domains):
        if domain != "core" and domain not in c.topology.domains:
            yield prof_doc.finding(
                ("profiles", "fast", "domains", i, "domain"),
                f"fast profile domain '{domain}' is not a topology domain",
                "use core or a domain from domain_metadata",
            )
    try:
        resolve_fast(c.registry, c.topology, profiles)
    except SelectionError as exc:
        yield topo_doc.finding(("core_mode", "core_gate_ids"), exc.message, exc.fix)
    domain_profiles = _domain_profile_ids(c)
    # Resolved without the core base: with it (the default) every domain resolves to the core gates, so
    # a domain that owns no gate would pass unnoticed and its domain run would test nothing of its own.
    own_only = replace(profiles, include_core_base=False)
    target_classes = ", ".join(profiles.target_classes)
    outcome = "only repeats the core base" if profiles.include_core_base else "selects no gate"
    for i, domain in enumerate(c.topology.domains):
        try:
            resolve_domain(domain, c.registry, c.topology, own_only, domain_profiles)
        except SelectionError:
            yield topo_doc.finding(
                ("domain_metadata", i),
                f"domain '{domain}' has no active gate of the target classes ({target_classes}), so its domain run {outcome}",
                "assign gates of those classes to it in gate_assignments, or remove the domain",
            )
    try:
        resolve_release(c.registry)
    except SelectionError as exc:
        yield c["registry"].finding(("gates",), exc.message, exc.fix)


def _domain_profile_ids(c: ContractView) -> dict[str, list[str]]:
    doc = c.optional("domain_profiles")
    if doc is None or not doc.ok:
        return {}
    return {
        str(k): [str(g) for g in as_list((v or {}).get("gate_ids"))] for k, v in (doc.data.get("domains") or {}).items()
    }
