"""SLO per call and the probe deadline (issue 10 SLO item, issue 9 item 15), with an injected clock and wait.

- Latency is judged per call (one HTTP exchange); a probe is judged by its slowest call, not by the sum.
- Every probe has an overall deadline (`budgets.probe_deadline_ms`): a call after it ends the probe as `timeout`,
  a probe that finishes after it fails as `timeout`, and a probe whose start would come after it (a tiny
  `requests_per_second`) fails at once instead of sleeping.
- Limits have schema bounds: `requests_per_second: 0.001` is refused naming the file, line and path.

No test sleeps or reads the wall clock: time comes from `FakeClock`, waits are recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from infracore_verify.clients.http import ApiResult, Exchange, Limits
from infracore_verify.clients.limits import LimitsError
from infracore_verify.contracts.sets import Contracts
from infracore_verify.contracts.verdict import Verdict
from infracore_verify.smoke.context import PROBES, ProbeContext, ProbeFunc, Slo
from infracore_verify.smoke.probes import run_probe
from infracore_verify.smoke.registry import Probe
from infracore_verify.smoke.runner import SmokeRunner
from tests import test_smoke_plugin
from tests.test_smoke_plugin import run

suite = test_smoke_plugin.suite


class FakeClock:
    """A settable monotonic clock; `wait` advances it and records the requested waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        """Record the wait, advance the clock, and report that the runner is not closing."""
        self.waits.append(round(seconds, 3))
        self.now += seconds
        return False


def result(clock: FakeClock, seconds: float, path: str = "/zones") -> ApiResult:
    """Returns a successful call that took `seconds` on the fake clock (the clock moves on)."""
    clock.now += seconds
    exchange = Exchange("GET", f"http://127.0.0.1:9/{path.lstrip('/')}", 200, {}, {}, None, {}, seconds)
    return ApiResult("cloudflare", "GET", path, 200, None, {}, seconds, 1, 0.0, [exchange])


@pytest.fixture
def clock() -> FakeClock:
    """Returns a fresh fake clock."""
    return FakeClock()


@pytest.fixture
def register(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, ProbeFunc], None]:
    """Returns register(name, func): a probe implementation for this test only."""
    return lambda name, func: monkeypatch.setitem(PROBES, name, func)


def run_one(name: str, clock: FakeClock, slo: Slo) -> Any:
    """Runs the registered implementation `name` once on the fake clock."""
    return run_probe(name, name, "cloudflare", ProbeContext(lambda s: None, {}), slo, clock=clock)


def test_slo_reads_the_per_probe_deadline() -> None:
    """Reads budgets.probe_deadline_ms (default 120 s) beside the per-call thresholds."""
    assert Slo.from_data(
        {"budgets": {"latency_warn_ms": 100, "latency_incident_ms": 200, "probe_deadline_ms": 9000}}
    ) == (Slo(0.1, 0.2, 9.0))
    assert Slo.from_data({}) == Slo(3.0, 7.0, 120.0)


def test_many_fast_calls_pass_though_their_sum_is_over_the_incident_threshold(
    clock: FakeClock, register: Callable[[str, ProbeFunc], None]
) -> None:
    """Passes a probe of five 2 s calls (10 s in all, over the 7 s threshold): each call is under it."""

    def many(ctx: ProbeContext) -> None:
        for n in range(5):
            ctx.call(f"GET /zones page {n}", result(clock, 2.0))

    register("test.many", many)
    outcome = run_one("test.many", clock, Slo(warn=3.0, incident=7.0))
    assert (outcome.verdict, outcome.failure_class) == (Verdict.PASS, None)
    assert outcome.elapsed == 10.0
    assert outcome.warnings == []


def test_the_slowest_call_decides_warn_and_incident(
    clock: FakeClock, register: Callable[[str, ProbeFunc], None]
) -> None:
    """Warns naming the slowest call at the warn threshold, and fails latency_incident at the incident one."""

    def slow(seconds: float) -> ProbeFunc:
        def func(ctx: ProbeContext) -> None:
            ctx.call("GET /zones", result(clock, 0.5))
            ctx.call("GET /slow", result(clock, seconds, "/slow"))

        return func

    register("test.warn", slow(4.0))
    register("test.incident", slow(7.5))
    warned = run_one("test.warn", clock, Slo(warn=3.0, incident=7.0))
    assert warned.verdict == Verdict.PASS
    assert warned.warnings == [
        "latency 4.00s of GET http://127.0.0.1:9/slow is at or over the SLO warn threshold 3.0s (slowest of 2 call(s))"
    ]
    failed = run_one("test.incident", clock, Slo(warn=3.0, incident=7.0))
    assert (failed.verdict, failed.failure_class) == (Verdict.FAIL, "latency_incident")
    assert "the slowest, GET http://127.0.0.1:9/slow, took 7.50s [class latency_incident]" in failed.message


def test_a_call_after_the_deadline_ends_the_probe_as_timeout(
    clock: FakeClock, register: Callable[[str, ProbeFunc], None]
) -> None:
    """Stops a many-call probe at the first call past its deadline (no further calls are made)."""
    made: list[int] = []

    def endless(ctx: ProbeContext) -> None:
        for n in range(100):
            made.append(n)
            ctx.call(f"GET /zones/{n}/dns_records", result(clock, 1.0))

    register("test.endless", endless)
    outcome = run_one("test.endless", clock, Slo(deadline=30.0))
    assert (outcome.verdict, outcome.failure_class) == (Verdict.FAIL, "timeout")
    assert len(made) == 31
    assert "within its deadline of 30s (infra.core.slo.yaml budgets.probe_deadline_ms)" in outcome.message
    assert "still running after GET /zones/30/dns_records" in outcome.message


def test_a_probe_that_passes_after_its_deadline_fails_as_timeout(
    clock: FakeClock, register: Callable[[str, ProbeFunc], None]
) -> None:
    """Fails as timeout a probe that found nothing wrong but finished past its deadline."""

    def lingering(ctx: ProbeContext) -> None:
        ctx.call("GET /zones", result(clock, 1.0))
        clock.now += 60.0  # work after the last call (parsing, comparing)

    register("test.lingering", lingering)
    outcome = run_one("test.lingering", clock, Slo(deadline=30.0))
    assert (outcome.verdict, outcome.failure_class) == (Verdict.FAIL, "timeout")
    assert "took 61.00s [class timeout]" in outcome.message


@pytest.fixture
def runner_for(
    clock: FakeClock, register: Callable[[str, ProbeFunc], None]
) -> Iterator[Callable[[Limits, Slo, int], SmokeRunner]]:
    """Returns make(limits, slo, n): a runner of n quick probes of one system on the fake clock."""
    made: list[SmokeRunner] = []
    register("test.quick", lambda ctx: ctx.call("GET /zones", result(clock, 0.1)))

    def make(limits: Limits, slo: Slo, count: int) -> SmokeRunner:
        probes = [Probe(f"p{n}", "cloudflare", "test.quick") for n in range(count)]
        runner = SmokeRunner(
            probes, lambda p: ProbeContext(lambda s: None, {}), slo, lambda s: limits, clock=clock, wait=clock.wait
        )
        made.append(runner)
        return runner

    yield make
    for runner in made:
        runner.close()


def test_a_start_past_the_deadline_fails_at_once_without_sleeping(
    clock: FakeClock, runner_for: Callable[[Limits, Slo, int], SmokeRunner]
) -> None:
    """Fails as timeout the probes whose start slot (one per 10 s) comes after their 15 s deadline; no wait."""
    runner = runner_for(Limits(requests_per_second=0.1, concurrency=1), Slo(deadline=15.0), 3)
    runner.submit(["p0", "p1", "p2"])  # as a session does: all at once, each deadline counted from now
    outcomes = [runner.outcome(f"p{n}") for n in range(3)]
    assert sorted(o.verdict for o in outcomes) == [Verdict.FAIL, Verdict.PASS, Verdict.PASS]
    [late] = [o for o in outcomes if o.verdict == Verdict.FAIL]
    assert late.failure_class == "timeout"
    assert "it never started: its start would wait" in late.message
    assert "(limits.requests_per_second 0.1) [class timeout]" in late.message
    assert clock.waits == [9.9]  # the second start waited for its slot (the first took 0.1 s); the third never slept


def test_starts_within_the_deadline_are_paced_by_the_rate(
    clock: FakeClock, runner_for: Callable[[Limits, Slo, int], SmokeRunner]
) -> None:
    """Spaces the starts by 1/requests_per_second while they fit the deadline (the waits are the pacing)."""
    runner = runner_for(Limits(requests_per_second=0.5, concurrency=1), Slo(deadline=120.0), 3)
    for n in range(3):
        runner.submit([f"p{n}"])
        assert runner.outcome(f"p{n}").verdict == Verdict.PASS
    assert clock.waits == [1.9, 1.9]


def test_limits_refuse_a_tiny_rate_naming_the_key_and_bounds() -> None:
    """Refuses requests_per_second 0.001 (and other out-of-range limits) naming key, value and range."""
    with pytest.raises(LimitsError, match=r"limits.requests_per_second must be between 0.1 and 10000, got 0.001"):
        Limits.from_mapping({"requests_per_second": 0.001})
    with pytest.raises(LimitsError, match=r"limits.concurrency must be between 1 and 64, got 500"):
        Limits.from_mapping({"concurrency": 500})
    with pytest.raises(LimitsError, match=r"requests_per_second must be between 0.1 and 10000, got 0.001"):
        Limits(requests_per_second=0.001)


def test_the_environment_schema_bounds_the_limits(contracts_dir: Path) -> None:
    """Fails an environment file with requests_per_second 0.001 naming the file, line and YAML path."""
    path = contracts_dir / "environments" / "sandbox.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["systems"]["cloudflare"]["limits"]["requests_per_second"] = 0.001
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    doc = Contracts.open(contracts_dir, contracts_dir.parent).environment("sandbox")
    text = "\n".join(f.render() for f in doc.errors)
    assert "environments/sandbox.yaml:" in text
    assert "$.systems.cloudflare.limits.requests_per_second" in text
    assert "0.1" in text


def test_a_tiny_rate_ends_the_smoke_run_with_a_clear_error(suite: pytest.Pytester) -> None:
    """Ends `-m smoke` with requests_per_second 0.001 at once as a usage error naming file, line and path."""
    path = suite.path / "contracts" / "environments" / "sandbox.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["systems"]["cloudflare"]["limits"]["requests_per_second"] = 0.001
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    result = run(suite, "-m", "smoke", "--probe", "cloudflare.zone.list")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*environments/sandbox.yaml:* $.systems.cloudflare.limits.requests_per_second: 0.001 is out of range*"]
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
