"""Recovery safety state: an append-only JSON Lines ledger of decisions and results, guarded by a file lock.

The ledger replaces the ops dispatcher's `state/{cooldown,attempts}/<id>` files (SPINE 7). Its state is keyed
by recovery action id, never by gate, and is computed from the ledger lines alone (ledger_state.py):

- an `attempt` line (written by `Ledger.begin` before a run starts) counts one attempt and stamps the cooldown;
- a `result` line with result `recovered` (or `reset`, written by `Ledger.reset`) clears both the attempt count
  and the cooldown; `failed` and `alerted` change nothing (the attempt was counted when it began);
- `decision` lines (suppressed, exhausted, dry-run) and every line marked `dry_run` change nothing.

`begin` holds an exclusive `filelock.FileLock(<ledger>.lock)` for the whole read-decide-append, so two processes,
xdist workers or threads can never both decide "run" for one action inside its cooldown. The order of checks
is the ops order: cooldown active -> suppressed; attempts used up -> exhausted (escalates); else run. The
limits (`Safety`, `effective_safety`) are in safety.py.

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
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from filelock import FileLock, Timeout

from infracore_verify.contracts.times import utc_iso
from infracore_verify.recovery.ledger_state import (
    ALLOWED_RESULTS,
    CLEARING_RESULTS,
    EVENTS,
    KINDS,
    RESULTS,
    RUN_RESULTS,
    LedgerDecision,
    compute_state,
    decide,
    duration_seconds,
    escalates,
    make_record,
    record_problem,
)
from infracore_verify.recovery.safety import (
    DEFAULT_COOLDOWN_SECONDS,
    DEFAULT_ESCALATE_AFTER,
    DEFAULT_MAX_ATTEMPTS,
    Safety,
    effective_safety,
)

_LOG = logging.getLogger(__name__)


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

    def begin(
        self, action_id: str, safety: Safety, *, run_key: str, trigger: str, dry_run: bool = False
    ) -> LedgerDecision:
        """Decide whether `action_id` may run now and record the decision before returning.

        Under the lock: cooldown active -> "suppressed"; attempts used up -> "exhausted" (escalates); else
        "run", and the attempt line (which stamps the cooldown) is appended before the lock is released, so a
        concurrent `begin` sees it. A dry run records what would happen and changes no state.
        """
        if not isinstance(action_id, str) or not action_id:
            raise LedgerUsageError(f"action_id must be a non-empty string, got {action_id!r}")
        with self._locked():
            now = self.clock()
            state = compute_state(self._read(), action_id, safety, now)
            kind, attempt, escalate, reason = decide(state, safety)
            would_be = kind
            if dry_run:
                verb = "run" if kind == "run" else f"be {kind}"
                reason = f"dry run, nothing changed: would {verb}: {reason}"
                kind, escalate = "dry-run", False
            if kind == "run":
                event, result = "attempt", None
            else:
                event, result = "decision", kind
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
            self._append(record)
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
        with self._locked():
            record = make_record(
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
                duration=duration_seconds(duration),
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
            record = make_record(
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
        return compute_state(records, action_id, safety, now)

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
            problem = record_problem(record)
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


__all__ = [
    "CLEARING_RESULTS",
    "DEFAULT_COOLDOWN_SECONDS",
    "DEFAULT_ESCALATE_AFTER",
    "DEFAULT_MAX_ATTEMPTS",
    "EVENTS",
    "KINDS",
    "RESULTS",
    "RUN_RESULTS",
    "Ledger",
    "LedgerBusyError",
    "LedgerDecision",
    "LedgerError",
    "LedgerUsageError",
    "Safety",
    "effective_safety",
    "utc_iso",
]
