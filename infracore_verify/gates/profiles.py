"""Profile resolution the ops repository's way: fast, domain and release selections of gate ids."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from infracore_verify.contracts.model import Registry, RunProfiles, Topology, natural_key

DOMAIN_ALIASES = {
    "loop-gap": "loop_gap",
    "home-automation": "home",
    "finance-ops": "finance",
    "automation": "n8n",
    "photos": "immich",
    "identity": "microsoft",
    "email": "microsoft",
    "calendar": "microsoft",
}


class SelectionError(Exception):
    """A profile or domain resolves to no gate, or names something that does not exist."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(f"{message}; {fix}")
        self.message = message
        self.fix = fix


@dataclass(frozen=True)
class Selection:
    """The gates a run executes, in order, with the ring whose budget applies and where they came from."""

    profile: str
    gate_ids: tuple[str, ...]
    ring: str
    source: str


def normalise_domain(domain: str) -> str:
    """Map the ops repository's domain aliases onto topology domain ids."""
    return DOMAIN_ALIASES.get(domain, domain)


def _dedupe(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def _domain_candidates(domain: str, topology: Topology) -> list[str]:
    return [a.gate_id for a in topology.assignments if a.primary_domain == domain or domain in a.secondary_domains]


def domain_sources(
    domain: str, topology: Topology, domain_profiles: dict[str, list[str]] | None
) -> tuple[list[str], list[str]]:
    """Return a domain's gate ids by each source, naturally sorted: (topology assignments, gate.domain.profiles.yaml).

    The suite resolves from the topology (primary or secondary domain) and falls back to the profiles only when
    the topology assigns nothing. The ops runner means to do the same, but its topology query uses a yq function
    that yq lacks; the error is discarded and it silently uses gate.domain.profiles.yaml.
    """
    wanted = normalise_domain(domain)
    profiles = domain_profiles or {}
    topo = sorted(set(_domain_candidates(wanted, topology)), key=natural_key)
    listed = sorted({*profiles.get(domain, []), *profiles.get(wanted, [])}, key=natural_key)
    return topo, listed


def resolve_fast(registry: Registry, topology: Topology, profiles: RunProfiles) -> Selection:
    """Resolve the fast profile: per `fast.domains` entry, core ids in order or domain candidates."""
    ids: list[str] = []
    for domain, classes in profiles.fast_domains:
        candidates = topology.core_gate_ids if domain == "core" else _domain_candidates(domain, topology)
        for gate_id in candidates:
            gate = registry.by_id.get(gate_id)
            if gate is not None and not gate.retired and gate.gate_class in classes:
                ids.append(gate_id)
    ids = _dedupe(ids)
    if not ids:
        raise SelectionError(
            "the fast profile resolves to no gate (core_mode.core_gate_ids has no active gate of the classes "
            "in profiles.fast.domains)",
            "add active gates of those classes to the core set",
        )
    return Selection("fast", tuple(ids), profiles.fast_ring, "topology core_mode.core_gate_ids")


def resolve_domain(
    domain: str,
    registry: Registry,
    topology: Topology,
    profiles: RunProfiles,
    domain_profiles: dict[str, list[str]] | None = None,
) -> Selection:
    """Resolve the domain profile for `domain`: core base, then the domain's gates in natural order."""
    wanted = normalise_domain(domain)
    known = set(topology.domains) | set(domain_profiles or {})
    if wanted not in known:
        raise SelectionError(f"unknown domain '{domain}'", f"use one of: {', '.join(sorted(known)) or 'none'}")
    ids: list[str] = []
    if profiles.include_core_base:
        ids += [
            g
            for g in topology.core_gate_ids
            if g in registry.by_id and registry.by_id[g].gate_class in profiles.core_base_classes
        ]
    candidates = _domain_candidates(wanted, topology)
    source = "topology gate_assignments"
    if not candidates and domain_profiles:
        candidates = list(domain_profiles.get(domain, [])) + list(domain_profiles.get(wanted, []))
        source = "gate.domain.profiles.yaml (no topology assignment)"
    for gate_id in sorted(set(candidates), key=natural_key):
        gate = registry.by_id.get(gate_id)
        if gate is not None and not gate.retired and gate.gate_class in profiles.target_classes:
            ids.append(gate_id)
    ids = [g for g in _dedupe(ids) if not registry.by_id[g].retired]
    if not ids:
        raise SelectionError(
            f"the domain profile '{domain}' resolves to no gate",
            "assign gates of the target classes to it in the topology",
        )
    return Selection(f"domain:{wanted}", tuple(ids), profiles.domain_ring, source)


def verbose_only_parts(entries: Any, registry: Registry) -> dict[str, str]:
    """Return {part id: composite id} for `verbose_only: true` gates that an active composite runs.

    The ops repository runs such a gate only inside its composite (`composite_of` of an active gate, or its
    own `composite_parent`); running it on its own as well would run it twice.
    """
    raw = {str(e.get("id")): e for e in entries if isinstance(e, dict)} if isinstance(entries, list) else {}
    parents = {part: g.id for g in registry.active for part in g.composite_of}
    out: dict[str, str] = {}
    for gate in registry.active:
        entry = raw.get(gate.id, {})
        parent = parents.get(gate.id) or str(entry.get("composite_parent") or "")
        if entry.get("verbose_only") is True and parent in registry.by_id and not registry.by_id[parent].retired:
            out[gate.id] = parent
    return out


def resolve_release(registry: Registry, inside: Collection[str] = ()) -> Selection:
    """Resolve the release profile: every active gate (but verbose-only parts left to their composites), deep budget."""
    ids = tuple(g.id for g in registry.active if g.id not in inside)
    if not ids:
        raise SelectionError("the registry has no active gate", "add a gate that is not retired")
    source = "gate.registry.yaml (all active gates)"
    if inside:
        source = f"gate.registry.yaml (all active gates; {', '.join(sorted(inside, key=natural_key))} run inside their composites)"
    return Selection("release", ids, "deep", source)


def widest_ring(ids: list[str] | tuple[str, ...], registry: Registry, budgets: dict[str, int]) -> str:
    """Return the ring with the largest budget among the gates (deep when none is known)."""
    rings = [registry.by_id[g].ring for g in ids if g in registry.by_id]
    known = [r for r in rings if r in budgets] or ["deep"]
    return max(known, key=lambda r: budgets[r])
