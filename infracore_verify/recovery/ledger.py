"""Recovery safety state: an append-only JSON Lines ledger of decisions and results, guarded by a file lock.

The ledger replaces the ops dispatcher's `state/{cooldown,attempts}/<id>` files (SPINE 7). Its state is keyed
by recovery action id, never by gate, and is computed from the ledger lines alone:

- an `attempt` line (written by `Ledger.begin` before a run starts) counts one attempt and stamps the cooldown;
- a `result` line with result `recovered` (or `reset`, written by `Ledger.reset`) clears both the attempt count
  and the cooldown; `failed` and `alerted` change nothing (the attempt was counted when it began);
- `decision` lines (suppressed, exhausted, dry-run) and every line marked `dry_run` change nothing.

`begin` holds an exclusive `filelock.FileLock(<ledger>.lock)` for the whole read-decide-append, so two processes,
xdist workers or threads can never both decide "run" for one action inside its cooldown. The order of checks
is the ops order: cooldown active -> suppressed; attempts used up -> exhausted (escalates); else run.

Each line is one JSON object, appended with a single write + flush + fsync under the lock:
`{timestamp_utc, unix_time, run_key, action_id, trigger, event, attempt, result, escalated, suppressed,
dry_run, would_be, duration_seconds, detail, commands}`; `event` is `attempt`, `decision` or `result`.
Text fields (run key, trigger, detail, commands) pass through `REDACTOR.mask`. A corrupt line is skipped and
reported on `Ledger.warnings`; the state comes from the valid lines.

Exceptions::

    LedgerError                 base of everything this module raises on purpose
    ├── LedgerBusyError         the ledger lock was not acquired within lock_timeout
    └── LedgerUsageError        (also a ValueError) a call that contradicts the decision it finishes
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from filelock import FileLock, Timeout

from infracore_verify.redact import REDACTOR

_LOG = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 2
DEFAULT_COOLDOWN_SECONDS = 0.0
DEFAULT_ESCALATE_AFTER = 1

KINDS = ("run", "suppressed", "exhausted", "dry-run")
"""The kinds of `Decision`."""
RUN_RESULTS = ("recovered", "failed", "alerted")
"""Results `finish` accepts for a decision of kind "run"."""
RESULTS = (*RUN_RESULTS, "dry-run", "suppressed", "exhausted")
"""Every result `finish` accepts."""
CLEARING_RESULTS = ("recovered", "reset")
"""Results that clear an action's state (attempt count and cooldown)."""
EVENTS = ("attempt", "decision", "result")

_COUNT = re.compile(r"\d+")
_SECONDS = re.compile(r"\d+(?:\.\d+)?")


class LedgerError(Exception):
    """Base of the errors this module raises on purpose."""


class LedgerBusyError(LedgerError):
    """The ledger lock was not acquired within the lock timeout (another run holds it)."""

    def __init__(self, lock_file: Path, timeout: float) -> None:
        self.lock_file = lock_file
        self.timeout = timeout
        super().__init__(
            f"recovery ledger is busy: could not lock {lock_file} within {timeout:g}s; another recovery run "
            "(process, xdist worker or thread) holds it; retry when it has finished, or raise lock_timeout"
        )


class LedgerUsageError(LedgerError, ValueError):
    """A call contradicts the ledger's rules (an unknown result, a result that does not fit the decision)."""


# --- limits -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Safety:
    """The effective limits of one recovery action."""

    max_attempts: int
    """Attempts allowed between two recoveries; 0 means the action is never exhausted."""
    cooldown_seconds: float
    """Minimum time between the starts of two attempts."""
    escalate_after: int
    """A failed attempt escalates when its number reaches this value (or the attempts are used up)."""


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


# --- decisions --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
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
    safety: Safety = Safety(DEFAULT_MAX_ATTEMPTS, DEFAULT_COOLDOWN_SECONDS, DEFAULT_ESCALATE_AFTER)
    record: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)
    """The line `begin` appended (read-only)."""


def utc_iso(timestamp: float) -> str:
    """Return POSIX seconds as an ISO 8601 UTC string with a Z suffix (whole seconds)."""
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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


def _record_time(record: Mapping[str, Any]) -> float | None:
    """Return a line's time: `unix_time`, else the parsed `timestamp_utc` (a hand-written line), else None."""
    value = record.get("unix_time")
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return _parse_iso(record.get("timestamp_utc"))


def _record_problem(record: Any) -> str | None:
    """Return why a parsed line is not a usable ledger record, or None when it is."""
    if not isinstance(record, dict):
        return "not a JSON object"
    if not isinstance(record.get("action_id"), str) or not record["action_id"]:
        return "no action_id"
    event = record.get("event")
    if event not in EVENTS:
        return f"unknown event {event!r} (expected one of {', '.join(EVENTS)})"
    if event != "attempt" and not isinstance(record.get("result"), str):
        return f"{event} line without a result"
    if event == "attempt" and _record_time(record) is None:
        return "attempt line without a usable time (unix_time or timestamp_utc)"
    return None


def _compute_state(records: Sequence[Mapping[str, Any]], action_id: str, safety: Safety, now: float) -> dict[str, Any]:
    attempts = 0
    last_attempt_at: float | None = None
    last_result: str | None = None
    for record in records:
        if record["action_id"] != action_id or record.get("dry_run") is True:
            continue
        if record["event"] == "attempt":
            attempts += 1
            last_attempt_at = _record_time(record)
        elif record["event"] == "result":
            result = record["result"]
            if result in CLEARING_RESULTS:
                attempts, last_attempt_at = 0, None
            if result in (*RUN_RESULTS, "reset"):
                last_result = result
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


def _decide(state: Mapping[str, Any], safety: Safety) -> tuple[str, int, bool, str]:
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


def _duration(value: float) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return round(number, 3) if math.isfinite(number) and number >= 0 else None


# --- the ledger -------------------------------------------------------------------------------------------


class Ledger:
    """An append-only JSON Lines ledger of recovery decisions and results, safe across processes and threads."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time, lock_timeout: float = 30.0) -> None:
        """Use the ledger at `path` (created with its directory on first use) and lock `<path>.lock`."""
        self.path = Path(path)
        self.lock_path = Path(f"{self.path}.lock")
        self.clock = clock
        self.lock_timeout = lock_timeout
        self.warnings: list[str] = []
        """One line per corrupt ledger line skipped (each reported once per Ledger instance)."""
        self._warned: set[tuple[int, int]] = set()
        self._guard = threading.Lock()

    # The public operations -----------------------------------------------------------------------------

    def begin(self, action_id: str, safety: Safety, *, run_key: str, trigger: str, dry_run: bool = False) -> Decision:
        """Decide whether `action_id` may run now and record the decision before returning.

        Under the lock: cooldown active -> "suppressed"; attempts used up -> "exhausted" (escalates); else
        "run", and the attempt line (which stamps the cooldown) is appended before the lock is released, so a
        concurrent `begin` sees it. A dry run records what would happen and changes no state.
        """
        if not isinstance(action_id, str) or not action_id:
            raise LedgerUsageError(f"action_id must be a non-empty string, got {action_id!r}")
        with self._locked():
            now = self.clock()
            state = _compute_state(self._read(), action_id, safety, now)
            kind, attempt, escalate, reason = _decide(state, safety)
            would_be = kind
            if dry_run:
                verb = "run" if kind == "run" else f"be {kind}"
                reason = f"dry run, nothing changed: would {verb}: {reason}"
                kind, escalate = "dry-run", False
            if kind == "run":
                event, result = "attempt", None
            else:
                event, result = "decision", kind
            record = self._record(
                now=now,
                run_key=run_key,
                action_id=action_id,
                trigger=trigger,
                event=event,
                attempt=attempt,
                result=result,
                escalated=escalate,
                suppressed=kind == "suppressed",
                dry_run=dry_run,
                would_be=would_be if dry_run else None,
                duration=None,
                detail=reason,
                commands=(),
            )
            self._append(record)
        return Decision(
            action_id=action_id,
            kind=kind,
            attempt=attempt,
            escalate=escalate,
            reason=reason,
            started_at=now,
            run_key=run_key,
            trigger=trigger,
            would_be=would_be,
            safety=safety,
            record=MappingProxyType(dict(record)),
        )

    def finish(
        self, decision: Decision, *, result: str, duration: float, detail: str = "", commands: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Append the result line of a decision and return it.

        A "run" ends "recovered" (clears the state), "failed" (escalates when the attempt reaches
        escalate_after or uses up max_attempts) or "alerted" (always escalates, clears nothing). A suppressed
        or exhausted decision ends with its own kind; a dry run ends "dry-run" (or "failed" when it could not
        even be planned) and changes no state.
        """
        if result not in RESULTS:
            raise LedgerUsageError(f"unknown recovery result {result!r}; expected one of {', '.join(RESULTS)}")
        kind = decision.kind
        allowed = {
            "run": RUN_RESULTS,
            "dry-run": ("dry-run", "failed"),
            "suppressed": ("suppressed",),
            "exhausted": ("exhausted",),
        }.get(kind, ())
        if result not in allowed:
            raise LedgerUsageError(
                f"{decision.action_id}: result {result!r} does not fit a {kind!r} decision; "
                f"expected {' or '.join(repr(r) for r in allowed) or 'nothing: unknown decision kind'}"
            )
        dry_run = kind == "dry-run"
        if dry_run:
            escalated = False
        elif kind == "exhausted" or result == "alerted":
            escalated = True
        elif result == "failed":
            limits = decision.safety
            escalated = decision.attempt >= limits.escalate_after or (
                limits.max_attempts > 0 and decision.attempt >= limits.max_attempts
            )
        else:
            escalated = False
        with self._locked():
            record = self._record(
                now=self.clock(),
                run_key=decision.run_key,
                action_id=decision.action_id,
                trigger=decision.trigger,
                event="result",
                attempt=decision.attempt,
                result=result,
                escalated=escalated,
                suppressed=kind == "suppressed",
                dry_run=dry_run,
                would_be=decision.would_be if dry_run else None,
                duration=_duration(duration),
                detail=detail,
                commands=commands,
            )
            self._append(record)
        return record

    def reset(self, action_id: str, *, run_key: str, detail: str = "") -> dict[str, Any]:
        """Clear an action's state (attempts and cooldown) by hand, e.g. after an operator fixed an exhausted one."""
        if not isinstance(action_id, str) or not action_id:
            raise LedgerUsageError(f"action_id must be a non-empty string, got {action_id!r}")
        with self._locked():
            record = self._record(
                now=self.clock(),
                run_key=run_key,
                action_id=action_id,
                trigger="manual",
                event="result",
                attempt=0,
                result="reset",
                escalated=False,
                suppressed=False,
                dry_run=False,
                would_be=None,
                duration=None,
                detail=detail,
                commands=(),
            )
            self._append(record)
        return record

    def records(self, action_id: str | None = None) -> list[dict[str, Any]]:
        """Return the valid ledger lines in file order, optionally only those of one action."""
        with self._locked():
            records = self._read()
        return [r for r in records if action_id is None or r["action_id"] == action_id]

    def state(self, action_id: str, safety: Safety) -> dict[str, Any]:
        """Return an action's state now: attempts since the last recovery, last attempt, cooldown, exhaustion."""
        with self._locked():
            now = self.clock()
            records = self._read()
        return _compute_state(records, action_id, safety, now)

    # Plumbing ------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the exclusive ledger lock, creating the ledger's directory and file when missing."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # A fresh lock object per operation: nothing is shared between threads but the lock file itself.
        lock = FileLock(str(self.lock_path), timeout=self.lock_timeout, poll_interval=0.01)
        try:
            lock.acquire()
        except Timeout as exc:
            raise LedgerBusyError(self.lock_path, self.lock_timeout) from exc
        try:
            self.path.touch(exist_ok=True)
            yield
        finally:
            lock.release()

    def _read(self) -> list[dict[str, Any]]:
        """Return the valid lines (the caller holds the lock); corrupt lines become warnings."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        records: list[dict[str, Any]] = []
        for number, line in enumerate(data.decode("utf-8", errors="replace").split("\n"), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                self._warn(number, line, f"not JSON ({exc.msg} at column {exc.colno})")
                continue
            problem = _record_problem(record)
            if problem is not None:
                self._warn(number, line, problem)
                continue
            records.append(record)
        return records

    def _warn(self, number: int, line: str, problem: str) -> None:
        # The line's text is left out: a hand edit may have put anything there.
        key = (number, hash(line))
        with self._guard:
            if key in self._warned:
                return
            self._warned.add(key)
            message = f"{self.path}:{number}: skipped a corrupt ledger line: {problem}; the state uses the valid lines"
            self.warnings.append(message)
        _LOG.warning("%s", message)

    def _append(self, record: Mapping[str, Any]) -> None:
        """Append one line with a single write, flush and fsync (the caller holds the lock)."""
        data = (json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
        with self.path.open("a+b") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell() > 0:
                handle.seek(-1, os.SEEK_END)
                # A torn last line (a crash mid-write) must not swallow this record too.
                if handle.read(1) != b"\n":
                    data = b"\n" + data
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())

    @staticmethod
    def _record(
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
    ) -> dict[str, Any]:
        mask = REDACTOR.mask
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
        }


__all__ = [
    "KINDS",
    "RESULTS",
    "RUN_RESULTS",
    "Decision",
    "Ledger",
    "LedgerBusyError",
    "LedgerError",
    "LedgerUsageError",
    "Safety",
    "effective_safety",
    "utc_iso",
]
