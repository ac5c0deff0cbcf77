"""Benchmark: recovery ledger decisions stay O(actions) with 100,000 ledger lines, and rotation keeps the state.

The script writes a synthetic ledger of `--lines` (default 100,000) lines for `--actions` (default 20) actions
(attempt-started, then failed or recovered, round robin; the same JSON lines `Ledger` writes), and a small one of
1,000 lines. For each it measures, with the real `infracore_verify.recovery.ledger.Ledger` (file lock, fsync,
state file):

(a) cold: the first decision, which finds no state file and folds the whole log once;
(b) warm: `--decisions` (default 200) decisions after it (begin + finish of one action, each a read-decide-
    append with its fsyncs), median and maximum per decision;
(c) old way (information): reading and parsing the whole log once, which the ledger before issue 9 did for
    every decision.

Target: warm median at 100,000 lines <= 2 x warm median at 1,000 lines + 2 ms (the cost does not grow with the
history), and <= 25 ms. Every decision's state must equal the state folded from all lines in memory.

Rotation (d): a ledger with `max_bytes` 256 KiB and `keep` 2 takes `--rotation-decisions` (default 2,000)
decisions; then the rotated logs and the state file are deleted and a fresh `Ledger` must still report every
action's attempts and cooldown exactly (the checkpoint line carries them), and at least two rotations must
have happened.

`--short` (a check that it still works, for CI): 10,000 lines, 50 decisions, 1,500 rotation decisions; every
correctness check applies, the timing target is printed as information only. Prints `RESULT: PASS` (exit 0)
or `RESULT: FAIL` (exit 1).

Usage: `.venv/bin/python bench/bench_ledger.py [--short] [--lines 100000] [--actions 20] [--decisions 200]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from infracore_verify.recovery.ledger import Ledger, Safety
from infracore_verify.recovery.ledger_state import compute_state, make_record

START = 1795700400.0
SAFETY = Safety(max_attempts=0, cooldown_seconds=60.0, escalate_after=99)
SMALL = 1_000
ROTATE_BYTES = 256 * 1024


class Clock:
    """A settable clock (POSIX seconds), so cooldowns are decided on synthetic time."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def synthetic_lines(count: int, actions: int) -> tuple[list[dict[str, Any]], float]:
    """Return `count` ledger records (attempt-started, then a result) and the clock after the last one."""
    records: list[dict[str, Any]] = []
    now = START
    attempt = 0
    while len(records) < count:
        action = f"action-{attempt % actions}"
        now += 61.0
        result = "recovered" if attempt % 3 == 0 else "failed"
        for event, at, outcome in (("attempt-started", now, None), ("result", now + 1, result)):
            records.append(
                make_record(
                    now=at, run_key="CAP-bench", action_id=action, trigger="bench", event=event, attempt=1,
                    result=outcome, escalated=False, suppressed=False, dry_run=False, would_be=None,
                    duration=None if outcome is None else 1.0, detail="bench",
                    commands=() if outcome is None else ["docker compose restart bench"],
                )
            )  # fmt: skip
        attempt += 1
    return records[:count], now + 120.0


def write_log(path: Path, records: list[dict[str, Any]]) -> None:
    """Write the records as a ledger log (one JSON object a line)."""
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def expected_states(records: list[dict[str, Any]], actions: int, now: float) -> dict[str, dict[str, Any]]:
    """Return every action's state folded from all records in memory (the reference)."""
    return {f"action-{n}": compute_state(records, f"action-{n}", SAFETY, now) for n in range(actions)}


def measure(folder: Path, lines: int, actions: int, decisions: int) -> dict[str, Any]:
    """Measure cold and warm decisions on a ledger of `lines` lines; check every state against the reference."""
    records, now = synthetic_lines(lines, actions)
    path = folder / f"ledger-{lines}.jsonl"
    write_log(path, records)
    clock = Clock(now)
    ledger = Ledger(path, clock=clock)
    expected = expected_states(records, actions, now)
    t0 = time.perf_counter()
    cold_state = ledger.state("action-0", SAFETY)
    cold = time.perf_counter() - t0
    errors = [] if cold_state == expected["action-0"] else [f"{lines} lines: cold state differs"]
    t0 = time.perf_counter()
    Ledger(path, clock=clock).records()
    old_way = time.perf_counter() - t0
    warm: list[float] = []
    for n in range(decisions):
        action = f"action-{n % actions}"
        clock.now += 61.0
        t0 = time.perf_counter()
        decision = ledger.begin(action, SAFETY, run_key="CAP-bench-warm", trigger="bench")
        warm.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ledger.finish(decision, result="failed", duration=0.1)
        warm.append(time.perf_counter() - t0)
        if decision.kind != "run":
            errors.append(f"{lines} lines: decision {n} was {decision.kind}, expected run")
    everything = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    reference = expected_states(everything, actions, clock.now)
    for action, state in reference.items():
        if ledger.state(action, SAFETY) != state:
            errors.append(f"{lines} lines: state of {action} differs from the reference after the warm decisions")
    return {
        "lines": lines,
        "cold": cold,
        "old_way": old_way,
        "warm_median": statistics.median(warm),
        "warm_max": max(warm),
        "errors": errors,
    }


def rotation(folder: Path, actions: int, decisions: int) -> dict[str, Any]:
    """Take decisions through a small rotating ledger; check the state survives without the old logs."""
    clock = Clock(START)
    ledger = Ledger(folder / "rotating.jsonl", clock=clock, max_bytes=ROTATE_BYTES, keep=2)
    rotations = 0
    inode = None
    for n in range(decisions):
        clock.now += 7.0
        action = f"action-{n % actions}"
        decision = ledger.begin(action, SAFETY, run_key="CAP-bench-rotate", trigger="bench")
        if decision.kind == "run":
            ledger.finish(decision, result="recovered" if n % 5 == 0 else "failed", duration=0.1)
        current = ledger.path.stat().st_ino
        rotations += inode is not None and current != inode  # a rotation starts a new log file
        inode = current
    before = {f"action-{n}": ledger.state(f"action-{n}", SAFETY) for n in range(actions)}
    for old in folder.glob("rotating.jsonl.[0-9]*"):
        old.unlink()
    ledger.state_path.unlink()
    fresh = Ledger(ledger.path, clock=clock)
    after = {f"action-{n}": fresh.state(f"action-{n}", SAFETY) for n in range(actions)}
    errors = [] if after == before else ["rotation: the state differs once the old logs and the state file are gone"]
    if rotations < 2:
        errors.append(f"rotation: expected at least 2 rotations, saw {rotations}")
    return {"rotations": rotations, "size": ledger.path.stat().st_size, "errors": errors}


def main() -> int:
    """Run the benchmark; print the numbers and RESULT: PASS or FAIL."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--short", action="store_true", help="A quick check that the benchmark works (CI)")
    parser.add_argument("--lines", type=int, help="Ledger lines of the large ledger (default 100000)")
    parser.add_argument("--actions", type=int, default=20, help="Actions in the ledger (default 20)")
    parser.add_argument("--decisions", type=int, help="Timed warm decisions per ledger (default 200)")
    parser.add_argument("--rotation-decisions", type=int, help="Decisions through the rotating ledger (default 2000)")
    args = parser.parse_args()
    lines = args.lines or (10_000 if args.short else 100_000)
    decisions = args.decisions or (50 if args.short else 200)
    rotate = args.rotation_decisions or (1_500 if args.short else 2_000)
    with tempfile.TemporaryDirectory(prefix="bench-ledger-") as tmp:
        folder = Path(tmp)
        small = measure(folder, SMALL, args.actions, decisions)
        large = measure(folder, lines, args.actions, decisions)
        rotated = rotation(folder, args.actions, rotate)
    for m in (small, large):
        print(
            f"{m['lines']:>7} lines: cold first decision {m['cold'] * 1000:8.1f} ms (folds the log once); "
            f"warm decision median {m['warm_median'] * 1000:6.2f} ms, max {m['warm_max'] * 1000:6.2f} ms; "
            f"reading the whole log (the old per-decision cost) {m['old_way'] * 1000:8.1f} ms"
        )
    print(f"rotation: {rotate} decisions at max_bytes {ROTATE_BYTES}: {rotated['rotations']} rotations, state kept")
    errors = small["errors"] + large["errors"] + rotated["errors"]
    for error in errors:
        print(f"FAILED: {error}")
    limit = 2 * small["warm_median"] + 0.002
    target_ok = large["warm_median"] <= limit and large["warm_median"] <= 0.025
    verdict = "ok" if target_ok else "MISSED" + (" (information only in --short)" if args.short else "")
    print(
        f"target: warm median at {lines} lines {large['warm_median'] * 1000:.2f} ms <= "
        f"min(2 x {small['warm_median'] * 1000:.2f} ms + 2 ms, 25 ms): {verdict}"
    )
    ok = not errors and (target_ok or args.short)
    print("RESULT: " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
