"""Benchmark: 200 smoke probes with 100 ms injected latency each, run by the suite and one after another.

The benchmark writes a synthetic contract set (suite layout, a copy of the shipped `contracts/` in a
temporary directory, the way `synthetic.generate` does for the static-gate benchmark) that declares
`--probes` (default 200) smoke capabilities spread evenly over the four baseline systems. Each one is
backed by a single-request probe implementation through its `probe:` key:

    cloudflare   cloudflare.token.verify   GET /user/tokens/verify
    vaultwarden  vaultwarden.alive         GET /alive
    infisical    infisical.status          GET /api/status
    authentik    authentik.health.live     GET /-/health/live/

The capabilities are copies of the shipped implementation's entry (so the schema and D63 hold: the
Cloudflare copies touch the API and require the secrets preconditions), mirrored in capability_map.yaml
with the same safety (D67) and listed as each system's `smoke_capabilities` in the baseline contract.
The set also gets `environments/bench.yaml`: the sandbox environment with raised per-system limits
(`concurrency` 64, `requests_per_second` 2000), so the limits that bound a real run (Cloudflare allows
1,200 requests per 5 minutes) do not hide the suite's own overhead. The static gates run once on the set
(`pytest --contracts=<set> -m fast`) and must pass before anything is timed.

Then `--repeat` (default 3) interleaved rounds, each of:

(a) suite: `python -m pytest -m smoke -q -p no:cacheprovider --contracts=<set> --env bench
    --sandbox-fault <system>:latency=0.1 (x4) --reports-dir=<tmp>` from the project root; it must report
    every probe passed. Requests are summed from the receipt's probe rows;
(a') start-up: the same command with `--collect-only` (interpreter, pytest, plugin, plan and collection
    of every probe; no sandbox, no probe). Probe phase = wall(a) - wall(a') of the same round;
(b) sequential: a fresh worker process (this script, `--sequential-worker`) starts
    `infracore_verify.sandbox.Sandbox` with the same seed, injects the same latency faults, builds the four
    clients as the fixtures do and calls `infracore_verify.smoke.probes.run_probe` for every probe, one after another.
    Its wall time is the probe loop alone; requests are the exchanges, cross-checked with the sandbox's
    recordings.

Peak memory is each child's own maximum resident set size (`os.wait4`), so every process is measured
alone. Reported: every round, median and minimum per side, requests per second, the speed-up and the
target: median probe phase of (a) <= 2.0 s. Supplementary, no target (`--no-shipped-limits` skips it):
one suite run with `--env sandbox`, the shipped limits, on the same set. Exit 1 when the target is missed, when a probe fails or when
a run fails; every subprocess has a timeout. Nothing leaves 127.0.0.1.

`--short` (a check that the benchmark still works, for CI): 8 probes, one round. Every correctness check
still applies (static gates on the set, every probe passes in every run, one receipt row per probe, the
sequential worker's probes pass); the target is printed as information and never fails the run.

Usage: `.venv/bin/python bench/bench_smoke.py [--short] [--probes 200] [--latency 0.1] [--repeat 3]
[--keep DIR] [--no-shipped-limits]`.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _timing import clean_env

REPO = Path(__file__).resolve().parent.parent
ENV_NAME = "bench"
IMPLEMENTATIONS: tuple[tuple[str, str], ...] = (
    ("cloudflare", "cloudflare.zone.list"),
    ("vaultwarden", "vaultwarden.alive"),
    ("infisical", "infisical.status"),
    ("authentik", "authentik.health.live"),
)
"""Per baseline system: the single-request probe implementation the synthetic capabilities share. (Not
`cloudflare.token.verify`: since issue 10 it also asks one read per permission the baseline needs, and an
account-owned token first fails at the user endpoint; the run checks that every probe sent one request.)"""
BENCH_LIMITS: dict[str, int] = {"concurrency": 64, "requests_per_second": 2000}
"""Per-system limits of environments/bench.yaml (the shipped sandbox allows Cloudflare 4 and 20/s)."""
TARGET_PROBE_PHASE_SECONDS = 2.0
DEFAULT_PROBES = 200
DEFAULT_LATENCY = 0.1
DEFAULT_REPEAT = 3
SHORT_PROBES = 8
SHORT_REPEAT = 1
SUITE_TIMEOUT_SECONDS = 120
GATES_TIMEOUT_SECONDS = 120
SEQUENTIAL_TIMEOUT_SECONDS = 600
_PASSED = re.compile(
    r"(?P<passed>\d+) passed(?:, (?P<deselected>\d+) deselected)?(?:, \d+ warnings?)? in (?P<seconds>[\d.]+)s"
)
_COLLECTED = re.compile(r"(?P<count>\d+)(?:/\d+)? tests? collected")
_RESULT_MARK = "BENCH_SMOKE_RESULT "


# --- the synthetic contract set ----------------------------------------------------------------------------


def probe_ids(n: int) -> dict[str, list[str]]:
    """Return the synthetic capability ids per system: `n` spread evenly, e.g. `vaultwarden.alive.007`."""
    out: dict[str, list[str]] = {}
    for index, (system, implementation) in enumerate(IMPLEMENTATIONS):
        count = n // len(IMPLEMENTATIONS) + (1 if index < n % len(IMPLEMENTATIONS) else 0)
        out[system] = [f"{implementation}.{k:03d}" for k in range(count)]
    return out


def generate(root: Path, n: int) -> Path:
    """Write the smoke benchmark's contract set with `n` probes under `root`; return its contracts directory."""
    import synthetic  # bench/ is on sys.path when this file runs as a script

    from infracore_verify.contracts.sets import BUNDLED_CONTRACTS

    contracts = root / "contracts"
    if contracts.exists():
        raise FileExistsError(f"{contracts} already exists")
    shutil.copytree(BUNDLED_CONTRACTS, contracts)

    capabilities = synthetic._load(contracts / "capabilities.yaml")
    capability_map = synthetic._load(contracts / "capability_map.yaml")
    baseline = synthetic._load(contracts / "infra.core.baseline.contract.yaml")
    caps: dict[str, Any] = capabilities["capabilities"]
    mapped: dict[str, Any] = capability_map["capabilities"]
    ids = probe_ids(n)
    for system, implementation in IMPLEMENTATIONS:
        template, map_template = caps[implementation], mapped[implementation]
        for k, cap_id in enumerate(ids[system]):
            if cap_id in caps:
                raise ValueError(f"synthetic capability {cap_id} collides with a shipped one")
            entry = copy.deepcopy(template)
            entry.update(
                description=f"Smoke benchmark copy {k} of {implementation} (one request; generated).",
                command=f"pytest smoke -k {cap_id}",
                system=system,
                smoke=True,
                probe=implementation,
            )
            caps[cap_id] = entry
            mapped[cap_id] = copy.deepcopy(map_template)
        lifecycle = baseline["systems"][system]["lifecycle_requirements"]
        lifecycle["smoke_capabilities"] = list(ids[system])
    synthetic._dump(contracts / "capabilities.yaml", f"Capabilities plus {n} smoke benchmark copies.", capabilities)
    synthetic._dump(
        contracts / "capability_map.yaml", f"Capability map plus {n} smoke benchmark copies.", capability_map
    )
    synthetic._dump(
        contracts / "infra.core.baseline.contract.yaml", f"Baseline contract listing {n} smoke probes.", baseline
    )

    environment = synthetic._load(contracts / "environments" / "sandbox.yaml")
    environment["name"] = ENV_NAME
    environment["description"] = (
        "Smoke benchmark: the built-in sandbox with per-system limits raised so they do not bound the run."
    )
    for entry in environment["systems"].values():
        if entry.get("base_url") != "sandbox":
            raise ValueError("environments/sandbox.yaml: every base_url must be sandbox")
        entry["limits"] = {**(entry.get("limits") or {}), **BENCH_LIMITS}
    synthetic._dump(
        contracts / "environments" / f"{ENV_NAME}.yaml", "Smoke benchmark environment (sandbox).", environment
    )
    return contracts


# --- measured child processes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proc:
    """One finished child process: wall time, its own peak RSS, exit code and combined output."""

    wall: float
    maxrss_mib: float
    returncode: int
    output: str
    timed_out: bool


def run_measured(command: list[str], timeout: float) -> Proc:
    """Run `command` in the project root; return wall time and the child's own ru_maxrss (via wait4)."""
    timed_out = threading.Event()
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            command, cwd=REPO, env=clean_env(), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )

        def kill() -> None:
            timed_out.set()
            proc.kill()

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    return Proc(wall, usage.ru_maxrss / 1024, proc.returncode, text, timed_out.is_set())


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _fail(what: str, proc: Proc) -> RuntimeError:
    reason = "timed out" if proc.timed_out else f"exited {proc.returncode}"
    return RuntimeError(f"{what} {reason}:\n{_tail(proc.output)}")


def suite_command(contracts: Path, reports: Path, latency: float, env: str = ENV_NAME) -> list[str]:
    """Return the suite's smoke command with a latency fault on every system."""
    faults = [a for system, _ in IMPLEMENTATIONS for a in ("--sandbox-fault", f"{system}:latency={latency:g}")]
    return [
        sys.executable,
        "-m",
        "pytest",
        "-m",
        "smoke",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--contracts={contracts}",
        "--env",
        env,
        *faults,
        f"--reports-dir={reports}",
    ]


@dataclass(frozen=True)
class SuiteRun:
    """One `pytest -m smoke` run: wall, pytest's own session time, requests (from the receipt), peak RSS."""

    wall: float
    session: float
    requests: int
    maxrss_mib: float


def run_suite(contracts: Path, reports: Path, latency: float, expected: int, env: str = ENV_NAME) -> SuiteRun:
    """Run the suite once into a fresh reports directory; every probe must pass and appear in the receipt."""
    proc = run_measured(suite_command(contracts, reports, latency, env), SUITE_TIMEOUT_SECONDS)
    match = _PASSED.search(proc.output)
    if proc.returncode != 0 or proc.timed_out or match is None or int(match["passed"]) != expected:
        raise _fail(f"suite run (expected {expected} passed)", proc)
    receipts = sorted((reports / "receipts").glob("*.json"))
    if len(receipts) != 1:
        raise RuntimeError(f"expected one receipt in {reports / 'receipts'}, found {len(receipts)}")
    rows = json.loads(receipts[0].read_text(encoding="utf-8")).get("probes") or []
    failed = [r["id"] for r in rows if r.get("verdict") != "pass"]
    if len(rows) != expected or failed:
        raise RuntimeError(f"receipt holds {len(rows)} probe rows (expected {expected}); not passed: {failed[:10]}")
    return SuiteRun(proc.wall, float(match["seconds"]), sum(int(r.get("requests") or 0) for r in rows), proc.maxrss_mib)


def run_collect(contracts: Path, reports: Path, latency: float, expected: int) -> Proc:
    """Run the same command with --collect-only (pytest start-up, plan and collection; no probe runs)."""
    proc = run_measured([*suite_command(contracts, reports, latency), "--collect-only"], SUITE_TIMEOUT_SECONDS)
    match = _COLLECTED.search(proc.output)
    if proc.returncode != 0 or proc.timed_out or match is None or int(match["count"]) != expected:
        raise _fail(f"collect-only run (expected {expected} tests collected)", proc)
    return proc


def run_gates(contracts: Path, reports: Path) -> str:
    """Run the static (fast) gates on the set once; return pytest's summary line or raise when one fails."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        f"--contracts={contracts}",
        "-m",
        "fast",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--reports-dir={reports}",
    ]
    proc = run_measured(command, GATES_TIMEOUT_SECONDS)
    match = _PASSED.search(proc.output)
    if proc.returncode != 0 or proc.timed_out or match is None or "failed" in match.group(0):
        raise _fail("static gates on the synthetic set", proc)
    return match.group(0)


@dataclass(frozen=True)
class SequentialRun:
    """One sequential run: probe-loop wall, requests (exchanges and sandbox recordings), peak RSS."""

    loop: float
    process_wall: float
    requests: int
    recorded: int
    maxrss_mib: float
    maxrss_before_loop_mib: float


def run_sequential(contracts: Path, latency: float, expected: int) -> SequentialRun:
    """Run the probes one after another in a fresh worker process and return its measurements."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--sequential-worker",
        str(contracts),
        "--latency",
        f"{latency:g}",
    ]
    proc = run_measured(command, SEQUENTIAL_TIMEOUT_SECONDS)
    lines = [line for line in proc.output.splitlines() if line.startswith(_RESULT_MARK)]
    if proc.returncode != 0 or proc.timed_out or not lines:
        raise _fail("sequential worker", proc)
    data = json.loads(lines[-1][len(_RESULT_MARK) :])
    if data["probes"] != expected or data["failed"]:
        raise RuntimeError(f"sequential run: {data['probes']} probes (expected {expected}); failed: {data['failed']}")
    return SequentialRun(
        data["loop_seconds"],
        proc.wall,
        data["requests"],
        data["recorded"],
        proc.maxrss_mib,
        data["maxrss_before_loop_kib"] / 1024,
    )


# --- the sequential worker (runs in its own process) ---------------------------------------------------------


def sequential_worker(contracts_path: Path, latency: float) -> dict[str, Any]:
    """Start the sandbox with the suite's seed and faults, then run every probe one after another."""
    from infracore_verify.clients.authentik import AuthentikClient
    from infracore_verify.clients.cloudflare import CloudflareClient
    from infracore_verify.clients.http import Limits
    from infracore_verify.clients.infisical import InfisicalClient
    from infracore_verify.clients.vaultwarden import VaultwardenClient
    from infracore_verify.contracts.model import mapping
    from infracore_verify.contracts.sets import Contracts
    from infracore_verify.plugin.fixtures import CLIENT_CREDENTIALS
    from infracore_verify.sandbox import FaultSpec, Sandbox, SandboxSeed
    from infracore_verify.smoke.probes import ProbeContext, ProbeSetupError, Slo, run_probe
    from infracore_verify.smoke.registry import load_probes

    contracts = Contracts.open(contracts_path)
    probes, problems = load_probes(contracts)
    if problems:
        raise RuntimeError("the synthetic set does not load: " + "; ".join(p.render() for p in problems))
    environment = contracts.environment(ENV_NAME)
    limits = {
        str(system): Limits.from_mapping(mapping(entry).get("limits"))
        for system, entry in mapping(environment.data.get("systems")).items()
    }
    inventory, slo_doc = contracts.doc("inventory"), contracts.doc("slo")
    slo = Slo.from_data(slo_doc.data if slo_doc.ok else {})
    classes: dict[str, Any] = {
        "cloudflare": CloudflareClient,
        "vaultwarden": VaultwardenClient,
        "infisical": InfisicalClient,
        "authentik": AuthentikClient,
    }
    box = Sandbox(seed=SandboxSeed.from_contracts(contracts.path))
    box.start()
    try:
        for system, _ in IMPLEMENTATIONS:
            box.inject(FaultSpec(system, "latency", latency))
        credentials, base_urls = box.credentials, box.base_urls
        built: dict[str, Any] = {}

        def make(system: str) -> Any:
            # As the make_client fixture: required and optional credentials, project_id kept for settings.
            if system not in built:
                if system not in classes:
                    raise ProbeSetupError(f"no client for {system}")
                required, optional = CLIENT_CREDENTIALS[system]
                values = credentials[system]
                creds = {k: values[k] for k in (*required, *optional) if k in values and k != "project_id"}
                built[system] = classes[system](base_urls[system], limits=limits.get(system), **creds)
            return built[system]

        settings = {"infisical_project_id": credentials["infisical"].get("project_id")}
        inventory_data = inventory.data if inventory.ok else {}
        box.clear_requests()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        outcomes = [
            run_probe(p.id, p.implementation, p.system, ProbeContext(make, inventory_data, settings), slo)
            for p in probes
        ]
        loop = time.perf_counter() - started
        recorded = sum(len(box.requests(system)) for system, _ in IMPLEMENTATIONS)
        for client in built.values():
            client.close()
    finally:
        box.stop()
    return {
        "probes": len(outcomes),
        "failed": [f"{o.probe_id}: {o.message}" for o in outcomes if o.verdict != "pass"][:10],
        "loop_seconds": loop,
        "requests": sum(len(o.exchanges) for o in outcomes),
        "recorded": recorded,
        "maxrss_before_loop_kib": before,
    }


# --- report --------------------------------------------------------------------------------------------------


def _med_min(values: list[float]) -> str:
    return f"median {statistics.median(values):7.3f}s  min {min(values):7.3f}s"


def main() -> int:
    """Generate the set, check it, run the interleaved rounds and print the report; return 1 on a miss."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--short",
        action="store_true",
        help=f"Check that the benchmark works: {SHORT_PROBES} probes, {SHORT_REPEAT} round; every probe must "
        "still pass, the target is information only",
    )
    parser.add_argument("--probes", type=int, help=f"Smoke probes (default {DEFAULT_PROBES})")
    parser.add_argument("--latency", type=float, default=DEFAULT_LATENCY, help="Injected latency, s (default 0.1)")
    parser.add_argument("--repeat", type=int, help=f"Interleaved rounds (default {DEFAULT_REPEAT})")
    parser.add_argument("--keep", type=Path, help="Write the set under this new directory and keep it")
    parser.add_argument(
        "--no-shipped-limits", action="store_true", help="Skip the supplementary run under the sandbox's own limits"
    )
    parser.add_argument("--sequential-worker", type=Path, metavar="CONTRACTS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sequential_worker is not None:
        print(_RESULT_MARK + json.dumps(sequential_worker(args.sequential_worker, args.latency)), flush=True)
        return 0
    n: int = args.probes if args.probes is not None else (SHORT_PROBES if args.short else DEFAULT_PROBES)
    repeat: int = args.repeat if args.repeat is not None else (SHORT_REPEAT if args.short else DEFAULT_REPEAT)
    if not 4 <= n <= 2000:
        parser.error("--probes must be between 4 and 2000")
    if not 1 <= repeat <= 20:
        parser.error("--repeat must be between 1 and 20")
    if not 0 <= args.latency <= 1:
        parser.error("--latency must be between 0 and 1 s")
    if args.keep is not None and args.keep.exists():
        parser.error(f"--keep {args.keep}: already exists")
    try:
        return _bench(n, args.latency, repeat, args.keep, shipped_limits=not args.no_shipped_limits, short=args.short)
    except (RuntimeError, ValueError, OSError, subprocess.SubprocessError) as error:
        print(f"FAILED: {type(error).__name__}: {error}")
        print("RESULT: FAIL")
        return 1


def _bench(n: int, latency: float, repeat: int, keep: Path | None, *, shipped_limits: bool, short: bool) -> int:
    """Run the benchmark; raise on a failed run or probe, return 1 when the target is missed (full mode)."""
    mode = "short (checks that it works; the target is information only)" if short else "full"
    print(
        f"smoke probes: {n} single-request probes over {len(IMPLEMENTATIONS)} systems, {latency:g}s injected "
        f"latency each; {repeat} interleaved rounds; mode {mode}; cpus {os.cpu_count()}; "
        f"python {sys.version.split()[0]}"
    )
    with tempfile.TemporaryDirectory(prefix="infracore-bench-smoke-") as tmp:
        root = keep if keep is not None else Path(tmp) / "set"
        contracts = generate(root, n)
        print(f"contract set: {contracts} (environments/{ENV_NAME}.yaml: {BENCH_LIMITS} per system)")
        print(
            "suite command: "
            + " ".join(suite_command(contracts, Path("<tmp>"), latency)).replace(sys.executable, "python")
        )
        suite: list[SuiteRun] = []
        collect: list[Proc] = []
        sequential: list[SequentialRun] = []
        shipped: SuiteRun | None = None
        print(f"static gates on the set (-m fast): {run_gates(contracts, Path(tmp) / 'gates')}")
        run_collect(contracts, Path(tmp) / "warm", latency, n)  # warm-up: bytecode caches, not timed
        for r in range(1, repeat + 1):
            suite.append(run_suite(contracts, Path(tmp) / f"suite-{r}", latency, n))
            collect.append(run_collect(contracts, Path(tmp) / f"collect-{r}", latency, n))
            sequential.append(run_sequential(contracts, latency, n))
            s, c, q = suite[-1], collect[-1], sequential[-1]
            print(
                f"  round {r}: suite wall {s.wall:.3f}s = start-up {c.wall:.3f}s + probe phase "
                f"{s.wall - c.wall:.3f}s ({s.requests} requests, maxrss {s.maxrss_mib:.1f} MiB) | sequential "
                f"loop {q.loop:.3f}s, process {q.process_wall:.3f}s ({q.requests} requests, "
                f"maxrss {q.maxrss_mib:.1f} MiB)"
            )
        if shipped_limits:
            shipped = run_suite(contracts, Path(tmp) / "shipped", latency, n, env="sandbox")
    _report(n, latency, suite, collect, sequential, shipped)
    phase = statistics.median(s.wall - c.wall for s, c in zip(suite, collect, strict=True))
    holds = phase <= TARGET_PROBE_PHASE_SECONDS
    print(
        f"target: the suite's {n} probes within {TARGET_PROBE_PHASE_SECONDS:.1f}s plus pytest start-up; "
        f"probe phase median {phase:.3f}s: "
        + (f"ok (headroom {TARGET_PROBE_PHASE_SECONDS - phase:.3f}s)" if holds else "MISSED")
        + (" (information only in --short)" if short else "")
    )
    per_probe = [s.requests for s in suite] + [q.requests for q in sequential]
    single = all(count == n for count in per_probe)
    if not single:
        print(f"FAILED: the probes are meant to send one request each; the runs sent {sorted(set(per_probe))} for {n}")
    ok = single and (short or holds)
    print("RESULT: " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


def _report(
    n: int,
    latency: float,
    suite: list[SuiteRun],
    collect: list[Proc],
    sequential: list[SequentialRun],
    shipped: SuiteRun | None,
) -> None:
    walls = [s.wall for s in suite]
    startups = [c.wall for c in collect]
    phases = [s.wall - c.wall for s, c in zip(suite, collect, strict=True)]
    loops = [q.loop for q in sequential]
    processes = [q.process_wall for q in sequential]
    requests = suite[0].requests
    if any(s.requests != requests for s in suite) or any(q.requests != requests for q in sequential):
        print("NOTE: the request counts differ between runs (retries?)")
    if any(q.recorded != q.requests for q in sequential):
        print("NOTE: the sandbox recorded a different number of requests than the probes exchanged")
    wall, phase, loop = statistics.median(walls), statistics.median(phases), statistics.median(loops)
    print()
    print(f"suite       wall         {_med_min(walls)}   {requests / wall:6.1f} req/s")
    print(f"            start-up     {_med_min(startups)}   (--collect-only: no sandbox, no probe)")
    print(f"            probe phase  {_med_min(phases)}   {requests / phase:6.1f} req/s")
    print(
        f"            peak RSS     {max(s.maxrss_mib for s in suite):.1f} MiB "
        f"(--collect-only {max(c.maxrss_mib for c in collect):.1f} MiB)"
    )
    print(f"sequential  probe loop   {_med_min(loops)}   {requests / loop:6.1f} req/s (floor {n * latency:.1f}s)")
    print(f"            process      {_med_min(processes)}   (plus imports, sandbox start and stop)")
    print(
        f"            peak RSS     {max(q.maxrss_mib for q in sequential):.1f} MiB "
        f"(before the loop {max(q.maxrss_before_loop_mib for q in sequential):.1f} MiB)"
    )
    print(f"requests per run: {requests} ({requests / n:.2f} per probe)")
    print(
        f"speed-up: sequential loop / suite probe phase {loop / phase:.1f}x; "
        f"sequential process / suite wall {statistics.median(processes) / wall:.1f}x"
    )
    if shipped is not None:
        print(
            f"supplementary, --env sandbox (the shipped limits, 4 concurrent and 20 req/s per system): "
            f"wall {shipped.wall:.3f}s, probe phase about {shipped.wall - statistics.median(startups):.3f}s"
        )


if __name__ == "__main__":
    raise SystemExit(main())
