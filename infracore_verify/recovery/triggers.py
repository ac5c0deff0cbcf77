"""Which failures select a recovery action: exact ids, and only failure classes the action can help with.

A restart helps when a system is unavailable, never when a token is wrong, a response drifts from its
schema, the inventory drifts or the suite is misconfigured. Each action declares the failure classes that
trigger it (`trigger.failure_classes` in recovery.actions.yaml); the default is the availability classes:

    network_error   no response: connection refused or reset, DNS failure
    timeout         no response in time
    api_error       5xx (the clients' class for a server error; also Cloudflare's success:false envelope)
    unhealthy       a health endpoint that answered but not healthy

A failing probe of `trigger.probe_ids` selects the action when its class is one of these; a failing gate of
`trigger.gate_ids` when its class equals `trigger.failure_class` (the ops rule) and is one of these. A
failure of another class never selects it, and the reason names the class that was seen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

AVAILABILITY_CLASSES: tuple[str, ...] = ("network_error", "timeout", "api_error", "unhealthy")
"""The default trigger classes of every action: failures a restart or a retry can fix."""
MANUAL = "manual (--recover)"


def trigger_classes(action: Mapping[str, Any]) -> tuple[str, ...]:
    """Return the failure classes that trigger an action: trigger.failure_classes, else AVAILABILITY_CLASSES."""
    trigger = action.get("trigger")
    declared = trigger.get("failure_classes") if isinstance(trigger, Mapping) else None
    if isinstance(declared, list) and declared and all(isinstance(c, str) and c for c in declared):
        return tuple(declared)
    return AVAILABILITY_CLASSES


@dataclass(frozen=True)
class Trigger:
    """What an action is selected by: its ids, the gate class of the ops rule and the classes it helps with."""

    action_id: str
    gate_ids: tuple[str, ...]
    probe_ids: tuple[str, ...]
    gate_class: str
    classes: tuple[str, ...]
    manual_only: bool


@dataclass(frozen=True)
class Selection:
    """Whether an action runs: `hits` (what triggered it) or `reason` (why it does not run)."""

    hits: str | None
    reason: str


def select(trigger: Trigger, failures: Mapping[str, str], named: Sequence[str]) -> Selection:
    """Return what selects the action among this run's failures (id -> class), or why nothing does."""
    if trigger.action_id in named:
        return Selection(MANUAL, "")
    hits: list[str] = []
    seen: list[str] = []
    for gate in trigger.gate_ids:
        found = failures.get(gate)
        if found is None:
            continue
        if found == trigger.gate_class and found in trigger.classes:
            hits.append(gate)
        else:
            seen.append(f"{gate} failed with class {found}")
    for probe in trigger.probe_ids:
        found = failures.get(probe)
        if found is None:
            continue
        if found in trigger.classes:
            hits.append(probe)
        else:
            seen.append(f"{probe} failed with class {found}")
    if hits:
        return Selection(",".join(hits), "")
    if seen:
        return Selection(
            None,
            f"not triggered: {'; '.join(seen)}, which this action cannot fix; it triggers on "
            f"{', '.join(trigger.classes)} (trigger.failure_classes)",
        )
    if trigger.manual_only or not (trigger.gate_ids or trigger.probe_ids):
        return Selection(None, f"manual only: run it with --recover {trigger.action_id}")
    return Selection(
        None, "not triggered: none of " + ", ".join((*trigger.gate_ids, *trigger.probe_ids)) + " failed in this run"
    )
