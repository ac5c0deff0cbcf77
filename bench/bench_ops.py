"""Benchmark: `pytest -m fast` on an ops-shaped repository (the ops fast set of 20 gates) against bare pytest.

The fixture is `tests/ops_fixture.py`'s: the shipped contracts in the ops layout, with the ops repository's
20 fast gates in the core set (D3, D63, D67, D127 and the 16 other ported gates), every file they read, and
the operator's host paths below a temporary directory (INFRACORE_HOST_ROOT). All 20 gates pass on it.

Three kinds of real pytest processes, started as `python -m pytest` (interpreter start-up, pytest start-up
and the auto-loaded plugins count on every side), alternate after one untimed warm-up each:

- ops: `python -m pytest --contracts=<fixture> -m fast -q -p no:cacheprovider --reports-dir=<tmp>` in the
  project root; every run must pass exactly 20 gates, all of them native (none of the 17 scripts runs);
- core: `python -m pytest -m fast ...` in the project root: the suite's own fast profile on the embedded
  contracts (bench_fast.py's measured side);
- bare: pytest on a file of 20 `def test_N(): pass` (bench_fast.py's bare project).

PATH for every side holds only bash, git, env and sh: no yq, rg or jq, which the ported gates must not need.

Reported: wall times, medians, the ratios, and the cost of the 17 ported gates, measured two ways: the
wall-time difference median(ops) - median(core), and, in-process, the sum of `Engine.run` over the 17 ports
on the fixture with a cold loader cache (the median of 5). Target (exit 1 when missed in full mode): the 17
ports cost < 0.2 s beyond the core's fast profile (the in-process sum; the wall difference is printed, as it
also holds the 7 more gates' pytest items). `--short`: one timed run per side, targets information only.

Usage: `.venv/bin/python bench/bench_ops.py [--short] [--repeat 5]`. No network; every run has a timeout.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import RUN_TIMEOUT_SECONDS, Run, clean_env, cli, stats, timed_run
from bench_fast import REPO, _write_bare_project, fast_gate_count

TARGET_PORTS_SECONDS = 0.2
DEFAULT_REPEAT = 5
SHORT_REPEAT = 1
IN_PROCESS_REPEAT = 5


def _env(tools: Path, host: Path) -> dict[str, str]:
    env = clean_env()
    env["PATH"] = str(tools)
    env["INFRACORE_HOST_ROOT"] = str(host)
    return env


def _tools(directory: Path) -> Path:
    """Return a PATH directory with bash, git, env and sh only."""
    directory.mkdir()
    for tool in ("bash", "git", "env", "sh"):
        found = shutil.which(tool)
        if found is None:
            raise RuntimeError(f"{tool} is not installed")
        (directory / tool).symlink_to(found)
    return directory


def _in_process(fixture_root: Path, env: dict[str, str]) -> dict[str, float]:
    """Return the median seconds per ported gate (Engine.run, cold loader cache), timed in a fresh process."""
    code = (
        "import json, sys, statistics, time\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "from pathlib import Path\n"
        "from infracore_verify.contracts import loader\n"
        "from infracore_verify.contracts.sets import Contracts\n"
        "from tests.ops_fixture import PORTED, outcome\n"
        "from tests.test_checks import run_gate\n"
        f"root = Path({str(fixture_root)!r})\n"
        "times = {g: [] for g in PORTED}\n"
        f"for _ in range({IN_PROCESS_REPEAT}):\n"
        "    loader._cache.clear()\n"
        "    contracts = Contracts.open(root, root)\n"
        "    list(contracts.documents())  # the core profile has loaded the contract set already\n"
        "    for g in PORTED:\n"
        "        t = time.perf_counter(); r = run_gate(contracts, g); times[g].append(time.perf_counter() - t)\n"
        "        assert r.verdict == 'pass', r.message()\n"
        "print(json.dumps({g: statistics.median(v) for g, v in times.items()}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS,
        env=env, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"in-process timing failed:\n{proc.stderr[-3000:]}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    """Run the comparison and print the report; return 1 when a run fails or (full mode) the target is missed."""
    return cli(
        __doc__,
        _bench,
        short_help="Check that the benchmark works: 1 timed run per side",
        default_repeat=DEFAULT_REPEAT,
        short_repeat=SHORT_REPEAT,
    )


def _bench(repeat: int, *, short: bool) -> int:
    sys.path.insert(0, str(REPO))
    from tests.ops_fixture import FAST, PORTED, build

    with tempfile.TemporaryDirectory(prefix="infracore-bench-ops-") as tmp:
        base = Path(tmp)
        fx = build(base / "fixture")
        env = _env(_tools(base / "bin"), fx.host)
        (base / "bare").mkdir()
        pytest_cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        ops_cmd = [*pytest_cmd, f"--contracts={fx.root}", "-m", "fast", f"--reports-dir={base / 'r-ops'}"]
        core_cmd = [*pytest_cmd, "-m", "fast", f"--reports-dir={base / 'r-core'}"]
        bare_cmd = _write_bare_project(base / "bare", len(FAST))
        core_count = fast_gate_count()
        print(f"ops:  {' '.join(ops_cmd)}\ncore: {' '.join(core_cmd)}\nbare: {' '.join(bare_cmd)}")
        print(f"gates: ops {len(FAST)} (17 ported), core {core_count}; timed runs per side: {repeat} (+1 warm-up);"
              f" mode: {'short' if short else 'full'}; cpus: {os.cpu_count()}; load average: {os.getloadavg()[0]:.2f}")  # fmt: skip
        sides: dict[str, list[Run]] = {"ops": [], "core": [], "bare": []}
        plan = (("ops", ops_cmd, len(FAST)), ("core", core_cmd, core_count), ("bare", bare_cmd, len(FAST)))
        for _, cmd, n in plan:
            timed_run(cmd, REPO if cmd is not bare_cmd else base / "bare", n, env)
        for i in range(repeat):
            for name, cmd, n in plan:
                sides[name].append(timed_run(cmd, REPO if cmd is not bare_cmd else base / "bare", n, env))
            print("  run " + str(i + 1) + ": " + "  ".join(f"{k} {v[-1].wall:.3f}s" for k, v in sides.items()))
        rows = json.loads((next((base / "r-ops" / "receipts").glob("*.json"))).read_text())["gates"]
        natives = {r["id"] for r in rows if r["implementation"] == "native"}
        per_gate = _in_process(fx.root, env)
    ok = natives == set(FAST)
    if not ok:
        print(f"ERROR: not every fast gate ran natively: {sorted(set(FAST) - natives)}")
    med = {k: statistics.median(r.wall for r in v) for k, v in sides.items()}
    print()
    for name, runs in sides.items():
        print(stats(name, runs))
    print(
        f"ratio ops/bare: {med['ops'] / med['bare']:.2f}x; ops - core (wall, median): {med['ops'] - med['core']:+.3f}s"
    )
    ports = sum(per_gate[g] for g in PORTED)
    slowest = sorted(per_gate.items(), key=lambda kv: -kv[1])[:4]
    print("17 ported gates in-process (median of 5, cold cache): " + f"{ports * 1000:.1f} ms; slowest: "
          + ", ".join(f"{g} {s * 1000:.1f} ms" for g, s in slowest))  # fmt: skip
    holds = ports < TARGET_PORTS_SECONDS
    print(f"target: 17 ported gates < {TARGET_PORTS_SECONDS} s beyond the core's fast profile: {ports:.3f}s "
          f"{'ok' if holds else 'MISSED'}" + (" (information only in --short)" if short else ""))  # fmt: skip
    ok = ok and (short or holds)
    print("RESULT: " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
