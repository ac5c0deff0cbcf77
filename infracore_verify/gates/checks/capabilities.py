"""Capability gates: D63 capabilities metadata and D67 capability map parity.

Both give the ops repository's verdict on its data (a repeated capability reads as its last value, a map
entry may have `plugin: ~`), plus the documented defects fixed on purpose (D63: requires cycles and empty
cwd; D67: safety parity). What the suite notices beyond that (names with '__', domain_external
implementation fields, map entries that resolve to no plugin script) is D909's (suite_capabilities.py).
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator
from typing import Any

from infracore_verify.contracts.findings import Finding, did_you_mean
from infracore_verify.contracts.loader import Document
from infracore_verify.contracts.model import as_list
from infracore_verify.gates.checks.base import ContractView, native_gate

SAFETY = ("read-only", "mutating", "destructive")
APPROVAL = ("auto", "manual", "operator")
ARG_PROTOCOLS = ("passthrough", "argparse", "positional", "none")
SECRETS_PRECONDITIONS = ("secrets.binding", "secrets.auth.status")


def _capabilities(doc_data: Any) -> dict[str, Any]:
    caps = doc_data.get("capabilities") if isinstance(doc_data, dict) else None
    return caps if isinstance(caps, dict) else {}


@native_gate("D63", reads=("capabilities",))
def check_capabilities_metadata(c: ContractView) -> Iterator[Finding]:
    """Checks every capability's metadata: required fields, enums, preconditions, commands and cycles."""
    doc = c["capabilities"]
    data = doc.data
    if not str(data.get("version") or "").strip():
        yield doc.finding(("version",), "version is empty", 'set version (e.g. "1.0")')
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(data.get("updated") or "")):
        yield doc.finding(
            ("updated",), f"updated {data.get('updated')!r} is not YYYY-MM-DD", "write the date as YYYY-MM-DD"
        )
    caps = _capabilities(data)
    if not caps:
        yield doc.finding(("capabilities",), "capabilities is empty", "declare at least one capability")
    for name, entry in caps.items():
        if not isinstance(entry, dict):
            yield doc.finding(
                ("capabilities", name), f"capability '{name}' is not a mapping", "write its fields as a mapping"
            )
            continue
        yield from _capability_fields(doc, name, entry)
        yield from _capability_requires(doc, caps, name, entry)
        yield from _capability_cwd(doc, name, entry)
        yield from _command_path(c, doc, name, entry)
    yield from _requires_cycles(doc, caps)


def _capability_fields(doc: Document, name: str, entry: dict[str, Any]) -> Iterator[Finding]:
    """A capability's required fields, enum fields and outputs."""
    where = ("capabilities", name)
    for field in ("description", "command", "safety", "approval"):
        if not str(entry.get(field) or "").strip():
            yield doc.finding(where, f"capability '{name}' has no {field}", f"set {field}")
    for field, allowed in (("safety", SAFETY), ("approval", APPROVAL), ("arg_protocol", ARG_PROTOCOLS)):
        value = entry.get(field)
        if value is not None and value not in allowed:
            yield doc.finding(
                (*where, field),
                f"capability '{name}' has {field} '{value}'{did_you_mean(value, allowed)}",
                "use one of: " + ", ".join(allowed),
            )
    if not as_list(entry.get("outputs")):
        yield doc.finding(where, f"capability '{name}' has no outputs", "list its outputs (e.g. [stdout])")


def _capability_requires(doc: Document, caps: dict[str, Any], name: str, entry: dict[str, Any]) -> Iterator[Finding]:
    """A capability's preconditions: declared capabilities, and the secrets ones when it touches an API."""
    where = ("capabilities", name)
    requires = [str(r) for r in as_list(entry.get("requires"))]
    for i, required in enumerate(requires):
        if required not in caps:
            yield doc.finding(
                (*where, "requires", i),
                f"capability '{name}' requires unknown capability '{required}'{did_you_mean(required, caps)}",
                "declare it or remove it from requires",
            )
    if entry.get("touches_api") is True:
        for needed in SECRETS_PRECONDITIONS:
            if needed not in requires:
                yield doc.finding(
                    (*where, "requires") if "requires" in entry else where,
                    f"capability '{name}' touches an API but does not require {needed}",
                    f"add {needed} to requires",
                )


def _capability_cwd(doc: Document, name: str, entry: dict[str, Any]) -> Iterator[Finding]:
    """Where a capability runs: a cwd, when given, is not empty (the ops gate ignored cwd)."""
    if "cwd" in entry and not str(entry.get("cwd") or "").strip():
        yield doc.finding(
            ("capabilities", name, "cwd"), f"capability '{name}' has an empty cwd", "remove cwd or set a directory"
        )


def _command_path(c: ContractView, doc: Document, name: str, entry: dict[str, Any]) -> Iterator[Finding]:
    try:
        tokens = shlex.split(str(entry.get("command") or ""))
    except ValueError:
        yield doc.finding(
            ("capabilities", name, "command"),
            f"capability '{name}' has unbalanced quotes in its command",
            "fix the quoting",
        )
        return
    if tokens and tokens[0].startswith("./"):
        path = c.contracts.root / tokens[0][2:]
        if not path.is_file():
            yield doc.finding(
                ("capabilities", name, "command"),
                f"capability '{name}' runs '{tokens[0]}', which does not exist in the repository",
                "add the script (executable) or fix the command",
            )
        elif not os.access(path, os.X_OK):
            yield doc.finding(
                ("capabilities", name, "command"),
                f"capability '{name}' runs '{tokens[0]}', which is not executable",
                f"run: chmod +x {tokens[0][2:]}",
            )


def _requires_cycles(doc: Document, caps: dict[str, Any]) -> Iterator[Finding]:
    graph = {
        n: [str(r) for r in as_list(e.get("requires")) if str(r) in caps]
        for n, e in caps.items()
        if isinstance(e, dict)
    }
    state: dict[str, int] = {}
    reported: set[frozenset[str]] = set()

    def visit(node: str, stack: list[str]) -> Iterator[Finding]:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    yield doc.finding(
                        ("capabilities", nxt, "requires"),
                        "requires cycle: " + " -> ".join(cycle),
                        "remove one of these requires entries (preconditions must not loop)",
                    )
            elif state.get(nxt) is None:
                yield from visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in graph:
        if node not in state:
            yield from visit(node, [])


@native_gate("D67", reads=("capabilities", "capability_map"))
def check_capability_map(c: ContractView) -> Iterator[Finding]:
    """Checks that capability_map.yaml covers exactly the declared capabilities with the same safety.

    A repeated key counts once (its last value, as yq reads it); `plugin: ~` is a capability without a
    plugin script. Whether a mapped script exists is D909's question, not the ops gate's.
    """
    cap_doc, map_doc = c["capabilities"], c["capability_map"]
    caps, mapped = _capabilities(cap_doc.data), _capabilities(map_doc.data)
    for name in caps:
        if name not in mapped:
            yield cap_doc.finding(
                ("capabilities", name),
                f"MISSING from map: capability '{name}' has no entry in capability_map.yaml",
                f"add '{name}: {{plugin, script, safety}}' to capability_map.yaml",
            )
    for name, entry in mapped.items():
        where = ("capabilities", name)
        if name not in caps:
            yield map_doc.finding(
                where,
                f"PHANTOM in map: '{name}' is not declared in capabilities.yaml{did_you_mean(name, caps)}",
                "remove it from the map or declare the capability",
            )
            continue
        declared = caps[name] if isinstance(caps[name], dict) else {}
        if isinstance(entry, dict) and entry.get("safety") != declared.get("safety"):
            yield map_doc.finding(
                (*where, "safety"),
                f"'{name}' has safety {entry.get('safety')!r} in the map but {declared.get('safety')!r} in capabilities.yaml",
                "make the two agree",
            )
