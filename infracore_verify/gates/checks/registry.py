"""Registry gates: D85 gate-registry parity (counts, duplicates, implementations, composites).

Pointed at an ops repository, D85 gives the ops verdict: every gate that is neither retired nor inline needs
its check_script with a `# TRIAGE:` line, whether or not the suite runs a native port of it (the 17 fast
ports, D63, D67...). Only in the suite's own contract set may a native, composite or probe-backed gate go
without a script.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from infracore_verify.contracts.findings import Finding, did_you_mean
from infracore_verify.contracts.loader import Document
from infracore_verify.contracts.model import Gate, Registry
from infracore_verify.gates.checks.base import NATIVE, ContractView, native_gate
from infracore_verify.gates.scripts import has_triage_line, script_problem


@native_gate("D85", reads=("registry",))
def check_gate_registry_parity(c: ContractView) -> Iterator[Finding]:
    """Checks gate counts, duplicate ids, composite parts and that every active gate has an implementation."""
    doc, registry = c["registry"], c.registry
    root = c.contracts.root
    yield from _duplicate_ids(doc, registry)
    yield from _gate_counts(doc, registry)
    ops = c.contracts.layout == "ops"
    for gate in registry.active:
        yield from _composite_parts(doc, registry, gate)
        yield from _implementation(doc, root, gate, ops)
    drift_gate = root / "surfaces" / "verify" / "drift-gate.sh"
    if c.contracts.layout == "ops" and drift_gate.is_file():
        yield from _drift_gate_ids(c, drift_gate, registry)


def _duplicate_ids(doc: Document, registry: Registry) -> Iterator[Finding]:
    """Gate ids registered more than once (the first entry is the one that counts)."""
    first_index: dict[str, int] = {}
    for gate in registry.gates:
        if gate.id in first_index:
            yield doc.finding(
                ("gates", gate.index, "id"),
                f"gate id '{gate.id}' is registered twice (first at line {doc.line(('gates', first_index[gate.id]))})",
                "give the second entry a new id or remove it",
            )
        else:
            first_index[gate.id] = gate.index


def _gate_counts(doc: Document, registry: Registry) -> Iterator[Finding]:
    """`gate_count` states the real total, retired and active counts."""
    counts = doc.data.get("gate_count")
    if not isinstance(counts, dict):
        yield doc.finding((), "gate_count is missing", "add gate_count: {total, active, retired}")
        return
    total = len(registry.gates)
    retired = sum(1 for g in registry.gates if g.retired)
    for key, actual, what in (
        ("total", total, "actual gates list length"),
        ("retired", retired, "actual retired count"),
        ("active", total - retired, "actual active count"),
    ):
        if counts.get(key) != actual:
            yield doc.finding(
                ("gate_count", key),
                f"gate_count.{key} ({counts.get(key)}) != {what} ({actual})",
                f"set gate_count.{key}: {actual}",
            )


def _composite_parts(doc: Document, registry: Registry, gate: Gate) -> Iterator[Finding]:
    """The parts of a composite gate are registered and not retired."""
    for i, part in enumerate(gate.composite_of):
        if part not in registry.by_id:
            yield doc.finding(
                ("gates", gate.index, "composite_of", i),
                f"composite part '{part}' of {gate.id} is not a registered gate{did_you_mean(part, registry.by_id)}",
                "register the part or remove it from composite_of",
            )
        elif registry.by_id[part].retired:
            yield doc.finding(
                ("gates", gate.index, "composite_of", i),
                f"composite part '{part}' of {gate.id} is retired",
                "remove it from composite_of",
            )


def _implementation(doc: Document, root: Path, gate: Gate, ops: bool) -> Iterator[Finding]:
    """An active gate has a usable check_script with a TRIAGE line (suite layout: or is native, composite or live).

    In an ops repository only inline gates go without a script, as in the ops D85: a native port does not
    excuse a missing script there, because the ops runner still runs it.
    """
    if gate.inline or (not ops and (gate.id in NATIVE or gate.composite_of or gate.probes)):
        return
    where = ("gates", gate.index)
    if not gate.check_script and ops:
        yield doc.finding(
            where,
            f"active gate '{gate.id}' has no check_script (the ops runner fails it as a gate bug)",
            f"set check_script: surfaces/verify/{gate.id.lower()}-<name>.sh (or mark the gate retired or inline)",
        )
        return
    if not gate.check_script:
        yield doc.finding(
            where,
            f"active gate '{gate.id}' has no implementation (no native check and no check_script)",
            "implement it in infracore_verify/checks or set check_script",
        )
        return
    problem = script_problem(root, gate.check_script)
    if problem:
        yield doc.finding((*where, "check_script"), *problem)
    elif not has_triage_line(root, gate.check_script):
        yield doc.finding(
            (*where, "check_script"),
            f"check_script '{gate.check_script}' has no '# TRIAGE:' line",
            "add '# TRIAGE: <how to fix>' near the top of the script",
        )


def _drift_gate_ids(c: ContractView, drift_gate: Path, registry: Registry) -> Iterator[Finding]:
    """In the ops layout, every gate drift-gate.sh runs is registered."""
    text = drift_gate.read_text(encoding="utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        match = re.search(r'echo -n "(D\d+)', line)
        if match and match.group(1) not in registry.by_id:
            yield Finding(
                c.contracts.display(drift_gate),
                number,
                "",
                f"drift-gate.sh runs '{match.group(1)}', which is not in the gate registry",
                "register the gate or remove it from drift-gate.sh",
            )
