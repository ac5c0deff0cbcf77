"""What the pytest-process benchmarks share: one timed pytest process, its summary line, the report and the CLI.

`bench_fast.py` and `bench_ops.py` time real `python -m pytest` processes with `timed_run` (a `Run` each),
print `stats` per side and start through `cli` (`--short`, `--repeat`; an error prints `FAILED: ...` and
`RESULT: FAIL` and exits 1).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

RUN_TIMEOUT_SECONDS = 120
SUMMARY = re.compile(
    r"(?P<passed>\d+) passed(?:, (?P<deselected>\d+) deselected)?(?:, \d+ warnings?)? in (?P<seconds>[\d.]+)s"
)
"""pytest's closing line with `-q`: how many passed and the session's seconds."""


@dataclass(frozen=True)
class Run:
    """One timed pytest process."""

    wall: float
    """Seconds from process start to exit, measured here."""
    session: float
    """Seconds pytest reports for its session ('N passed in X s'): collection and tests, no start-up."""
    passed: int


def clean_env() -> dict[str, str]:
    """Return the environment for every side: no pytest or suite overrides that would change a run."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("INFRACORE_", "PYTEST_")) and k not in ("PYTHONPATH", "PYTHONTRACEMALLOC")
    }


def timed_run(command: list[str], cwd: Path, expected: int, env: dict[str, str] | None = None) -> Run:
    """Run one pytest process (environment `env`, default `clean_env()`); raise unless exactly `expected` passed."""
    started = time.perf_counter()
    proc = subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        env=clean_env() if env is None else env,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    wall = time.perf_counter() - started
    match = SUMMARY.search(proc.stdout)
    if proc.returncode != 0 or match is None or int(match.group("passed")) != expected:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        raise RuntimeError(
            f"{' '.join(command)} (in {cwd}) exited {proc.returncode}, expected {expected} passed:\n{tail}"
        )
    return Run(wall, float(match.group("seconds")), int(match.group("passed")))


def stats(name: str, runs: list[Run]) -> str:
    """Return one report line for a side: wall median/min/max, pytest session median, start-up median."""
    walls = [r.wall for r in runs]
    sessions = [r.session for r in runs]
    return (
        f"{name:5s} wall median {statistics.median(walls):.3f}s  min {min(walls):.3f}s  max {max(walls):.3f}s  "
        f"| pytest session median {statistics.median(sessions):.3f}s  "
        f"| start-up + configure (wall - session) median {statistics.median(w - s for w, s in zip(walls, sessions, strict=True)):.3f}s"
    )


def cli(doc: str | None, bench: Callable[..., int], *, short_help: str, default_repeat: int, short_repeat: int) -> int:
    """Parse `--short` and `--repeat`, run `bench(repeat, short=...)` and return its exit code (1 when it raises)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--short", action="store_true", help=short_help)
    parser.add_argument("--repeat", type=int, help=f"Timed runs per side (default {default_repeat})")
    args = parser.parse_args()
    repeat: int = args.repeat if args.repeat is not None else (short_repeat if args.short else default_repeat)
    if not 1 <= repeat <= 50:
        parser.error("--repeat must be between 1 and 50")
    try:
        return int(bench(repeat, short=args.short))
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        print(f"FAILED: {type(error).__name__}: {error}")
        print("RESULT: FAIL")
        return 1
