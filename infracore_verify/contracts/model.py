"""Typed views of the registry, topology, run profiles, ring policy and classification contracts.

The views read schema-valid documents leniently (ops defaults, `a // b` fallbacks written out) and keep
the line of every entry so gates can point at it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

from infracore_verify.contracts.loader import Document

GATE_CLASSES = ("invariant", "freshness", "advisory", "observational", "parity")
RINGS = ("instant", "standard", "deep")
DEFAULT_BUDGETS = {"instant": 5, "standard": 60, "deep": 300}
SYSTEMS = ("cloudflare", "vaultwarden", "infisical", "authentik")
RECOVERY_TYPES = (
    "docker_compose_restart",
    "capability_retry",
    "alert_only",
    "launchd_restart",
    "capability_commit",
)


def text(value: Any) -> str:
    """Return prose as a string (some ops descriptions load as maps because of an unquoted ': ')."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return "; ".join(f"{k}: {v}" for k, v in value.items())
    return str(value)


def gate_number(gate_id: str) -> int:
    """Return the number of a gate id (`D320` -> 320), or -1 when it has none."""
    match = re.fullmatch(r"D(\d+)", gate_id)
    return int(match.group(1)) if match else -1


def natural_key(gate_id: str) -> tuple[int, str]:
    """Sort key ordering gate ids by number (D9 before D10)."""
    return (gate_number(gate_id), gate_id)


def as_list(value: Any) -> list[Any]:
    """Return a list for a YAML value that may be missing or null."""
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


_T = TypeVar("_T")
_VIEWS: dict[tuple[str, int], tuple[Document, Any]] = {}


def cached_view(kind: str, doc: Document, build: Callable[[], _T]) -> _T:
    """Build a typed view of a loaded document once; the loader returns the same object until the file changes."""
    key = (kind, id(doc))
    hit = _VIEWS.get(key)
    if hit is not None and hit[0] is doc:
        return hit[1]  # type: ignore[no-any-return]
    if len(_VIEWS) > 256:
        _VIEWS.clear()
    value = build()
    _VIEWS[key] = (doc, value)
    return value


def mapping(value: Any) -> dict[str, Any]:
    """Return a YAML value as a mapping, or an empty one when it is missing or not a mapping."""
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Gate:
    """One registry entry."""

    id: str
    name: str
    description: str = ""
    category: str = ""
    gate_class: str = "invariant"
    severity: str = "medium"
    ring: str = "standard"
    check_script: str | None = None
    fix_hint: str = ""
    inline: bool = False
    retired: bool = False
    composite_of: tuple[str, ...] = ()
    systems: tuple[str, ...] = ()
    probes: tuple[str, ...] = ()
    """Smoke probes the gate runs as parts (extension): a live gate, marked `live`."""
    index: int = 0
    """Position in the registry's `gates` list (for YAML paths)."""

    @classmethod
    def from_entry(cls, entry: dict[str, Any], index: int) -> Gate:
        """Build a gate from a registry entry, applying the ops defaults."""
        script = entry.get("check_script")
        return cls(
            id=str(entry.get("id", "")),
            name=text(entry.get("name")),
            description=text(entry.get("description")),
            category=text(entry.get("category")),
            gate_class=str(entry.get("gate_class", "invariant")),
            severity=str(entry.get("severity", "medium")),
            ring=str(entry.get("ring", "standard")),
            check_script=str(script) if script else None,
            fix_hint=text(entry.get("fix_hint")),
            inline=entry.get("inline") is True,
            retired=entry.get("retired") is True,
            composite_of=tuple(str(x) for x in as_list(entry.get("composite_of"))),
            systems=tuple(str(x) for x in as_list(entry.get("systems"))),
            probes=tuple(str(x) for x in as_list(entry.get("probes"))),
            index=index,
        )


@dataclass
class Registry:
    """The gate registry: gates in file order, first entry wins for a duplicated id."""

    gates: list[Gate]
    by_id: dict[str, Gate]
    duplicates: list[Gate]

    @classmethod
    def from_doc(cls, doc: Document) -> Registry:
        """Return the registry view of a loaded gate.registry.yaml (built once per loaded document)."""
        return cached_view("registry", doc, lambda: cls._build(doc))

    @classmethod
    def _build(cls, doc: Document) -> Registry:
        gates = [Gate.from_entry(e, i) for i, e in enumerate(as_list(doc.data.get("gates"))) if isinstance(e, dict)]
        by_id: dict[str, Gate] = {}
        duplicates: list[Gate] = []
        for gate in gates:
            if gate.id in by_id:
                duplicates.append(gate)
            else:
                by_id[gate.id] = gate
        return cls(gates, by_id, duplicates)

    @property
    def active(self) -> list[Gate]:
        """Return the gates that are not retired, in registry order (first of each id)."""
        return [g for g in self.by_id.values() if not g.retired]


@dataclass(frozen=True)
class Assignment:
    """One `gate_assignments` row of the topology."""

    gate_id: str
    primary_domain: str
    secondary_domains: tuple[str, ...]
    index: int


@dataclass
class Topology:
    """The execution topology: core set, domains, assignments, release sequence and rules."""

    core_gate_ids: list[str]
    core_count_limit: int | None
    domains: list[str]
    assignments: list[Assignment]
    release_sequence: list[str]
    rules: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def from_doc(cls, doc: Document) -> Topology:
        """Return the topology view of a loaded gate.execution.topology.yaml (built once per document)."""
        return cached_view("topology", doc, lambda: cls._build(doc))

    @classmethod
    def _build(cls, doc: Document) -> Topology:
        data = doc.data
        core = data.get("core_mode") or {}
        limit = core.get("core_count_limit")
        rules_raw = data.get("validation_rules") or {}
        # Written out instead of yq's `// true`, so that `false` really switches a rule off.
        rules = {
            name: rules_raw.get(name) is not False
            for name in (
                "require_primary_domain_for_all_active_gates",
                "reject_undefined_domain_refs",
                "require_release_sequence_coverage",
            )
        }
        return cls(
            core_gate_ids=[str(x) for x in as_list(core.get("core_gate_ids"))],
            core_count_limit=limit if isinstance(limit, int) and not isinstance(limit, bool) else None,
            domains=[str(d.get("domain_id")) for d in as_list(data.get("domain_metadata")) if isinstance(d, dict)],
            assignments=[
                Assignment(
                    str(row.get("gate_id", "")),
                    str(row.get("primary_domain") or ""),
                    tuple(str(x) for x in as_list(row.get("secondary_domains"))),
                    i,
                )
                for i, row in enumerate(as_list(data.get("gate_assignments")))
                if isinstance(row, dict)
            ],
            release_sequence=[str(x) for x in as_list(data.get("release_sequence"))],
            rules=rules,
        )

    @cached_property
    def _domains_by_gate(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for row in self.assignments:
            out.setdefault(row.gate_id, [d for d in (row.primary_domain, *row.secondary_domains) if d])
        return out

    def domains_of(self, gate_id: str) -> list[str]:
        """Return the primary then secondary domains assigned to a gate (first row wins)."""
        return self._domains_by_gate.get(gate_id, [])


@dataclass
class RunProfiles:
    """The verify run profile contract, with the ops defaults applied."""

    fast_ring: str = "instant"
    fast_domains: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    domain_ring: str = "standard"
    include_core_base: bool = True
    core_base_domain: str = "core"
    core_base_classes: tuple[str, ...] = ("invariant",)
    target_classes: tuple[str, ...] = ("invariant", "freshness")

    @classmethod
    def from_doc(cls, doc: Document) -> RunProfiles:
        """Build the profile view of a loaded verify.run.profile.contract.yaml."""
        profiles = doc.data.get("profiles") or {}
        fast = profiles.get("fast") or {}
        domain = profiles.get("domain") or {}
        core_base = domain.get("core_base") or {}
        target = domain.get("target") or {}
        return cls(
            fast_ring=str(fast.get("ring") or "instant"),
            fast_domains=[
                (str(d.get("domain")), tuple(str(c) for c in as_list(d.get("classes"))))
                for d in as_list(fast.get("domains"))
                if isinstance(d, dict)
            ]
            or [("core", ("invariant",))],
            domain_ring=str(domain.get("ring") or "standard"),
            include_core_base=domain.get("include_core_base") is not False,
            core_base_domain=str(core_base.get("domain") or "core"),
            core_base_classes=tuple(str(c) for c in as_list(core_base.get("classes"))) or ("invariant",),
            target_classes=tuple(str(c) for c in as_list(target.get("classes"))) or ("invariant", "freshness"),
        )


def ring_budgets(doc: Document | None) -> dict[str, int]:
    """Return the ring budgets in seconds from verify.ring.policy.yaml (ops defaults when unusable)."""
    budgets = dict(DEFAULT_BUDGETS)
    if doc is not None and doc.ok:
        for ring, seconds in (doc.data.get("budgets_seconds") or {}).items():
            if isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds > 0:
                budgets[str(ring)] = int(seconds)
    return budgets
