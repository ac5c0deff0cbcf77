"""The probe runner: runs smoke probes concurrently, bounded per system by concurrency and start rate.

Each probe keeps its own outcome; a test (or a live gate) asks for one and waits only for that one, so a
whole smoke run takes about as long as its slowest probe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor

from infracore_verify.clients.http import Limits
from infracore_verify.contracts.verdict import Verdict
from infracore_verify.smoke.probes import ProbeContext, ProbeOutcome, Slo, run_probe
from infracore_verify.smoke.registry import Probe

MAX_WORKERS = 64
"""Threads in the pool; the per-system limits decide how many of them talk to one system at a time."""


class _StartGate:
    """Bounds one system: at most `concurrency` probes at once, and starts spaced by 1/requests_per_second."""

    def __init__(self, limits: Limits) -> None:
        self.slots = threading.BoundedSemaphore(max(1, limits.concurrency))
        self.interval = 1.0 / limits.requests_per_second if limits.requests_per_second > 0 else 0.0
        self._lock = threading.Lock()
        self._next_start = 0.0

    def __enter__(self) -> None:
        self.slots.acquire()
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start)
            self._next_start = start + self.interval
        if start > now:
            time.sleep(start - now)

    def __exit__(self, *exc: object) -> None:
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
    ) -> None:
        self.probes = {p.id: p for p in probes}
        self.make_context = make_context
        self.slo = slo
        self._limits = limits
        self._gates: dict[str, _StartGate] = {}
        self._futures: dict[str, Future[ProbeOutcome]] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="probe")
        self.session_submitted = False
        """Set once the whole session's selection was started (so each test does not walk it again)."""

    def _gate(self, system: str) -> _StartGate:
        with self._lock:
            if system not in self._gates:
                self._gates[system] = _StartGate(self._limits(system))
            return self._gates[system]

    def _run(self, probe: Probe) -> ProbeOutcome:
        with self._gate(probe.system):
            return run_probe(probe.id, probe.implementation, probe.system, self.make_context(probe), self.slo)

    def submit(self, probe_ids: Iterable[str]) -> None:
        """Start the given probes now (each at most once per run)."""
        wanted = list(probe_ids)
        with self._lock:
            for probe_id in wanted:
                if probe_id in self.probes and probe_id not in self._futures:
                    self._futures[probe_id] = self._pool.submit(self._run, self.probes[probe_id])

    def outcome(self, probe_id: str) -> ProbeOutcome:
        """Return the outcome of one probe, running it first when nobody started it yet."""
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
        return self._futures[probe_id].result()

    def verdict(self, probe_id: str) -> ProbeOutcome:
        """Return one probe's outcome for a live gate (the same run the smoke test sees)."""
        return self.outcome(probe_id)

    def close(self) -> None:
        """Wait for running probes and stop the pool."""
        self._pool.shutdown(wait=True, cancel_futures=True)
