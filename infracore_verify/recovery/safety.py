"""The effective safety limits of a recovery action (max attempts, cooldown, escalation), in the ops order."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_MAX_ATTEMPTS = 2
DEFAULT_COOLDOWN_SECONDS = 0.0
DEFAULT_ESCALATE_AFTER = 1

_COUNT = re.compile(r"\d+")
_SECONDS = re.compile(r"\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Safety:
    """The effective limits of one recovery action."""

    max_attempts: int
    """Attempts allowed between two recoveries; 0 means the action is never exhausted."""
    cooldown_seconds: float
    """Minimum time between the starts of two attempts."""
    escalate_after: int
    """A failed attempt escalates when its number reaches this value (or the attempts are used up)."""


DEFAULT_SAFETY = Safety(DEFAULT_MAX_ATTEMPTS, DEFAULT_COOLDOWN_SECONDS, DEFAULT_ESCALATE_AFTER)


def _section(action: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = action.get(key)
    return value if isinstance(value, Mapping) else None


def _first_present(*candidates: tuple[Mapping[str, Any] | None, str]) -> Any:
    """Return the first value that is present and not null (`a // b`, but 0 and false count as present)."""
    for section, key in candidates:
        if section is not None and section.get(key) is not None:
            return section[key]
    return None


def _as_count(value: Any, default: int) -> int:
    """Return a non-negative whole number, or `default` for anything else (bools, negatives, fractions, text)."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value if value >= 0 else default
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value >= 0 and value.is_integer() else default
    if isinstance(value, str) and _COUNT.fullmatch(value.strip()):
        return int(value.strip())
    return default


def _as_seconds(value: Any, default: float) -> float:
    """Return a non-negative finite number of seconds, or `default` for anything else."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int | float):
        number = float(value)
        return number if math.isfinite(number) and number >= 0 else default
    if isinstance(value, str) and _SECONDS.fullmatch(value.strip()):
        return float(value.strip())
    return default


def effective_safety(action: Mapping[str, Any], defaults: Mapping[str, Any] | None) -> Safety:
    """Return an action's limits in the ops fallback order (SPINE 7).

    - max_attempts = safety.max_attempts // recovery.max_attempts // defaults.max_attempts // 2
    - cooldown = safety.cooldown_seconds // defaults.cooldown_seconds // 0
    - escalate_after = safety.escalate_after_failures // defaults.escalate_after_failures
      // safety.max_attempts // defaults.max_attempts // 1

    `a // b` is a, else b when a is missing or null. Unlike yq, an explicit 0 or false is a value, not missing.
    The first present value is then checked: anything but a non-negative number (a whole number for the
    counts) becomes 2 / 0 / 1, as in the ops dispatcher; it does not fall through to the next candidate.
    """
    safety = _section(action, "safety")
    recovery = _section(action, "recovery")
    base = defaults if isinstance(defaults, Mapping) else None
    max_attempts = _first_present((safety, "max_attempts"), (recovery, "max_attempts"), (base, "max_attempts"))
    cooldown = _first_present((safety, "cooldown_seconds"), (base, "cooldown_seconds"))
    escalate = _first_present(
        (safety, "escalate_after_failures"),
        (base, "escalate_after_failures"),
        (safety, "max_attempts"),
        (base, "max_attempts"),
    )
    return Safety(
        max_attempts=_as_count(max_attempts, DEFAULT_MAX_ATTEMPTS),
        cooldown_seconds=_as_seconds(cooldown, DEFAULT_COOLDOWN_SECONDS),
        escalate_after=_as_count(escalate, DEFAULT_ESCALATE_AFTER),
    )
