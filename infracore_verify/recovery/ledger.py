"""Recovery safety state: an append-only JSON Lines ledger of decisions and results, guarded by a file lock.

The ledger replaces the ops dispatcher's `state/{cooldown,attempts}/<id>` files (SPINE 7). Its state is keyed
by recovery action id, never by gate, and is computed from the ledger lines alone (ledger_state.py):

- an `attempt-started` line (written, flushed and fsynced by `Ledger.begin` before any command runs) counts
  one attempt and stamps the cooldown;
- a `result` line with result `recovered` (or `reset`, written by `Ledger.reset`) clears both the attempt count
  and the cooldown; `failed` and `alerted` change nothing (the attempt was counted when it began);
- `decision` lines (suppressed, exhausted, dry-run, not_run) and every line marked `dry_run` change nothing.

`begin` holds an exclusive `filelock.FileLock(<ledger>.lock)` for the whole read-decide-append, so two processes,
xdist workers or threads can never both decide "run" for one action inside its cooldown. The order of checks
is the ops order: an unreadable ledger line -> suppressed (fail closed); cooldown active -> suppressed;
attempts used up -> exhausted (escalates); else run. The limits (`Safety`, `effective_safety`) are in safety.py.

Decisions read a compacted state file next to the log and only the lines written since, so they cost
O(actions), not O(history); the log rotates by size, and the new log starts with a checkpoint of the state
(ledger_files.py).

Each line is one JSON object, appended with a single write + flush + fsync under the lock:
`{timestamp_utc, unix_time, run_key, action_id, trigger, event, attempt, result, escalated, suppressed,
dry_run, would_be, duration_seconds, detail, commands}` (plus `by` on a reset line); `event` is
`attempt-started`, `decision`, `result` or `checkpoint`. Text fields (run key, trigger, detail, commands)
pass through `REDACTOR.mask`. An unreadable line is never skipped: every action is suppressed, naming the
line, until it is repaired (`Ledger.warnings`, `LedgerDecision.ledger_problems`).

Exceptions::

    LedgerError                 base of everything this module raises on purpose
    ├── LedgerBusyError         the ledger lock was not acquired within lock_timeout
    ├── LedgerFileError         the ledger, its lock or its state path cannot be used (names the path and fix)
    └── LedgerUsageError        (also a ValueError) a call that contradicts the decision it finishes
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from filelock import FileLock, Timeout

from infracore_verify.contracts.times import utc_iso
from infracore_verify.recovery.ledger_files import (
    DEFAULT_KEEP,
    DEFAULT_MAX_BYTES,
    Folded,
    LedgerBusyError,
    LedgerError,
    LedgerFileError,
    LedgerFiles,
)
from infracore_verify.recovery.ledger_state import (
    ALLOWED_RESULTS,
    ATTEMPT_STARTED,
    CHECKPOINT,
    CLEARING_RESULTS,
    EVENTS,
    KINDS,
    RESULTS,
    RUN_RESULTS,
    LedgerDecision,
    decide,
    duration_seconds,
    escalates,
    make_record,
    state_view,
)
from infracore_verify.recovery.safety import (
    DEFAULT_COOLDOWN_SECONDS,
    DEFAULT_ESCALATE_AFTER,
    DEFAULT_MAX_ATTEMPTS,
    Safety,
    effective_safety,
)

_LOG = logging.getLogger(__name__)
DEFAULT_LOCK_TIMEOUT = 30.0


class LedgerUsageError(LedgerError, ValueError):
    """A call contradicts the ledger's rules (an unknown result, a result that does not fit the decision)."""


def _check_action_id(action_id: Any) -> None:
    if not isinstance(action_id, str) or not action_id:
        raise LedgerUsageError(f"action_id must be a non-empty string, got {action_id!r}")


def unreadable_reason(path: Path, unreadable: Sequence[tuple[int, str]]) -> str:
    """Return why every action is suppressed while the ledger has unreadable lines (names the first one)."""
    number, problem = unreadable[0]
    more = f" (and {len(unreadable) - 1} more)" if len(unreadable) > 1 else ""
    return (
        f"ledger line {number} unreadable: {problem}{more}; nothing ran: repair or delete that line in {path}, "
        "then run again"
    )


# --- the ledger -------------------------------------------------------------------------------------------


class Ledger:
    """An append-only JSON Lines ledger of recovery decisions and results, safe across processes and threads."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        max_bytes: int = DEFAULT_MAX_BYTES,
        keep: int = DEFAULT_KEEP,
    ) -> None:
        """Use the ledger at `path` (created with its directory on first use) and lock `<path>.lock`.

        The log rotates when an append would take it over `max_bytes` (0: never), keeping `keep` old logs.
        """
        self.path = Path(path)
        self.lock_path = Path(f"{self.path}.lock")
        self.clock = clock
        self.lock_timeout = lock_timeout
        self.files = LedgerFiles(self.path, max_bytes=max_bytes, keep=keep)
        self._guard = threading.Lock()

    @property
    def state_path(self) -> Path:
        """Return the compacted state file next to the log."""
        return self.files.state_path

    @property
    def warnings(self) -> list[str]:
        """Return one line per unreadable ledger line seen (and per state file that could not be written)."""
        return self.files.warnings

    # The public operations -----------------------------------------------------------------------------

    def begin(
        self, action_id: str, safety: Safety, *, run_key: str, trigger: str, dry_run: bool = False
    ) -> LedgerDecision:
        """Decide whether `action_id` may run now and record the decision before returning.

        Under the lock: an unreadable line -> "suppressed" (fail closed); cooldown active -> "suppressed";
        attempts used up -> "exhausted" (escalates); else "run", and the attempt-started line (which stamps
        the cooldown) is appended and fsynced before the lock is released, so a concurrent `begin` sees it and
        no command runs before it is on disk. A dry run records what would happen and changes no state.
        """
        _check_action_id(action_id)
        with self._locked() as folded:
            now = self.clock()
            state = state_view(folded.actions.get(action_id), action_id, safety, now)
            problems = tuple(self.files.warnings) if folded.unreadable else ()
            if folded.unreadable:
                kind, attempt, escalate = "suppressed", state["attempts"], False
                reason = unreadable_reason(self.path, folded.unreadable)
            else:
                kind, attempt, escalate, reason = decide(state, safety)
            would_be = kind
            if dry_run:
                verb = "run" if kind == "run" else f"be {kind}"
                reason = f"dry run, nothing changed: would {verb}: {reason}"
                kind, escalate = "dry-run", False
            event, result = (ATTEMPT_STARTED, None) if kind == "run" else ("decision", kind)
            record = make_record(
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
            self._append(folded, record, now)
        return LedgerDecision(
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
            ledger_problems=problems,
        )

    def finish(
        self, decision: LedgerDecision, *, result: str, duration: float, detail: str = "", commands: Sequence[str] = ()
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
        allowed = ALLOWED_RESULTS.get(kind, ())
        if result not in allowed:
            raise LedgerUsageError(
                f"{decision.action_id}: result {result!r} does not fit a {kind!r} decision; "
                f"expected {' or '.join(repr(r) for r in allowed) or 'nothing: unknown decision kind'}"
            )
        dry_run = kind == "dry-run"
        escalated = escalates(decision, result)
        with self._locked() as folded:
            now = self.clock()
            record = make_record(
                now=now,
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
                duration=duration_seconds(duration),
                detail=detail,
                commands=commands,
            )
            self._append(folded, record, now)
        return record

    def not_run(self, action_id: str, *, run_key: str, trigger: str, detail: str) -> dict[str, Any]:
        """Record that an action could not start (a configuration error): no attempt is used, no cooldown starts."""
        return self._note(
            action_id, run_key=run_key, trigger=trigger, event="decision", result="not_run", detail=detail
        )

    def reset(self, action_id: str, *, run_key: str, detail: str = "", by: str | None = None) -> dict[str, Any]:
        """Clear an action's state (attempts and cooldown) on purpose, recording who did it (`by`, default the user)."""
        who = by if by is not None else _user()
        return self._note(
            action_id, run_key=run_key, trigger="manual", event="result", result="reset", detail=detail, by=who
        )

    def records(self, action_id: str | None = None) -> list[dict[str, Any]]:
        """Return the usable lines of the current log in file order, optionally only those of one action."""
        with self._locked(load=False):
            records = self.files.records()
        return [r for r in records if action_id is None or r["action_id"] == action_id]

    def state(self, action_id: str, safety: Safety) -> dict[str, Any]:
        """Return an action's state now: attempts since the last recovery, last attempt, cooldown, exhaustion."""
        with self._locked() as folded:
            now = self.clock()
        return state_view(folded.actions.get(action_id), action_id, safety, now)

    def unreadable(self) -> list[tuple[int, str]]:
        """Return the (line number, problem) of every unreadable line of the current log."""
        with self._locked() as folded:
            return list(folded.unreadable)

    # Plumbing ------------------------------------------------------------------------------------------

    def _note(
        self, action_id: str, *, run_key: str, trigger: str, event: str, result: str, **text: Any
    ) -> dict[str, Any]:
        _check_action_id(action_id)
        with self._locked() as folded:
            now = self.clock()
            record = make_record(
                now=now,
                run_key=run_key,
                action_id=action_id,
                trigger=trigger,
                event=event,
                attempt=state_view(folded.actions.get(action_id), action_id, Safety(0, 0, 0), now)["attempts"]
                if result == "not_run"
                else 0,
                result=result,
                escalated=False,
                suppressed=False,
                dry_run=False,
                would_be=None,
                duration=None,
                detail=text.get("detail", ""),
                commands=(),
                by=text.get("by"),
            )
            self._append(folded, record, now)
        return record

    @contextlib.contextmanager
    def _locked(self, *, load: bool = True) -> Iterator[Folded]:
        """Hold the exclusive ledger lock and yield the current state (the log is read only after the lock)."""
        self.files.check(self.lock_path)
        # A fresh lock object per operation: nothing is shared between threads but the lock file itself.
        lock = FileLock(str(self.lock_path), timeout=self.lock_timeout, poll_interval=0.01)
        try:
            lock.acquire()
        except Timeout:
            raise LedgerBusyError(self.lock_path, self.lock_timeout) from None
        except OSError as exc:
            raise LedgerFileError(
                self.lock_path, f"cannot be locked ({exc.strerror})", "remove it or make its directory writable"
            ) from None
        try:
            with self._guard:
                seen = len(self.files.warnings)
                folded = self.files.load() if load else Folded()
                for warning in self.files.warnings[seen:]:
                    _LOG.warning("%s", warning)
            yield folded
        finally:
            lock.release()

    def _append(self, folded: Folded, record: dict[str, Any], now: float) -> None:
        """Append one line (the caller holds the lock) and fold it into the state file."""
        checkpoint = make_record(
            now=now,
            run_key=str(record.get("run_key", "")),
            action_id="*",
            trigger="rotation",
            event=CHECKPOINT,
            attempt=0,
            result=None,
            escalated=False,
            suppressed=False,
            dry_run=False,
            would_be=None,
            duration=None,
            detail="",
            commands=(),
        )
        with self._guard:
            self.files.append(folded, record, checkpoint)


def _user() -> str:
    """Return the name of the user running the suite (for the reset line)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown user"


__all__ = [
    "CLEARING_RESULTS",
    "DEFAULT_COOLDOWN_SECONDS",
    "DEFAULT_ESCALATE_AFTER",
    "DEFAULT_LOCK_TIMEOUT",
    "DEFAULT_MAX_ATTEMPTS",
    "EVENTS",
    "KINDS",
    "RESULTS",
    "RUN_RESULTS",
    "Ledger",
    "LedgerBusyError",
    "LedgerDecision",
    "LedgerError",
    "LedgerFileError",
    "LedgerUsageError",
    "Safety",
    "effective_safety",
    "unreadable_reason",
    "utc_iso",
]
