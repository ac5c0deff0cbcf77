"""Benchmark: `pytest -m fast` on the embedded contracts against bare pytest running as many trivial tests.

Both sides are real, separate pytest processes started the same way (`python -m pytest`), so interpreter
start-up, pytest start-up and the auto-loaded third-party plugins (xdist, timeout, allure) are paid by both:

- fast: `python -m pytest -m fast -q -p no:cacheprovider --reports-dir=<tmp>` in the project root: the
  suite's plugin plans the gates, runs the fast profile and writes its receipt (into a temporary
  directory, so the checkout stays clean);
- bare: `python -m pytest -q -p no:cacheprovider -c <tmp>/pytest.ini --rootdir=<tmp>` on a file of
  `def test_N(): pass`, one per fast gate, in a temporary directory: the empty ini file and root keep the
  project's conftest, plugin and options out.

One warm-up run of each (bytecode caches) is not timed; then the timed runs alternate fast, bare, fast,
bare... so drift on the machine hits both sides alike. Reported: every wall time, median and minimum per
side, the ratio, and whether the target holds: median(fast) <= 1.5 * median(bare) + 0.5 s. Exit code 1
when it does not, or when a run fails, or when the checkout's reports/receipts changed.

`--short` (a check that the benchmark still works, for CI): one timed run per side after the warm-ups.
Every correctness check still applies (each run passes exactly the fast profile's gates, one receipt per
fast run, the checkout's receipts untouched); the target is printed as information and never fails the
run. Any failed or timed-out run exits 1 in both modes.

Usage: `.venv/bin/python bench/bench_fast.py [--short] [--repeat 5]`. Each run has a timeout; nothing
touches the network.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

from _timing import Run, cli, stats, timed_run

REPO = Path(__file__).resolve().parent.parent
TARGET_FACTOR = 1.5
TARGET_OFFSET_SECONDS = 0.5
DEFAULT_REPEAT = 5
SHORT_REPEAT = 1


def fast_gate_count() -> int:
    """Return how many gates the fast profile of the embedded contracts selects (planned like the plugin)."""
    from infracore_verify.contracts.model import Registry, RunProfiles, Topology
    from infracore_verify.contracts.sets import BUNDLED_CONTRACTS, Contracts
    from infracore_verify.gates.profiles import resolve_fast

    contracts = Contracts.open(BUNDLED_CONTRACTS)
    selection = resolve_fast(
        Registry.from_doc(contracts.doc("registry")),
        Topology.from_doc(contracts.doc("topology")),
        RunProfiles.from_doc(contracts.doc("run_profiles")),
    )
    return len(selection.gate_ids)


def _write_bare_project(directory: Path, count: int) -> list[str]:
    (directory / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    tests = "".join(f"\n\ndef test_{i}() -> None:\n    pass\n" for i in range(count))
    (directory / "test_trivial.py").write_text(f'"""{count} trivial tests."""{tests}', encoding="utf-8")
    return [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:infracore_verify.plugin",  # bare pytest: the installed plugin (pytest11 entry point) stays out
        "-c",
        str(directory / "pytest.ini"),
        f"--rootdir={directory}",
        str(directory / "test_trivial.py"),
    ]


def _receipts() -> set[str]:
    folder = REPO / "reports" / "receipts"
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def main() -> int:
    """Run the comparison and print the report; return 1 when the target is missed."""
    return cli(
        __doc__,
        _bench,
        short_help=f"Check that the benchmark works: {SHORT_REPEAT} timed run per side; the target is information only",
        default_repeat=DEFAULT_REPEAT,
        short_repeat=SHORT_REPEAT,
    )


def _bench(repeat: int, *, short: bool) -> int:
    """Run the interleaved runs, print the report and return the exit code."""
    count = fast_gate_count()
    before = _receipts()
    fast: list[Run] = []
    bare: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="infracore-bench-fast-") as tmp:
        reports = Path(tmp) / "reports"
        bare_dir = Path(tmp) / "bare"
        bare_dir.mkdir()
        fast_cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-m",
            "fast",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--reports-dir={reports}",
        ]
        bare_cmd = _write_bare_project(bare_dir, count)
        print(f"fast: {' '.join(fast_cmd)}  (cwd {REPO})")
        print(f"bare: {' '.join(bare_cmd)}  (cwd {bare_dir})")
        mode = "short (checks that it works; the target is information only)" if short else "full"
        print(
            f"tests per run: {count}; timed runs per side: {repeat} (+1 warm-up each); mode: {mode}; "
            f"cpus: {os.cpu_count()}"
        )
        timed_run(fast_cmd, REPO, count)
        timed_run(bare_cmd, bare_dir, count)
        for i in range(repeat):
            fast.append(timed_run(fast_cmd, REPO, count))
            bare.append(timed_run(bare_cmd, bare_dir, count))
            print(f"  run {i + 1}: fast {fast[-1].wall:.3f}s  bare {bare[-1].wall:.3f}s")
        receipts_dir = reports / "receipts"
        written = len(list(receipts_dir.glob("*.json"))) if receipts_dir.is_dir() else 0

    ok = True
    if written != repeat + 1:
        print(f"ERROR: the fast runs wrote {written} receipts, expected {repeat + 1}")
        ok = False
    if _receipts() != before:
        print("ERROR: reports/receipts in the checkout changed; --reports-dir was not honoured")
        ok = False
    fast_median = statistics.median(r.wall for r in fast)
    bare_median = statistics.median(r.wall for r in bare)
    limit = TARGET_FACTOR * bare_median + TARGET_OFFSET_SECONDS
    print()
    print(stats("fast", fast))
    print(stats("bare", bare))
    print(
        f"ratio fast/bare: median {fast_median / bare_median:.2f}x, min {min(r.wall for r in fast) / min(r.wall for r in bare):.2f}x; "
        f"overhead (median) {fast_median - bare_median:+.3f}s"
    )
    holds = fast_median <= limit
    print(
        f"target: fast <= {TARGET_FACTOR} * bare + {TARGET_OFFSET_SECONDS} s = {limit:.3f}s; "
        f"fast median {fast_median:.3f}s: {'ok' if holds else 'MISSED'} (headroom {limit - fast_median:+.3f}s)"
        + (" (information only in --short)" if short else "")
    )
    ok = ok and (short or holds)
    print("RESULT: " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
