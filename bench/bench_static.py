"""Benchmark: load a synthetic contract set and run every native (static) gate, for growing gate counts.

For each size N (default 400, 1000, 2000, 4000 active gates) the benchmark writes a synthetic set with
`synthetic.generate` and then, in a fresh worker process (so the peak RSS belongs to that size alone and
no import cost is timed), repeats `--repeat` times:

1. clear the loader's document cache and compiled-schema cache (a cold load, imports excluded);
2. load phase: open the set and load every contract (`Contracts.documents()`), then build what the
   plugin's `build_plan` builds (registry, topology, run profiles, ring budgets, classifier);
3. gate phase: run every gate in `infracore_verify.checks.NATIVE` through `Engine.run`.

The synthetic gates' own check scripts never run: the target is about the static gates. Every static
gate must pass on the synthetic set; a failure is printed with its message (it points at a bug in the
generator or in the gate).

Reported per N: the minimum and median of load + gates over the repetitions, the time per registry
gate, the slowest static gates, and the growth ratios. A last worker run for the largest N measures the
peak traced Python allocation with `tracemalloc` (a separate run, because tracing slows everything down).

Supplementary (no target, on by default, `--no-collect` skips it): the real plugin on each synthetic set,
`python -m pytest --contracts=<set> --collect-only -q` from the project root, which plans and
parametrizes all N gates (no gate runs). It shows how planning and collection grow with N.

Targets (exit 1 when missed): 4,000 gates finish in under 5 s; time(4000) / time(400) < 15 (linear
growth would be about 10, less with the fixed per-run cost). Every subprocess has a timeout; nothing
touches the network.

Usage: `.venv/bin/python bench/bench_static.py [--sizes 400 4000] [--repeat 3]`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

TARGET_SECONDS_4000 = 5.0
MAX_GROWTH_4000_OVER_400 = 15.0
WORKER_TIMEOUT_SECONDS = 300
REPO = Path(__file__).resolve().parent.parent
COLLECT_REPEAT = 2
DEFAULT_SIZES = (400, 1000, 2000, 4000)
DEFAULT_REPEAT = 3
SLOWEST_SHOWN = 5


def _clean_env() -> dict[str, str]:
    """Return the environment for workers: no suite or pytest overrides that could change what is measured."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("INFRACORE_", "PYTEST_")) and k not in ("PYTHONPATH", "PYTHONTRACEMALLOC")
    }


def _worker(contracts_path: Path, repeat: int, trace: bool) -> dict[str, Any]:
    """Time load + native gates `repeat` times in this process and return the measurements."""
    from infracore_verify import loader
    from infracore_verify.checks import NATIVE
    from infracore_verify.classify import Classifier
    from infracore_verify.contracts import Contracts
    from infracore_verify.engine import Engine
    from infracore_verify.model import Registry, RunProfiles, Topology, ring_budgets

    runs: list[dict[str, Any]] = []
    failures: dict[str, str] = {}
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
        for gate_id in sorted(NATIVE):
            gate = registry.by_id.get(gate_id)
            if gate is None:
                failures[gate_id] = "not in the synthetic registry"
                continue
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
    return {"active_gates": gate_count, "runs": runs, "failures": failures, "maxrss_kib": maxrss_kib}


def _run_worker(contracts: Path, repeat: int, trace: bool) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", str(contracts), "--repeat", str(repeat)]
    if trace:
        command.append("--trace")
    proc = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=WORKER_TIMEOUT_SECONDS,
        env=_clean_env(),
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
    ]
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        proc = subprocess.run(
            command,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=WORKER_TIMEOUT_SECONDS,
            env=_clean_env(),
            stdin=subprocess.DEVNULL,
            check=False,
        )
        best = min(best, time.perf_counter() - started)
        if proc.returncode != 0 or f"{n} tests collected" not in proc.stdout:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
            raise RuntimeError(f"collection of the N={n} set failed ({proc.returncode}):\n{tail}")
    return best


def _fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f}"


def main() -> int:
    """Run the benchmark (or, with --worker, one measurement) and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), help="Active gate counts")
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT, help="Repetitions per size (min and median)")
    parser.add_argument("--no-trace", action="store_true", help="Skip the tracemalloc run for the largest size")
    parser.add_argument("--no-collect", action="store_true", help="Skip the supplementary plugin collection timing")
    parser.add_argument("--worker", type=Path, metavar="CONTRACTS", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.repeat < 1 or args.repeat > 20:
        parser.error("--repeat must be between 1 and 20")
    if args.worker is not None:
        print(json.dumps(_worker(args.worker, args.repeat, args.trace)))
        return 0

    import synthetic  # bench/ is on sys.path when this file runs as a script

    sizes = sorted(set(args.sizes))
    print(f"static gates over synthetic registries: sizes={sizes} repeat={args.repeat} python={sys.version.split()[0]}")
    print(f"cpus={os.cpu_count()}  (times: load = open + load every contract + plan views; gates = every native gate)")
    print()
    totals: dict[int, float] = {}
    results: dict[int, dict[str, Any]] = {}
    collect: dict[int, float] = {}
    ok = True
    with tempfile.TemporaryDirectory(prefix="infracore-bench-") as tmp:
        for n in sizes:
            root = Path(tmp) / f"n{n}"
            generated = time.perf_counter()
            contracts = synthetic.generate(root, n)
            generated = time.perf_counter() - generated
            data = _run_worker(contracts, args.repeat, trace=False)
            results[n] = data
            runs = data["runs"]
            total = [r["total"] for r in runs]
            totals[n] = min(total)
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
            if not args.no_collect:
                collect[n] = _collect_seconds(contracts, root / "reports", n, COLLECT_REPEAT)
            for gate_id, message in sorted(data["failures"].items()):
                print(f"  GATE FAILED on the synthetic set: {gate_id}:\n    " + message.replace("\n", "\n    "))
                ok = False

        largest = sizes[-1]
        best = min(results[largest]["runs"], key=lambda r: float(r["total"]))
        print(f"\nslowest static gates at N={largest} (best repetition, ms):")
        for gate_id, seconds in sorted(best["per_gate"].items(), key=lambda kv: -float(kv[1]))[:SLOWEST_SHOWN]:
            print(f"  {gate_id:6s} {_fmt_ms(seconds)}")
        print("  " + "  ".join(f"{g}={s * 1000:.1f}" for g, s in sorted(best["per_gate"].items())))

        if not args.no_trace:
            traced = _run_worker(Path(tmp) / f"n{largest}" / "contracts", 1, trace=True)
            peak = traced["runs"][0]["traced_peak_bytes"]
            print(
                f"\nmemory at N={largest}: tracemalloc peak {peak / 1024 / 1024:.1f} MiB of Python allocations during "
                f"load + gates; process maxrss {results[largest]['maxrss_kib'] / 1024:.1f} MiB (timed run, "
                "including the interpreter and imports)"
            )

    if collect:
        print(
            "\nsupplementary (no target): plugin planning + collection of all N gates, pytest --collect-only, best of "
            f"{COLLECT_REPEAT} wall:"
        )
        for n, seconds in collect.items():
            print(f"  N={n:5d}  {seconds:6.3f}s")
        for a, b in itertools.pairwise(sizes):
            print(f"  growth {a:5d} -> {b:5d}: x{b / a:5.2f} gates, x{collect[b] / collect[a]:5.2f} time")

    print()
    smallest = sizes[0]
    for a, b in itertools.pairwise(sizes):
        ratio = totals[b] / totals[a]
        print(f"growth {a:5d} -> {b:5d}: x{b / a:5.2f} gates, x{ratio:5.2f} time")
    if largest > smallest:
        marginal = (totals[largest] - totals[smallest]) / (largest - smallest)
        print(f"marginal cost per gate ({smallest}..{largest}): {marginal * 1e6:.1f} us")
    if 400 in totals and 4000 in totals:
        growth = totals[4000] / totals[400]
        verdict = "ok" if growth < MAX_GROWTH_4000_OVER_400 else "MISSED"
        print(f"linearity: time(4000)/time(400) = {growth:.2f} (target < {MAX_GROWTH_4000_OVER_400:.0f}): {verdict}")
        ok = ok and growth < MAX_GROWTH_4000_OVER_400
    if 4000 in totals:
        verdict = "ok" if totals[4000] < TARGET_SECONDS_4000 else "MISSED"
        print(f"target: 4000 gates in {totals[4000]:.3f}s (target < {TARGET_SECONDS_4000:.0f} s): {verdict}")
        ok = ok and totals[4000] < TARGET_SECONDS_4000
    print("RESULT: " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
