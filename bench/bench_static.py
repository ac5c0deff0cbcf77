"""Benchmark: load a synthetic contract set and run every native (static) gate, for growing gate counts.

For each size N (default 400, 1000, 2000, 4000 active gates) the benchmark writes a synthetic set with
`synthetic.generate` and then, in a fresh worker process (so the peak RSS belongs to that size alone and
no import cost is timed), repeats `--repeat` times:

1. clear the loader's document cache and compiled-schema cache (a cold load, imports excluded);
2. load phase: open the set and load every contract (`Contracts.documents()`), then build what the
   plugin's `build_plan` builds (registry, topology, run profiles, ring budgets, classifier);
3. gate phase: run every gate in `infracore_verify.gates.checks.NATIVE` through `Engine.run`. A native gate
   that is also a live gate (it lists smoke `probes`, e.g. D55: a static scan of the suite's code plus
   two Infisical probes) runs its native, static part only. Its probes are live work: in the product
   they run through the smoke fixtures' probe runner (`smoke_runner`, which the plugin hands to the
   engine) against the environment's systems or the sandbox; without one the engine fails the gate
   ("live gate without a probe runner"). `bench_smoke.py` measures probes.

The synthetic gates' own check scripts never run: the target is about the static gates. Every static
gate must pass on the synthetic set; a failure is printed with its message (it points at a bug in the
generator or in the gate) and fails the benchmark (RESULT: FAIL, exit 1), in `--short` mode too.

Reported per N: the minimum and median of load + gates over the repetitions, the time per registry
gate, the slowest static gates, and the growth ratios. A last worker run for the largest N measures the
peak traced Python allocation with `tracemalloc` (a separate run, because tracing slows everything down).

Supplementary (no target, on by default, `--no-collect` skips it): the real plugin on each synthetic set,
`python -m pytest --contracts=<set> --collect-only -q gates` from the project root, which plans and
parametrizes all N gates (no gate runs) and must collect exactly N tests. The `gates` path keeps the smoke
probe and recovery tests (the other test paths) out. It shows how planning and collection grow with N.

Targets (exit 1 when missed): 4,000 gates finish in under 5 s; time(4000) / time(400) < 15 (linear
growth would be about 10, less with the fixed per-run cost). Every subprocess has a timeout; nothing
touches the network.

`--short` (a check that the benchmark still works, for CI): sizes 100 and 400, one repetition, collection
timed once. Every correctness check still applies (gate verdicts, gate counts, load errors, collection
counts); the timing targets are printed as information and never fail the run.

Usage: `.venv/bin/python bench/bench_static.py [--short] [--sizes 400 4000] [--repeat 3]`.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from _timing import clean_env

TARGET_SECONDS_4000 = 5.0
MAX_GROWTH_4000_OVER_400 = 15.0
WORKER_TIMEOUT_SECONDS = 300
REPO = Path(__file__).resolve().parent.parent
COLLECT_REPEAT = 2
DEFAULT_SIZES = (400, 1000, 2000, 4000)
DEFAULT_REPEAT = 3
SHORT_SIZES = (100, 400)
SHORT_REPEAT = 1
SHORT_COLLECT_REPEAT = 1
MIN_SIZE = 40
"""Smallest size accepted: the shipped active gates plus the synthetic core gates fit (and some room)."""
SLOWEST_SHOWN = 5


def _worker(contracts_path: Path, repeat: int, trace: bool) -> dict[str, Any]:
    """Time load + native gates `repeat` times in this process and return the measurements."""
    from infracore_verify.contracts import loader
    from infracore_verify.contracts.model import Registry, RunProfiles, Topology, ring_budgets
    from infracore_verify.contracts.sets import Contracts
    from infracore_verify.gates.checks import NATIVE, OPS_PORTS
    from infracore_verify.gates.classify import Classifier
    from infracore_verify.gates.engine import Engine

    runs: list[dict[str, Any]] = []
    failures: dict[str, str] = {}
    live: dict[str, list[str]] = {}
    gate_count = 0
    for _ in range(repeat):
        # A cold load each time: the document cache, and the compiled schemas when the loader caches them.
        loader._cache.clear()
        validator = getattr(loader, "_validator", None)
        if validator is not None and hasattr(validator, "cache_clear"):
            validator.cache_clear()
        if trace:
            tracemalloc.start()
        started = time.perf_counter()
        contracts = Contracts.open(contracts_path)
        load_errors = [e.render() for doc in contracts.documents() for e in doc.errors]
        registry = Registry.from_doc(contracts.doc("registry"))
        Topology.from_doc(contracts.doc("topology"))
        RunProfiles.from_doc(contracts.doc("run_profiles"))
        budgets = ring_budgets(contracts.doc("ring_policy"))
        classifier = Classifier.from_doc(contracts.doc("classification"))
        loaded = time.perf_counter()
        engine = Engine(contracts, registry, classifier, budgets)
        per_gate: dict[str, float] = {}
        # The ported ops gates read an ops repository's files, not a contract set: bench_ops.py times them.
        for gate_id in sorted(set(NATIVE) - set(OPS_PORTS)):
            gate = registry.by_id.get(gate_id)
            if gate is None:
                failures[gate_id] = "not in the synthetic registry"
                continue
            if gate.probes:
                # A live gate: time and check its native (static) part; its smoke probes are live work.
                live[gate_id] = list(gate.probes)
                gate = dataclasses.replace(gate, probes=())
            gate_started = time.perf_counter()
            result = engine.run(gate)
            per_gate[gate_id] = time.perf_counter() - gate_started
            if result.verdict != "pass":
                failures[gate_id] = result.message()
        finished = time.perf_counter()
        peak = 0
        if trace:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        gate_count = len(registry.active)
        runs.append(
            {
                "load": loaded - started,
                "gates": finished - loaded,
                "total": finished - started,
                "per_gate": per_gate,
                "traced_peak_bytes": peak,
                "load_errors": load_errors,
            }
        )
    maxrss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"active_gates": gate_count, "runs": runs, "failures": failures, "live": live, "maxrss_kib": maxrss_kib}


def _run_worker(contracts: Path, repeat: int, trace: bool) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", str(contracts), "--repeat", str(repeat)]
    if trace:
        command.append("--trace")
    proc = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=WORKER_TIMEOUT_SECONDS,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"worker failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    lines = proc.stdout.strip().splitlines()
    result: dict[str, Any] = json.loads(lines[-1] if lines else "{}")
    return result


def _collect_seconds(contracts: Path, reports: Path, n: int, repeat: int) -> float:
    """Return the best wall time of the plugin collecting all `n` gates of a set (`--collect-only`)."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        f"--contracts={contracts}",
        "--collect-only",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--reports-dir={reports}",
        "gates",
    ]
    collected = re.compile(rf"(?<!\d){n} tests collected")
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        proc = subprocess.run(
            command,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=WORKER_TIMEOUT_SECONDS,
            env=clean_env(),
            stdin=subprocess.DEVNULL,
            check=False,
        )
        best = min(best, time.perf_counter() - started)
        if proc.returncode != 0 or not collected.search(proc.stdout):
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
            raise RuntimeError(f"collection of the N={n} set failed ({proc.returncode}):\n{tail}")
    return best


def _fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f}"


def main() -> int:
    """Run the benchmark (or, with --worker, one measurement) and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--short",
        action="store_true",
        help=f"Check that the benchmark works: sizes {' '.join(map(str, SHORT_SIZES))}, {SHORT_REPEAT} repetition; "
        "verdicts are checked, timing targets are information only",
    )
    parser.add_argument(
        "--sizes", type=int, nargs="+", help=f"Active gate counts (default {' '.join(map(str, DEFAULT_SIZES))})"
    )
    parser.add_argument("--repeat", type=int, help=f"Repetitions per size, min and median (default {DEFAULT_REPEAT})")
    parser.add_argument("--no-trace", action="store_true", help="Skip the tracemalloc run for the largest size")
    parser.add_argument("--no-collect", action="store_true", help="Skip the supplementary plugin collection timing")
    parser.add_argument("--worker", type=Path, metavar="CONTRACTS", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    repeat: int = args.repeat if args.repeat is not None else (SHORT_REPEAT if args.short else DEFAULT_REPEAT)
    if repeat < 1 or repeat > 20:
        parser.error("--repeat must be between 1 and 20")
    if args.worker is not None:
        print(json.dumps(_worker(args.worker, repeat, args.trace)))
        return 0
    sizes = sorted(set(args.sizes or (SHORT_SIZES if args.short else DEFAULT_SIZES)))
    if sizes[0] < MIN_SIZE:
        parser.error(f"--sizes must be at least {MIN_SIZE} (the shipped active gates plus the synthetic core)")
    try:
        return _bench(sizes, repeat, short=args.short, trace=not args.no_trace, collect=not args.no_collect)
    except (RuntimeError, ValueError, OSError, subprocess.SubprocessError) as error:
        print(f"FAILED: {type(error).__name__}: {error}")
        print("RESULT: FAIL")
        return 1


def _measure_size(
    root: Path, n: int, repeat: int, collect_repeat: int | None
) -> tuple[dict[str, Any], float | None, bool]:
    """Generate and measure the N=`n` set; print its line; return (worker data, collection seconds, verdicts ok)."""
    import synthetic  # bench/ is on sys.path when this file runs as a script

    ok = True
    generated = time.perf_counter()
    contracts = synthetic.generate(root, n)
    generated = time.perf_counter() - generated
    data = _run_worker(contracts, repeat, trace=False)
    runs = data["runs"]
    total = [r["total"] for r in runs]
    load_min = min(r["load"] for r in runs)
    gates_min = min(r["gates"] for r in runs)
    size_kib = (contracts / "gate.registry.yaml").stat().st_size / 1024
    print(
        f"N={n:5d}  active={data['active_gates']:5d}  total min {min(total):6.3f}s  median "
        f"{statistics.median(total):6.3f}s  (load {load_min:6.3f}s, gates {gates_min:6.3f}s)  "
        f"{min(total) / n * 1000:6.3f} ms/registry gate  maxrss {data['maxrss_kib'] / 1024:6.1f} MiB  "
        f"registry {size_kib:7.0f} KiB  (generated in {generated:.2f}s)"
    )
    if data["active_gates"] != n:
        print(f"  ERROR: the synthetic set has {data['active_gates']} active gates, not {n}")
        ok = False
    for error in runs[0]["load_errors"]:
        print(f"  LOAD ERROR: {error}")
        ok = False
    collected = _collect_seconds(contracts, root / "reports", n, collect_repeat) if collect_repeat else None
    for gate_id, message in sorted(data["failures"].items()):
        print(f"  GATE FAILED on the synthetic set: {gate_id}:\n    " + message.replace("\n", "\n    "))
        ok = False
    return data, collected, ok


def _print_gates(data: dict[str, Any], largest: int) -> None:
    """Print the live gates and the slowest static gates of the largest size's best repetition."""
    best = min(data["runs"], key=lambda r: float(r["total"]))
    print(f"\nstatic gates run: {len(best['per_gate'])} (every native gate)")
    for gate_id, probes in sorted(data["live"].items()):
        print(
            f"  {gate_id} is a live gate: its native part is timed and checked; its probes "
            f"({', '.join(probes)}) are live work and not run here (see bench_smoke.py)"
        )
    print(f"slowest static gates at N={largest} (best repetition, ms):")
    for gate_id, seconds in sorted(best["per_gate"].items(), key=lambda kv: -float(kv[1]))[:SLOWEST_SHOWN]:
        print(f"  {gate_id:6s} {_fmt_ms(seconds)}")
    print("  " + "  ".join(f"{g}={s * 1000:.1f}" for g, s in sorted(best["per_gate"].items())))


def _trace_memory(contracts: Path, largest: int, maxrss_kib: float) -> bool:
    """Run the largest set once under tracemalloc and print its peak; return False when a gate failed."""
    traced = _run_worker(contracts, 1, trace=True)
    peak = traced["runs"][0]["traced_peak_bytes"]
    print(
        f"\nmemory at N={largest}: tracemalloc peak {peak / 1024 / 1024:.1f} MiB of Python allocations during "
        f"load + gates; process maxrss {maxrss_kib / 1024:.1f} MiB (timed run, "
        "including the interpreter and imports)"
    )
    ok = True
    for gate_id, message in sorted(traced["failures"].items()):
        print(f"  GATE FAILED in the traced run: {gate_id}:\n    " + message.replace("\n", "\n    "))
        ok = False
    return ok


def _print_collection(collected: dict[int, float], sizes: list[int], collect_repeat: int) -> None:
    """Print the supplementary plugin collection timings and their growth."""
    print(
        "\nsupplementary (no target): plugin planning + collection of all N gates, pytest --collect-only, best of "
        f"{collect_repeat} wall:"
    )
    for n, seconds in collected.items():
        print(f"  N={n:5d}  {seconds:6.3f}s")
    for a, b in itertools.pairwise(sizes):
        print(f"  growth {a:5d} -> {b:5d}: x{b / a:5.2f} gates, x{collected[b] / collected[a]:5.2f} time")


def _targets(totals: dict[int, float], sizes: list[int], short: bool) -> bool:
    """Print growth, marginal cost and the timing targets; return False when a target is missed (never in short)."""
    ok = True
    print()
    smallest, largest = sizes[0], sizes[-1]
    for a, b in itertools.pairwise(sizes):
        ratio = totals[b] / totals[a]
        print(f"growth {a:5d} -> {b:5d}: x{b / a:5.2f} gates, x{ratio:5.2f} time")
    if largest > smallest:
        marginal = (totals[largest] - totals[smallest]) / (largest - smallest)
        print(f"marginal cost per gate ({smallest}..{largest}): {marginal * 1e6:.1f} us")
    info = " (information only in --short)" if short else ""
    if 400 in totals and 4000 in totals:
        growth = totals[4000] / totals[400]
        verdict = "ok" if growth < MAX_GROWTH_4000_OVER_400 else "MISSED"
        print(
            f"linearity: time(4000)/time(400) = {growth:.2f} (target < {MAX_GROWTH_4000_OVER_400:.0f}): {verdict}{info}"
        )
        ok = ok and (short or growth < MAX_GROWTH_4000_OVER_400)
    if 4000 in totals:
        verdict = "ok" if totals[4000] < TARGET_SECONDS_4000 else "MISSED"
        print(f"target: 4000 gates in {totals[4000]:.3f}s (target < {TARGET_SECONDS_4000:.0f} s): {verdict}{info}")
        ok = ok and (short or totals[4000] < TARGET_SECONDS_4000)
    else:
        print(
            f"targets (4000 gates < {TARGET_SECONDS_4000:.0f} s, time(4000)/time(400) < {MAX_GROWTH_4000_OVER_400:.0f}): "
            "not measured at these sizes; run without --short / --sizes"
        )
    return ok


def _bench(sizes: list[int], repeat: int, *, short: bool, trace: bool, collect: bool) -> int:
    """Measure every size, print the report and return the exit code (1 on a wrong verdict or a missed target)."""
    collect_repeat = SHORT_COLLECT_REPEAT if short else COLLECT_REPEAT
    mode = "short (checks that it works; timing targets are information only)" if short else "full"
    print(
        f"static gates over synthetic registries: sizes={sizes} repeat={repeat} mode={mode} "
        f"python={sys.version.split()[0]}"
    )
    print(f"cpus={os.cpu_count()}  (times: load = open + load every contract + plan views; gates = every native gate)")
    print()
    totals: dict[int, float] = {}
    results: dict[int, dict[str, Any]] = {}
    collected: dict[int, float] = {}
    ok = True
    largest = sizes[-1]
    with tempfile.TemporaryDirectory(prefix="infracore-bench-") as tmp:
        for n in sizes:
            data, seconds, size_ok = _measure_size(Path(tmp) / f"n{n}", n, repeat, collect_repeat if collect else None)
            results[n] = data
            totals[n] = min(r["total"] for r in data["runs"])
            if seconds is not None:
                collected[n] = seconds
            ok = ok and size_ok
        _print_gates(results[largest], largest)
        if trace:
            contracts = Path(tmp) / f"n{largest}" / "contracts"
            ok = _trace_memory(contracts, largest, results[largest]["maxrss_kib"]) and ok
    if collected:
        _print_collection(collected, sizes, collect_repeat)
    ok = _targets(totals, sizes, short) and ok
    print("RESULT: " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
