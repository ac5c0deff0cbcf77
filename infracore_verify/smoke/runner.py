"""The probe runner: runs smoke probes concurrently, bounded per system by concurrency and start rate.

Each probe keeps its own outcome; a test (or a live gate) asks for one and waits only for that one, so a
whole smoke run takes about as long as its slowest probe.

Every probe has an overall deadline (`Slo.deadline`, from `budgets.probe_deadline_ms` of infra.core.slo.yaml),
counted from when it was submitted, so waiting for a start slot counts too. A probe whose start would fall after
its deadline (a tiny `limits.requests_per_second`, slots held by slow probes) fails as `timeout` at once instead
of sleeping; a running probe ends as `timeout` at its next call after the deadline (see `ProbeContext`); and a
caller never waits for an outcome much longer than the deadline. Time is read from an injected clock and waits
go through an injected `wait`, so the pacing is tested without sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from infracore_verify.clients.http import Limits
from infracore_verify.contracts.verdict import Verdict
from infracore_verify.smoke.probes import ProbeContext, ProbeOutcome, Slo, run_probe
from infracore_verify.smoke.registry import Probe

MAX_WORKERS = 64
"""Threads in the pool; the per-system limits decide how many of them talk to one system at a time."""
GRACE_SECONDS = 5.0
"""How much longer than a probe's deadline `outcome()` waits for it before reporting it as timed out."""

Clock = Callable[[], float]
Wait = Callable[[float], bool]
"""wait(seconds) -> True when the runner is closing (the waiter must give up); Event.wait has this shape."""


class _StartGate:
    """Bounds one system: at most `concurrency` probes at once, and starts spaced by 1/requests_per_second."""

    def __init__(self, limits: Limits, clock: Clock, wait: Wait) -> None:
        self.slots = threading.BoundedSemaphore(max(1, limits.concurrency))
        self.rate = limits.requests_per_second
        self.interval = 1.0 / limits.requests_per_second if limits.requests_per_second > 0 else 0.0
        self._clock = clock
        self._wait = wait
        self._lock = threading.Lock()
        self._next_start = 0.0

    def enter(self, deadline_at: float) -> str | None:
        """Take a slot and wait for the start time; return why the probe cannot start before `deadline_at`.

        Returns None when the probe holds a slot and may start now (the caller must call `leave()`).
        """
        if not self.slots.acquire(timeout=max(0.0, deadline_at - self._clock())):
            return "every start slot of the system stayed busy (limits.concurrency)"
        with self._lock:
            now = self._clock()
            start = max(now, self._next_start)
            if start > deadline_at:
                self.slots.release()
                return (
                    f"its start would wait {start - now:.0f}s for the system's start rate "
                    f"(limits.requests_per_second {self.rate:g})"
                )
            self._next_start = start + self.interval
        if start > now and self._wait(start - now):
            self.slots.release()
            return "the run ended while it waited to start"
        return None

    def leave(self) -> None:
        """Give the slot back."""
        self.slots.release()


class SmokeRunner:
    """Runs probes on a thread pool; `outcome(id)` returns one probe's result, starting it if needed."""

    def __init__(
        self,
        probes: Iterable[Probe],
        make_context: Callable[[Probe], ProbeContext],
        slo: Slo,
        limits: Callable[[str], Limits],
        max_workers: int = MAX_WORKERS,
        *,
        clock: Clock = time.monotonic,
        wait: Wait | None = None,
    ) -> None:
        self.probes = {p.id: p for p in probes}
        self.make_context = make_context
        self.slo = slo
        self._limits = limits
        self._clock = clock
        self._closing = threading.Event()
        self._wait: Wait = wait or self._closing.wait
        self._gates: dict[str, _StartGate] = {}
        self._futures: dict[str, Future[ProbeOutcome]] = {}
        self._submitted: dict[str, float] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="probe")
        self.session_submitted = False
        """Set once the whole session's selection was started (so each test does not walk it again)."""

    def _gate(self, system: str) -> _StartGate:
        with self._lock:
            if system not in self._gates:
                self._gates[system] = _StartGate(self._limits(system), self._clock, self._wait)
            return self._gates[system]

    def _timed_out(self, probe: Probe, why: str) -> ProbeOutcome:
        return ProbeOutcome(
            probe.id,
            probe.system,
            Verdict.FAIL,
            "timeout",
            f"{probe.id} ({probe.system}): expected to finish within its deadline of {self.slo.deadline:.0f}s "
            f"(infra.core.slo.yaml budgets.probe_deadline_ms); {why} [class timeout]",
            0.0,
        )

    def _run(self, probe: Probe, submitted_at: float) -> ProbeOutcome:
        deadline_at = submitted_at + self.slo.deadline
        gate = self._gate(probe.system)
        refused = gate.enter(deadline_at)
        if refused is not None:
            return self._timed_out(probe, f"it never started: {refused}")
        try:
            ctx = self.make_context(probe)
            ctx.set_deadline(self._clock, submitted_at, self.slo.deadline)
            return run_probe(probe.id, probe.implementation, probe.system, ctx, self.slo, clock=self._clock)
        finally:
            gate.leave()

    def submit(self, probe_ids: Iterable[str]) -> None:
        """Start the given probes now (each at most once per run); each one's deadline counts from now."""
        wanted = list(probe_ids)
        with self._lock:
            for probe_id in wanted:
                if probe_id in self.probes and probe_id not in self._futures:
                    now = self._clock()
                    self._submitted[probe_id] = now
                    self._futures[probe_id] = self._pool.submit(self._run, self.probes[probe_id], now)

    def outcome(self, probe_id: str) -> ProbeOutcome:
        """Return the outcome of one probe, running it first when nobody started it yet.

        Waits at most the probe's deadline (plus a grace period) from its submission; a probe still running
        then is reported as `timeout` (it keeps its thread until its current call returns).
        """
        if probe_id not in self.probes:
            return ProbeOutcome(
                probe_id,
                "unknown",
                Verdict.FAIL,
                "gate_bug",
                f"{probe_id}: not a smoke probe of the baseline contract",
                0.0,
            )
        self.submit([probe_id])
        remaining = self._submitted[probe_id] + self.slo.deadline - self._clock()
        try:
            return self._futures[probe_id].result(timeout=max(0.0, remaining) + GRACE_SECONDS)
        except FutureTimeout:
            return self._timed_out(self.probes[probe_id], "it was still running when its deadline passed")

    def verdict(self, probe_id: str) -> ProbeOutcome:
        """Return one probe's outcome for a live gate (the same run the smoke test sees)."""
        return self.outcome(probe_id)

    def close(self) -> None:
        """End the waits for start slots, drop probes not started yet, and wait for the running ones."""
        self._closing.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
