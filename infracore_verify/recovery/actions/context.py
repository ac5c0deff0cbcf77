"""What every recovery action type shares: its context, its step and outcome records, and its errors.

Exception hierarchy:

    RecoveryError                       a binding or environment problem: unknown host, missing stack
    │                                   directory, missing field or capability; the message names the
    │                                   file, the field and the fix
    └── RecoveryUnsupportedTypeError    capability_rerun or an unknown recovery type
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

Verify = Callable[[], tuple[bool, str]]


class ContainerRuntime(Protocol):
    """A runtime the suite owns that restarts systems in place of docker (the sandbox's: sandbox/runtime.py)."""

    name: str
    """How steps name it, e.g. "sandbox runtime"."""

    def describe(self, stack: str, services: Sequence[str]) -> str:
        """Return what a restart of the stack would do; raise ValueError when the runtime has no such stack."""
        ...

    def restart(self, stack: str, services: Sequence[str]) -> str:
        """Restart the stack and return what happened; raise ValueError when the runtime has no such stack."""
        ...


class RecoveryError(Exception):
    """A binding or environment problem that stops an action before it runs; the message says the fix."""


class RecoveryUnsupportedTypeError(RecoveryError):
    """The action's recovery type is legacy (capability_rerun) or unknown."""


@dataclass
class StepRecord:
    """One command, HTTP call or verification poll of an action, already redacted."""

    kind: str
    """command | http | verify"""
    description: str
    argv: list[str] = field(default_factory=list)
    returncode: int | None = None
    output: str = ""
    duration: float = 0.0
    ok: bool = True


@dataclass
class ActionOutcome:
    """What an action did: result (recovered | failed | alerted | dry-run), steps, verification and why."""

    result: str
    steps: list[StepRecord]
    verification: str
    detail: str


@dataclass
class RecoveryContext:
    """Everything an action needs: its entry, the environment's hosts and the caller's probes and clocks."""

    action: Mapping[str, Any]
    hosts: Mapping[str, Mapping[str, Any]]
    run_key: str
    trigger: str
    verify: Verify
    rerun_capability: Callable[[str], tuple[bool, str]]
    alert_url: str | None
    repo_root: Path
    capabilities: Mapping[str, Any]
    verify_timeout: float = 120.0
    verify_interval: float = 5.0
    launchd_domain: str | None = None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    env: Mapping[str, str] | None = None
    command_timeout: float = 120.0
    alert_timeout: float = 10.0
    environment: str | None = None
    """Environment name, sent in the alert body when set."""
    actions_file: str = "contracts/recovery.actions.yaml"
    environment_file: str = "the environment file"
    """How messages name the environment file (e.g. contracts/environments/prod.yaml)."""
    runtime: ContainerRuntime | None = None
    """Set in the sandbox environment: restarts act on it, and nothing touches a container runtime or a host."""

    @property
    def action_id(self) -> str:
        """Return the action's id ('?' when it has none)."""
        return str(self.action.get("id", "?"))

    @property
    def recovery(self) -> Mapping[str, Any]:
        """Return the action's recovery block."""
        block = self.action.get("recovery")
        if not isinstance(block, Mapping):
            raise RecoveryError(
                f"{self.actions_file} action '{self.action_id}': recovery is missing or not a mapping; "
                "give the action a recovery block with a type"
            )
        return block

    def where(self, name: str) -> str:
        """Return how a message names a recovery field: `<file> action '<id>' recovery.<name>`."""
        return f"{self.actions_file} action '{self.action_id}' recovery.{name}"

    def probe_label(self) -> str:
        """Return the verification probes' names (trigger.probe_ids) for messages."""
        trigger = self.action.get("trigger")
        ids = trigger.get("probe_ids") if isinstance(trigger, Mapping) else None
        names = [str(i) for i in ids] if isinstance(ids, list) else []
        return ", ".join(names) or "verification"
