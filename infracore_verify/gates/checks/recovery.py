"""Recovery gate: D901 recovery bindings are sound (types, triggers, required fields, safety numbers)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from infracore_verify.contracts.findings import Finding, did_you_mean
from infracore_verify.contracts.loader import Document, Key
from infracore_verify.contracts.model import RECOVERY_TYPES, Registry, as_list, mapping
from infracore_verify.gates.checks.base import ContractView, native_gate

REQUIRED_FIELDS = {
    "docker_compose_restart": ("target", "stack"),
    "capability_retry": ("capability",),
    "alert_only": ("capability",),
    "launchd_restart": ("label",),
    "capability_commit": ("capability", "allowlist_file", "commit_message"),
}
LEGACY_FIX = "convert it to one capability_retry action per capability"


def actions(doc: Document) -> list[dict[str, Any]]:
    """Return the action entries of recovery.actions.yaml (mappings only)."""
    return [a for a in as_list(doc.data.get("actions")) if isinstance(a, dict)]


def is_count(value: Any, minimum: int) -> bool:
    """Return True for an integer (not a bool) of at least `minimum`."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def retry_problems(recovery: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Return (field, what is wrong, fix) for a capability_retry block (shared by D320 and D901)."""
    problems = []
    if not recovery.get("capability"):
        problems.append(("capability", "capability_retry has no capability", "set recovery.capability"))
    if not is_count(recovery.get("max_attempts"), 1):
        problems.append(
            (
                "max_attempts",
                f"capability_retry max_attempts is {recovery.get('max_attempts')!r}, not an integer >= 1",
                "set max_attempts: 2",
            )
        )
    backoff = recovery.get("backoff_seconds")
    if not isinstance(backoff, list) or not backoff:
        problems.append(
            ("backoff_seconds", "capability_retry has no backoff_seconds", "set backoff_seconds: [60, 300]")
        )
    elif not all(isinstance(b, int | float) and not isinstance(b, bool) and b >= 0 for b in backoff):
        problems.append(
            (
                "backoff_seconds",
                f"backoff_seconds {backoff} holds a value that is not a number >= 0",
                "use seconds, e.g. [60, 300]",
            )
        )
    return problems


@native_gate("D901", reads=("recovery", "registry", "capabilities"))
def check_recovery_bindings(c: ContractView) -> Iterator[Finding]:
    """Checks recovery actions: supported types, registered explicit triggers, required fields, safety numbers."""
    doc = c["recovery"]
    registry = c.registry
    caps = c["capabilities"].data.get("capabilities") or {}
    defaults = doc.data.get("defaults") or {}
    yield from _safety_numbers(doc, ("defaults",), defaults)
    seen: dict[str, int] = {}
    for i, action in enumerate(actions(doc)):
        where: Key = ("actions", i)
        action_id = str(action.get("id", ""))
        if action_id in seen:
            yield doc.finding(
                (*where, "id"),
                f"action id '{action_id}' is defined twice (first at line {doc.line(('actions', seen[action_id]))})",
                "rename or remove one",
            )
        seen.setdefault(action_id, i)
        yield from _trigger(doc, registry, caps, where, action_id, mapping(action.get("trigger")))
        yield from _recovery(doc, caps, where, action_id, mapping(action.get("recovery")))
        yield from _safety_numbers(doc, (*where, "safety"), mapping(action.get("safety")))


def _safety_numbers(doc: Document, where: Key, block: Any) -> Iterator[Finding]:
    """Whole numbers for the retry limits of `defaults` or of an action's `safety` block (when they are set)."""
    prefix = str(where[-1])
    for key, minimum in (("max_attempts", 0), ("cooldown_seconds", 0), ("escalate_after_failures", 1)):
        if key in block and not is_count(block[key], minimum):
            yield doc.finding(
                (*where, key),
                f"{prefix}.{key} is {block[key]!r}, not an integer >= {minimum}",
                f"set a whole number >= {minimum}",
            )


def _trigger(
    doc: Document, registry: Registry, caps: Any, where: Key, action_id: str, trigger: dict[str, Any]
) -> Iterator[Finding]:
    """An action's trigger: explicit (or manual only), registered live gates, declared probes, a known class."""
    gate_ids = [str(g) for g in as_list(trigger.get("gate_ids"))]
    probe_ids = [str(p) for p in as_list(trigger.get("probe_ids"))]
    manual = trigger.get("manual_only") is True
    if not gate_ids and not probe_ids and not manual:
        yield doc.finding(
            (*where, "trigger"),
            f"action '{action_id}' has an empty trigger list, which the ops dispatcher treats as a wildcard for every gate",
            "list the trigger gate_ids, or set trigger.manual_only: true",
        )
    if manual and (gate_ids or probe_ids):
        yield doc.finding(
            (*where, "trigger", "manual_only"),
            f"action '{action_id}' is manual_only but lists triggers",
            "drop manual_only or the triggers",
        )
    yield from _trigger_gates(doc, registry, where, gate_ids)
    for j, probe_id in enumerate(probe_ids):
        if probe_id not in caps:
            yield doc.finding(
                (*where, "trigger", "probe_ids", j),
                f"trigger probe '{probe_id}' is not a capability{did_you_mean(probe_id, caps)}",
                "declare it in capabilities.yaml or remove it",
            )
    failure_class = trigger.get("failure_class", "deterministic")
    if failure_class not in ("deterministic", "freshness"):
        yield doc.finding(
            (*where, "trigger", "failure_class"),
            f"failure_class '{failure_class}' is not deterministic or freshness",
            "use deterministic or freshness",
        )


def _trigger_gates(doc: Document, registry: Registry, where: Key, gate_ids: list[str]) -> Iterator[Finding]:
    """The trigger gates of an action are registered and not retired."""
    for j, gate_id in enumerate(gate_ids):
        gate = registry.by_id.get(gate_id)
        if gate is None:
            yield doc.finding(
                (*where, "trigger", "gate_ids", j),
                f"'{gate_id}' is not a registered gate{did_you_mean(gate_id, registry.by_id)}",
                "add it to gate.registry.yaml or remove it from the trigger",
            )
        elif gate.retired:
            yield doc.finding(
                (*where, "trigger", "gate_ids", j),
                f"trigger gate '{gate_id}' is retired",
                "remove it from the trigger",
            )


def _recovery(doc: Document, caps: Any, where: Key, action_id: str, recovery: dict[str, Any]) -> Iterator[Finding]:
    """An action's recovery block: a supported type with its required fields, retry numbers and capability."""
    rtype = str(recovery.get("type", ""))
    if rtype == "capability_rerun":
        yield doc.finding(
            (*where, "recovery", "type"),
            f"action '{action_id}' uses unsupported legacy recovery type 'capability_rerun'",
            LEGACY_FIX,
        )
        return
    if rtype not in RECOVERY_TYPES:
        yield doc.finding(
            (*where, "recovery", "type"),
            f"action '{action_id}' has unsupported recovery type '{rtype}'{did_you_mean(rtype, RECOVERY_TYPES)}",
            "use one of: " + ", ".join(RECOVERY_TYPES),
        )
        return
    for field in REQUIRED_FIELDS[rtype]:
        if not recovery.get(field):
            yield doc.finding(
                (*where, "recovery"),
                f"{rtype} action '{action_id}' has no {field}",
                f"set recovery.{field}",
            )
    if rtype == "capability_retry":
        for field, message, fix in retry_problems(recovery):
            if field != "capability":
                yield doc.finding((*where, "recovery", field), f"action '{action_id}': {message}", fix)
    capability = recovery.get("capability")
    if capability and capability not in caps:
        yield doc.finding(
            (*where, "recovery", "capability"),
            f"capability '{capability}' of action '{action_id}' is not declared{did_you_mean(capability, caps)}",
            "declare it in capabilities.yaml or fix the name",
        )
