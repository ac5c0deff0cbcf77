"""What the recovery ledger's lines mean: their format, the state they add up to and the decision it allows.

State is keyed by recovery action id and computed from the lines alone (`fold`, one line at a time):

- an `attempt-started` line (`attempt` in ledgers written before it was renamed) counts one attempt and
  stamps the cooldown; it is written, flushed and fsynced before any command runs;
- a `result` line with result `recovered` (or `reset`) clears both the attempt count and the cooldown;
  `failed` and `alerted` change nothing (the attempt was counted when it began);
- `decision` lines (suppressed, exhausted, dry-run, not_run) and every line marked `dry_run` change nothing;
- a `checkpoint` line (the first line of a rotated log) holds the whole state at rotation time.

The decision follows the ops order: cooldown active -> suppressed; attempts used up -> exhausted (escalates);
else run. `LedgerDecision` is what `Ledger.begin` returns and `Ledger.finish` completes.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from infracore_verify.contracts.times import utc_iso
from infracore_verify.recovery.safety import DEFAULT_SAFETY, Safety
from infracore_verify.redact import REDACTOR

KINDS = ("run", "suppressed", "exhausted", "dry-run")
"""The kinds of `LedgerDecision`."""
RUN_RESULTS = ("recovered", "failed", "alerted")
"""Results `finish` accepts for a decision of kind "run"."""
RESULTS = (*RUN_RESULTS, "dry-run", "suppressed", "exhausted")
"""Every result `finish` accepts."""
CLEARING_RESULTS = ("recovered", "reset")
"""Results that clear an action's state (attempt count and cooldown)."""
ATTEMPT_STARTED = "attempt-started"
LEGACY_ATTEMPT = "attempt"
"""What `attempt-started` lines were called before; still read as attempts."""
CHECKPOINT = "checkpoint"
EVENTS = (ATTEMPT_STARTED, "decision", "result", CHECKPOINT, LEGACY_ATTEMPT)
ATTEMPT_EVENTS = (ATTEMPT_STARTED, LEGACY_ATTEMPT)
ALLOWED_RESULTS: Mapping[str, tuple[str, ...]] = {
    "run": RUN_RESULTS,
    "dry-run": ("dry-run", "failed"),
    "suppressed": ("suppressed",),
    "exhausted": ("exhausted",),
}
"""The results `finish` accepts for each decision kind."""


@dataclass(frozen=True)
class LedgerDecision:
    """What `Ledger.begin` decided for one action, and what `Ledger.finish` needs to record the outcome."""

    action_id: str
    kind: str
    """"run", "suppressed", "exhausted" or "dry-run"."""
    attempt: int
    """The attempt number this run is (1-based); for suppressed/exhausted, the attempts used so far."""
    escalate: bool
    """True for "exhausted"; a run's escalation is decided by `finish`."""
    reason: str
    """Human text, e.g. "cooldown active until 2026-11-26T14:10:00Z (1800s after attempt 1)"."""
    started_at: float
    """The clock (POSIX seconds) when the decision was taken."""
    run_key: str = ""
    trigger: str = ""
    would_be: str = ""
    """For a dry run, the kind a real `begin` would have returned ("run", "suppressed", "exhausted");
    otherwise the same as `kind`."""
    safety: Safety = DEFAULT_SAFETY
    record: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)
    """The line `begin` appended (read-only)."""
    ledger_problems: tuple[str, ...] = ()
    """One message per unreadable ledger line when the decision was suppressed because of them."""


def _parse_iso(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def _finite(value: Any) -> float | None:
    """Return a JSON number as a finite float, or None (bools, text, 1e999 and 400-digit integers included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def record_time(record: Mapping[str, Any]) -> float | None:
    """Return a line's time: `unix_time`, else the parsed `timestamp_utc` (a hand-written line), else None."""
    value = _finite(record.get("unix_time"))
    if value is not None:
        return value
    return _parse_iso(record.get("timestamp_utc"))


def action_state_problem(state: Any) -> str | None:
    """Return why a compacted action state ({attempts, last_attempt_at, last_result}) is unusable, or None."""
    if not isinstance(state, Mapping):
        return "an action state is not an object"
    attempts = state.get("attempts")
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 0 <= attempts < 2**31:
        return f"attempts {str(attempts)[:40]!r} is not a count"
    last = state.get("last_attempt_at")
    if last is not None and _finite(last) is None:
        return "last_attempt_at is not a finite number"
    if state.get("last_result") is not None and not isinstance(state.get("last_result"), str):
        return "last_result is not text"
    return None


def record_problem(record: Any) -> str | None:
    """Return why a parsed line is not a usable ledger record, or None when it is."""
    if not isinstance(record, dict):
        return "not a JSON object"
    if not isinstance(record.get("action_id"), str) or not record["action_id"]:
        return "no action_id"
    event = record.get("event")
    if not isinstance(event, str) or event not in EVENTS:
        shown = repr(event)[:60] if isinstance(event, str | int | float | None) else type(event).__name__
        return f"unknown event {shown} (expected one of {', '.join(EVENTS[:4])})"
    if event == CHECKPOINT:
        states = record.get("state")
        if not isinstance(states, Mapping):
            return "checkpoint line without a state object"
        for action_id, state in states.items():
            problem = action_state_problem(state)
            if problem is not None:
                return f"checkpoint state of {str(action_id)[:60]!r}: {problem}"
        return None
    if event not in ATTEMPT_EVENTS and not isinstance(record.get("result"), str):
        return f"{event} line without a result"
    if event in ATTEMPT_EVENTS and record_time(record) is None:
        return "attempt line without a usable time (unix_time or timestamp_utc)"
    return None


def empty_state() -> dict[str, Any]:
    """Return the state of an action without history."""
    return {"attempts": 0, "last_attempt_at": None, "last_result": None}


def fold(states: dict[str, dict[str, Any]], record: Mapping[str, Any]) -> None:
    """Apply one valid ledger line to the compacted state of every action (in place)."""
    if record["event"] == CHECKPOINT:
        states.clear()
        for action_id, state in record["state"].items():
            last = state.get("last_attempt_at")
            states[str(action_id)] = {
                "attempts": int(state["attempts"]),
                "last_attempt_at": None if last is None else _finite(last),
                "last_result": state.get("last_result"),
            }
        return
    if record.get("dry_run") is True:
        return
    state = states.setdefault(record["action_id"], empty_state())
    if record["event"] in ATTEMPT_EVENTS:
        state["attempts"] += 1
        state["last_attempt_at"] = record_time(record)
    elif record["event"] == "result":
        result = record["result"]
        if result in CLEARING_RESULTS:
            state["attempts"], state["last_attempt_at"] = 0, None
        if result in (*RUN_RESULTS, "reset"):
            state["last_result"] = result


def compute_state(records: Sequence[Mapping[str, Any]], action_id: str, safety: Safety, now: float) -> dict[str, Any]:
    """Return an action's state from the valid ledger lines: attempts, last attempt, cooldown, exhaustion."""
    states: dict[str, dict[str, Any]] = {}
    for record in records:
        fold(states, record)
    return state_view(states.get(action_id), action_id, safety, now)


def state_view(state: Mapping[str, Any] | None, action_id: str, safety: Safety, now: float) -> dict[str, Any]:
    """Return an action's state as `Ledger.state` shows it, from its compacted state (None: no history)."""
    state = state if state is not None else empty_state()
    attempts: int = state["attempts"]
    last_attempt_at: float | None = state["last_attempt_at"]
    last_result: str | None = state["last_result"]
    cooldown_until = None if last_attempt_at is None else last_attempt_at + safety.cooldown_seconds
    return {
        "action_id": action_id,
        "attempts": attempts,
        "last_attempt_at": last_attempt_at,
        "last_attempt_utc": None if last_attempt_at is None else utc_iso(last_attempt_at),
        "cooldown_until": cooldown_until,
        "cooldown_until_utc": None if cooldown_until is None else utc_iso(cooldown_until),
        "cooldown_active": cooldown_until is not None and now < cooldown_until,
        "exhausted": safety.max_attempts > 0 and attempts >= safety.max_attempts,
        "last_result": last_result,
        "max_attempts": safety.max_attempts,
        "cooldown_seconds": safety.cooldown_seconds,
        "escalate_after": safety.escalate_after,
    }


def decide(state: Mapping[str, Any], safety: Safety) -> tuple[str, int, bool, str]:
    """Return (kind, attempt, escalate, reason) in the ops order: cooldown, exhaustion, run."""
    attempts: int = state["attempts"]
    if state["cooldown_active"]:
        reason = (
            f"cooldown active until {state['cooldown_until_utc']} "
            f"({safety.cooldown_seconds:g}s after attempt {attempts})"
        )
        return "suppressed", attempts, False, reason
    if state["exhausted"]:
        return "exhausted", attempts, True, f"{attempts} of {safety.max_attempts} attempts used since the last recovery"
    attempt = attempts + 1
    limit = f"of {safety.max_attempts}" if safety.max_attempts > 0 else "(max_attempts 0: never exhausted)"
    return "run", attempt, False, f"attempt {attempt} {limit}"


def escalates(decision: LedgerDecision, result: str) -> bool:
    """Return whether the result of a decision escalates.

    A dry run never does; an exhausted decision and an alert always do; a failed run does when its attempt
    reaches escalate_after or uses up max_attempts.
    """
    if decision.kind == "dry-run":
        return False
    if decision.kind == "exhausted" or result == "alerted":
        return True
    if result == "failed":
        limits = decision.safety
        return decision.attempt >= limits.escalate_after or (
            limits.max_attempts > 0 and decision.attempt >= limits.max_attempts
        )
    return False


def duration_seconds(value: float) -> float | None:
    """Return a duration rounded to milliseconds, or None when it is not a non-negative finite number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return round(number, 3) if math.isfinite(number) and number >= 0 else None


def make_record(
    *,
    now: float,
    run_key: str,
    action_id: str,
    trigger: str,
    event: str,
    attempt: int,
    result: str | None,
    escalated: bool,
    suppressed: bool,
    dry_run: bool,
    would_be: str | None,
    duration: float | None,
    detail: str,
    commands: Sequence[str],
    by: str | None = None,
) -> dict[str, Any]:
    """Return one ledger line; its text fields (run key, trigger, detail, commands) are masked.

    `by` (the user who reset an action by hand) is written on reset lines only.
    """
    mask = REDACTOR.mask
    extra = {"by": mask(by)} if by is not None else {}
    return {
        "timestamp_utc": utc_iso(now),
        "unix_time": round(now, 6),
        "run_key": mask(str(run_key)),
        # The action id is the state key: written verbatim (ids come from the contract, not from secrets).
        "action_id": action_id,
        "trigger": mask(str(trigger)),
        "event": event,
        "attempt": attempt,
        "result": result,
        "escalated": escalated,
        "suppressed": suppressed,
        "dry_run": dry_run,
        "would_be": would_be,
        "duration_seconds": duration,
        "detail": mask(str(detail)),
        "commands": [mask(commands)] if isinstance(commands, str) else [mask(str(c)) for c in commands],
        **extra,
    }
