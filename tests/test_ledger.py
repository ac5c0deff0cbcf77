"""Recovery ledger: limits fallback, the ops order of checks, state across runs, locking, dry runs, corruption."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from infracore_verify.contracts.sets import SUITE_ROOT
from infracore_verify.recovery import ledger as ledger_module
from infracore_verify.recovery.ledger import (
    Ledger,
    LedgerBusyError,
    LedgerDecision,
    LedgerUsageError,
    Safety,
    effective_safety,
)
from infracore_verify.redact import REDACTOR
from tests.clocks import SettableClock

START = dt.datetime(2026, 11, 26, 13, 40, tzinfo=dt.UTC).timestamp()
ACTION = "recover-vaultwarden-container"
RESTART = Safety(max_attempts=2, cooldown_seconds=1800.0, escalate_after=2)
ALERT_ONLY = Safety(max_attempts=0, cooldown_seconds=900.0, escalate_after=1)
CANARY = "canary-L3dg3r-s3cret-9a7e"
RECORD_KEYS = {
    "timestamp_utc",
    "unix_time",
    "run_key",
    "action_id",
    "trigger",
    "event",
    "attempt",
    "result",
    "escalated",
    "suppressed",
    "dry_run",
    "would_be",
    "duration_seconds",
    "detail",
    "commands",
}


@pytest.fixture
def clock() -> SettableClock:
    """Returns a fake clock set to 2026-11-26T13:40:00Z."""
    return SettableClock(START)


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    """Returns a ledger path whose directories do not exist yet."""
    return tmp_path / "reports" / "recovery" / "ledger.jsonl"


@pytest.fixture
def ledger(ledger_path: Path, clock: SettableClock) -> Ledger:
    """Returns a ledger on a fresh file, driven by the fake clock."""
    return Ledger(ledger_path, clock=clock)


@pytest.fixture
def canary() -> Iterator[str]:
    """Registers a fake secret with the process-wide redactor for one test and forgets it afterwards."""
    REDACTOR.register(CANARY, "canary")
    yield CANARY
    REDACTOR.forget_all()


def begin(ledger: Ledger, safety: Safety = RESTART, *, action: str = ACTION, dry_run: bool = False) -> LedgerDecision:
    """Begin `action` with a fixed run key and trigger."""
    return ledger.begin(
        action, safety, run_key="CAP-20261126-134000__verify.run__Rtest", trigger="D149", dry_run=dry_run
    )


# --- effective_safety ----------------------------------------------------------------------------------------

SAFETY_CASES: list[tuple[str, dict[str, Any], dict[str, Any] | None, Safety]] = [
    ("all-missing-uses-2-0-1", {}, None, Safety(2, 0.0, 1)),
    ("empty-defaults-uses-2-0-1", {"safety": {}, "recovery": {}}, {}, Safety(2, 0.0, 1)),
    (
        "safety-wins-over-everything",
        {
            "safety": {"max_attempts": 3, "cooldown_seconds": 60, "escalate_after_failures": 5},
            "recovery": {"max_attempts": 4},
        },
        {"max_attempts": 1, "cooldown_seconds": 10, "escalate_after_failures": 2},
        Safety(3, 60.0, 5),
    ),
    (
        "recovery-max-attempts-before-defaults",
        {"recovery": {"max_attempts": 4}},
        {"max_attempts": 1, "cooldown_seconds": 10, "escalate_after_failures": 2},
        Safety(4, 10.0, 2),
    ),
    (
        "defaults-when-the-action-is-silent",
        {"safety": {}},
        {"max_attempts": 5, "cooldown_seconds": 30, "escalate_after_failures": 3},
        Safety(5, 30.0, 3),
    ),
    (
        "escalate-falls-back-to-safety-max-attempts",
        {"safety": {"max_attempts": 3}},
        {"max_attempts": 6},
        Safety(3, 0.0, 3),
    ),
    ("escalate-falls-back-to-defaults-max-attempts", {}, {"max_attempts": 4}, Safety(4, 0.0, 4)),
    (
        "escalate-ignores-recovery-max-attempts",
        {"recovery": {"max_attempts": 4}},
        None,
        Safety(4, 0.0, 1),
    ),
    (
        "escalate-defaults-before-safety-max",
        {"safety": {"max_attempts": 3}},
        {"escalate_after_failures": 2},
        Safety(3, 0.0, 2),
    ),
    ("explicit-zero-max-attempts-respected", {"safety": {"max_attempts": 0}}, {"max_attempts": 3}, Safety(0, 0.0, 0)),
    (
        "explicit-zero-cooldown-respected",
        {"safety": {"cooldown_seconds": 0}},
        {"cooldown_seconds": 1800},
        Safety(2, 0.0, 1),
    ),
    (
        "explicit-zero-escalate-respected",
        {"safety": {"escalate_after_failures": 0, "max_attempts": 3}},
        {"escalate_after_failures": 2},
        Safety(3, 0.0, 0),
    ),
    ("null-counts-as-missing", {"safety": {"max_attempts": None}}, {"max_attempts": 3}, Safety(3, 0.0, 3)),
    (
        "non-numeric-becomes-2-0-1",
        {"safety": {"max_attempts": "two", "cooldown_seconds": "soon", "escalate_after_failures": [1]}},
        {"max_attempts": 5, "cooldown_seconds": 30, "escalate_after_failures": 3},
        Safety(2, 0.0, 1),
    ),
    ("false-is-a-value-not-missing", {"safety": {"max_attempts": False}}, {"max_attempts": 5}, Safety(2, 0.0, 1)),
    ("negative-is-not-a-number", {"safety": {"max_attempts": -1, "cooldown_seconds": -5}}, None, Safety(2, 0.0, 1)),
    ("fractional-count-is-not-a-number", {"safety": {"max_attempts": 2.5}}, None, Safety(2, 0.0, 1)),
    (
        "numeric-strings-are-numbers",
        {"safety": {"max_attempts": "3", "cooldown_seconds": "1.5"}},
        None,
        Safety(3, 1.5, 3),
    ),
    ("non-mapping-sections-are-missing", {"safety": [1, 2], "recovery": "x"}, {"max_attempts": 4}, Safety(4, 0.0, 4)),
]


@pytest.mark.parametrize(
    ("action", "defaults", "expected"),
    [pytest.param(a, d, e, id=case_id) for case_id, a, d, e in SAFETY_CASES],
)
def test_effective_safety_follows_the_ops_fallback_order(
    action: dict[str, Any], defaults: dict[str, Any] | None, expected: Safety
) -> None:
    """Resolves each limit through its fallback chain; 0 and false are values, bad values become 2/0/1."""
    assert effective_safety(action, defaults) == expected


def test_effective_safety_of_the_shipped_alert_action() -> None:
    """Reads the shipped alert_only action as never exhausted, 900 s cooldown, escalating at once."""
    import yaml

    doc = yaml.safe_load((SUITE_ROOT / "contracts" / "recovery.actions.yaml").read_text(encoding="utf-8"))
    alert = next(a for a in doc["actions"] if a["recovery"]["type"] == "alert_only")
    assert effective_safety(alert, doc["defaults"]) == ALERT_ONLY


# --- the order of checks ----------------------------------------------------------------------------------


def test_run_fail_suppress_run_fail_exhaust(ledger: Ledger, clock: SettableClock) -> None:
    """Runs, suppresses inside the cooldown, runs attempt 2 after it, then is exhausted and escalates."""
    first = begin(ledger)
    assert (first.kind, first.attempt, first.escalate, first.reason) == ("run", 1, False, "attempt 1 of 2")
    assert first.started_at == START
    assert ledger.finish(first, result="failed", duration=3.2)["escalated"] is False  # 1 < escalate_after 2

    clock.advance(60)
    held = begin(ledger)
    assert (held.kind, held.attempt, held.escalate) == ("suppressed", 1, False)
    assert held.reason == "cooldown active until 2026-11-26T14:10:00Z (1800s after attempt 1)"
    assert ledger.finish(held, result="suppressed", duration=0)["suppressed"] is True

    clock.now = START + 1800  # the cooldown ends exactly here
    second = begin(ledger)
    assert (second.kind, second.attempt, second.reason) == ("run", 2, "attempt 2 of 2")
    assert ledger.finish(second, result="failed", duration=1)["escalated"] is True

    clock.advance(1800)
    done = begin(ledger)
    assert (done.kind, done.attempt, done.escalate) == ("exhausted", 2, True)
    assert done.reason == "2 of 2 attempts used since the last recovery"
    assert ledger.finish(done, result="exhausted", duration=0)["escalated"] is True

    clock.advance(86400)
    assert begin(ledger).kind == "exhausted"  # exhaustion does not wear off with time
    assert [(r["event"], r["result"]) for r in ledger.records(ACTION)] == [
        ("attempt-started", None),
        ("result", "failed"),
        ("decision", "suppressed"),
        ("result", "suppressed"),
        ("attempt-started", None),
        ("result", "failed"),
        ("decision", "exhausted"),
        ("result", "exhausted"),
        ("decision", "exhausted"),
    ]


def test_cooldown_is_checked_before_exhaustion(ledger: Ledger, clock: SettableClock) -> None:
    """Reports "suppressed", not "exhausted", while the last attempt's cooldown still runs (the ops order)."""
    for _ in range(2):
        decision = begin(ledger)
        ledger.finish(decision, result="failed", duration=1)
        clock.advance(1800)
    clock.advance(-1)
    assert begin(ledger).kind == "suppressed"
    clock.advance(1)
    assert begin(ledger).kind == "exhausted"


def test_recovered_clears_attempts_and_cooldown(ledger: Ledger, clock: SettableClock) -> None:
    """Resets the attempt count and lifts the cooldown after a recovery, so the next failure runs at once."""
    ledger.finish(begin(ledger), result="failed", duration=1)
    clock.advance(1800)
    second = begin(ledger)
    assert second.attempt == 2
    assert ledger.finish(second, result="recovered", duration=1)["escalated"] is False

    state = ledger.state(ACTION, RESTART)
    assert state["attempts"] == 0
    assert state["cooldown_until"] is None
    assert state["cooldown_active"] is False
    assert state["exhausted"] is False
    assert state["last_result"] == "recovered"

    clock.advance(5)  # well inside what would have been the cooldown
    again = begin(ledger)
    assert (again.kind, again.attempt) == ("run", 1)


def test_reset_revives_an_exhausted_action(ledger: Ledger, clock: SettableClock) -> None:
    """Clears an exhausted action's state when an operator resets it."""
    for _ in range(2):
        ledger.finish(begin(ledger), result="failed", duration=1)
        clock.advance(1800)
    assert begin(ledger).kind == "exhausted"
    record = ledger.reset(ACTION, run_key="operator", detail="fixed by hand")
    assert (record["event"], record["result"], record["trigger"]) == ("result", "reset", "manual")
    assert (begin(ledger).kind, ledger.state(ACTION, RESTART)["attempts"]) == ("run", 1)


@pytest.mark.parametrize(
    ("safety", "attempt_results", "escalations"),
    [
        pytest.param(Safety(3, 0.0, 1), ["failed"], [True], id="escalate-after-1"),
        pytest.param(Safety(3, 0.0, 2), ["failed", "failed", "failed"], [False, True, True], id="escalate-after-2"),
        pytest.param(Safety(2, 0.0, 5), ["failed", "failed"], [False, True], id="attempts-used-up-escalates"),
        pytest.param(Safety(0, 0.0, 9), ["failed"] * 3, [False] * 3, id="unlimited-below-escalate-after"),
    ],
)
def test_failed_escalates_at_escalate_after_or_when_attempts_run_out(
    ledger: Ledger, safety: Safety, attempt_results: list[str], escalations: list[bool]
) -> None:
    """Escalates a failed attempt once its number reaches escalate_after or max_attempts."""
    seen = [ledger.finish(begin(ledger, safety), result=r, duration=0)["escalated"] for r in attempt_results]
    assert seen == escalations


def test_alert_only_never_exhausts_and_always_escalates(ledger: Ledger, clock: SettableClock) -> None:
    """Keeps running an alert_only action (max_attempts 0) and escalates every alert without clearing state."""
    for attempt in range(1, 6):
        decision = begin(ledger, ALERT_ONLY)
        assert (decision.kind, decision.attempt) == ("run", attempt)
        assert decision.reason == f"attempt {attempt} (max_attempts 0: never exhausted)"
        assert ledger.finish(decision, result="alerted", duration=0.1)["escalated"] is True
        state = ledger.state(ACTION, ALERT_ONLY)
        assert (state["attempts"], state["exhausted"], state["last_result"]) == (attempt, False, "alerted")
        clock.advance(100)
        assert begin(ledger, ALERT_ONLY).kind == "suppressed"  # alerted keeps the cooldown
        clock.advance(800)


@pytest.mark.parametrize(
    ("kind_of_decision", "result"),
    [
        pytest.param("run", "suppressed", id="run-cannot-end-suppressed"),
        pytest.param("run", "dry-run", id="run-cannot-end-dry-run"),
        pytest.param("run", "success", id="unknown-result"),
        pytest.param("suppressed", "recovered", id="suppressed-cannot-recover"),
        pytest.param("dry-run", "recovered", id="dry-run-cannot-recover"),
    ],
)
def test_finish_rejects_a_result_that_does_not_fit(
    ledger: Ledger, clock: SettableClock, kind_of_decision: str, result: str
) -> None:
    """Raises LedgerUsageError (a ValueError) naming the result when it contradicts the decision."""
    if kind_of_decision == "suppressed":
        ledger.finish(begin(ledger), result="failed", duration=0)
    decision = begin(ledger, dry_run=kind_of_decision == "dry-run")
    assert decision.kind == kind_of_decision
    with pytest.raises(LedgerUsageError, match=repr(result)):
        ledger.finish(decision, result=result, duration=0)


# --- state across runs, processes and threads ---------------------------------------------------------


def test_cooldown_holds_across_two_ledger_instances(ledger_path: Path, clock: SettableClock) -> None:
    """Suppresses a second run (a new Ledger on the same file) inside the first run's cooldown."""
    first_run = Ledger(ledger_path, clock=clock)
    first_run.finish(begin(first_run), result="failed", duration=2)
    clock.advance(600)
    second_run = Ledger(ledger_path, clock=clock)
    decision = begin(second_run)
    assert (decision.kind, decision.attempt) == ("suppressed", 1)
    assert second_run.state(ACTION, RESTART) == first_run.state(ACTION, RESTART)
    assert second_run.state("recover-authentik-stack", RESTART)["attempts"] == 0  # keyed by action id


_WORKER = """
import sys, time
from pathlib import Path
from infracore_verify.recovery.ledger import Ledger, Safety
ledger_path, ready, go = (Path(a) for a in sys.argv[1:4])
ledger = Ledger(ledger_path, lock_timeout=20)
ready.touch()
deadline = time.monotonic() + 20
while not go.exists():
    if time.monotonic() > deadline:
        sys.exit("no go signal")
    time.sleep(0.0005)
decision = ledger.begin("recover-x", Safety(2, 1800.0, 2), run_key=sys.argv[4], trigger="D149")
print(decision.kind)
"""


def test_two_processes_never_both_run(tmp_path: Path) -> None:
    """Lets exactly one of three processes that begin the same action at the same moment run; the rest wait it out."""
    for round_no in range(3):
        base = tmp_path / f"round{round_no}"
        base.mkdir()
        go = base / "go"
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", _WORKER, str(base / "ledger.jsonl"), str(base / f"ready{i}"), str(go), f"w{i}"],
                cwd=SUITE_ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(3)
        ]
        try:
            deadline = time.monotonic() + 30
            while not all((base / f"ready{i}").exists() for i in range(3)):
                assert time.monotonic() < deadline, "the workers never got ready"
                time.sleep(0.005)
            go.touch()
            outputs = [w.communicate(timeout=30) for w in workers]
        finally:
            for w in workers:
                if w.poll() is None:
                    w.kill()
        assert [w.returncode for w in workers] == [0, 0, 0], [err for _, err in outputs]
        kinds = sorted(out.strip() for out, _ in outputs)
        assert kinds == ["run", "suppressed", "suppressed"], f"round {round_no}"
        events = [r["event"] for r in Ledger(base / "ledger.jsonl").records("recover-x")]
        assert events.count("attempt-started") == 1


def race_threads(ledger: Ledger, count: int) -> list[str]:
    """Start `count` threads that begin the same action at once; return the decision kinds, sorted."""
    barrier = threading.Barrier(count)
    kinds: list[str] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait(timeout=10)
            kinds.append(begin(ledger).kind)
        except BaseException as exc:  # re-raised below, in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    if errors:
        raise errors[0]
    return sorted(kinds)


def test_threads_never_both_run(ledger_path: Path) -> None:
    """Lets exactly one of eight threads sharing a Ledger run; the others are suppressed."""
    for round_no in range(3):
        ledger = Ledger(ledger_path.with_name(f"round{round_no}.jsonl"), lock_timeout=20)
        assert race_threads(ledger, 8) == ["run"] + ["suppressed"] * 7, f"round {round_no}"


@pytest.mark.timeout(20)  # hang guard: the lock wait ends after 0.2 s; the default lock_timeout is 30 s
def test_a_held_lock_raises_ledger_busy(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    """Raises LedgerBusyError naming the lock file and the timeout when another holder keeps the lock.

    The ledger asks the file lock to give up after exactly its lock_timeout.
    """
    busy = Ledger(ledger.path, lock_timeout=0.2)
    ledger.path.parent.mkdir(parents=True)
    asked: list[tuple[str, float]] = []

    def recording_lock(lock_file: str, *, timeout: float, **options: Any) -> FileLock:
        asked.append((lock_file, timeout))
        return FileLock(lock_file, timeout=timeout, **options)

    monkeypatch.setattr(ledger_module, "FileLock", recording_lock)
    holder = FileLock(str(busy.lock_path), timeout=0)
    holder.acquire()
    try:
        with pytest.raises(LedgerBusyError) as info:
            begin(busy)
    finally:
        holder.release()
    assert asked == [(str(busy.lock_path), 0.2)]
    message = str(info.value)
    assert str(busy.lock_path) in message
    assert "within 0.2s" in message
    assert (info.value.lock_file, info.value.timeout) == (busy.lock_path, 0.2)
    assert begin(busy).kind == "run"  # free again once released


# --- dry runs, records, corruption, redaction -----------------------------------------------------------


def test_dry_run_changes_nothing(ledger: Ledger, clock: SettableClock) -> None:
    """Records what would happen (run, suppressed, exhausted) and leaves the state exactly as it was."""
    before = ledger.state(ACTION, RESTART)
    dry = begin(ledger, dry_run=True)
    assert (dry.kind, dry.would_be, dry.attempt, dry.escalate) == ("dry-run", "run", 1, False)
    assert dry.reason == "dry run, nothing changed: would run: attempt 1 of 2"
    ledger.finish(dry, result="dry-run", duration=0, commands=["docker compose restart vaultwarden"])
    ledger.finish(dry, result="failed", duration=0, detail="could not even plan it")
    assert ledger.state(ACTION, RESTART) == before
    first = begin(ledger)
    assert (first.kind, first.attempt) == ("run", 1)  # the dry run stamped no cooldown and used no attempt
    ledger.finish(first, result="failed", duration=0)

    clock.advance(10)
    before = ledger.state(ACTION, RESTART)
    assert begin(ledger, dry_run=True).would_be == "suppressed"
    assert ledger.state(ACTION, RESTART) == before
    clock.advance(1800)
    ledger.finish(begin(ledger), result="failed", duration=0)
    clock.advance(1800)
    before = ledger.state(ACTION, RESTART)
    exhausted = begin(ledger, dry_run=True)
    assert ledger.state(ACTION, RESTART) == before
    assert (exhausted.kind, exhausted.would_be, exhausted.escalate) == ("dry-run", "exhausted", False)
    assert exhausted.reason.startswith("dry run, nothing changed: would be exhausted: 2 of 2 attempts")

    dry_lines = [r for r in ledger.records(ACTION) if r["dry_run"]]
    assert [(r["event"], r["result"], r["would_be"]) for r in dry_lines] == [
        ("decision", "dry-run", "run"),
        ("result", "dry-run", "run"),
        ("result", "failed", "run"),
        ("decision", "dry-run", "suppressed"),
        ("decision", "dry-run", "exhausted"),
    ]
    assert dry_lines[1]["commands"] == ["docker compose restart vaultwarden"]
    assert not any(r["escalated"] for r in dry_lines)


def test_records_are_one_json_object_per_line(ledger: Ledger, ledger_path: Path) -> None:
    """Creates the file and its directories and writes the documented fields, one object a line."""
    decision = begin(ledger)
    ledger.finish(decision, result="recovered", duration=12.34567, detail="restarted", commands=["a", "b"])
    lines = ledger_path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    attempt, result = (json.loads(line) for line in lines)
    assert set(attempt) == set(result) == RECORD_KEYS
    assert attempt["timestamp_utc"] == "2026-11-26T13:40:00Z"
    assert (attempt["event"], attempt["attempt"], attempt["trigger"], attempt["detail"]) == (
        "attempt-started",
        1,
        "D149",
        "attempt 1 of 2",
    )
    assert result == {
        **result,
        "event": "result",
        "result": "recovered",
        "duration_seconds": 12.346,
        "commands": ["a", "b"],
        "escalated": False,
    }
    assert ledger_path.with_name("ledger.jsonl.lock").exists()


def test_unreadable_lines_suppress_every_action_until_repaired(
    ledger: Ledger, ledger_path: Path, clock: SettableClock
) -> None:
    """Fails closed on unreadable lines (never skips them), warns once per line, never glues a line to a torn one.

    Issue 9 item 10 changed this: the ledger used to skip such lines and decide from the rest.
    """
    ledger.finish(begin(ledger), result="failed", duration=1)
    good = ledger_path.read_text(encoding="utf-8")
    with ledger_path.open("a", encoding="utf-8") as fh:
        fh.write("{not json\n")
        fh.write('["a", "list"]\n')
        fh.write(json.dumps({"action_id": ACTION, "event": "attempt"}) + "\n")  # no time
        fh.write(json.dumps({"action_id": ACTION, "event": "teleport", "result": "x"}) + "\n")
        fh.write('{"timestamp_utc": "2026-11-26T13:41:00Z", "action_')  # torn write, no newline

    reader = Ledger(ledger_path, clock=clock)
    assert reader.unreadable() == [
        (3, "not JSON (Expecting property name enclosed in double quotes at column 2)"),
        (4, "not a JSON object"),
        (5, "attempt line without a usable time (unix_time or timestamp_utc)"),
        (6, "unknown event 'teleport' (expected one of attempt-started, decision, result, checkpoint)"),
        (7, "torn (no end of line: a write was cut off)"),
    ]
    assert len(reader.warnings) == 5
    assert all(w.startswith(f"{ledger_path}:") and "unreadable ledger line" in w for w in reader.warnings)

    clock.advance(1800)  # the cooldown is over: only the unreadable lines stop the action now
    other = begin(reader, action="another-action")
    assert (other.kind, other.escalate) == ("suppressed", False)
    assert other.reason == (
        "ledger line 3 unreadable: not JSON (Expecting property name enclosed in double quotes at column 2) "
        f"(and 4 more); nothing ran: repair or delete that line in {ledger_path}, then run again"
    )
    assert len(other.ledger_problems) == 5
    assert len(reader.warnings) == 5  # reported once, not on every read
    assert "another-action" in ledger_path.read_text(encoding="utf-8").splitlines()[-1]  # a new line of its own

    ledger_path.write_text(good, encoding="utf-8")  # the operator repairs the file
    second = begin(reader)
    assert (second.kind, second.attempt) == ("run", 2)
    assert reader.state(ACTION, RESTART)["attempts"] == 2


def test_records_hold_no_registered_secret(ledger: Ledger, ledger_path: Path, canary: str) -> None:
    """Masks a registered secret in detail, commands, trigger and run key before it reaches the file."""
    decision = ledger.begin(ACTION, RESTART, run_key=f"run-{canary}", trigger=f"D149 {canary}")
    record = ledger.finish(
        decision,
        result="failed",
        duration=1,
        detail=f"curl said Authorization: Bearer {canary}",
        commands=[f"curl -H 'X-Auth-Key: {canary}' https://api"],
    )
    text = ledger_path.read_text(encoding="utf-8")
    assert canary not in text
    assert "[REDACTED:canary]" in record["detail"]
    assert "[REDACTED:canary]" in record["commands"][0]
    assert ledger.state(ACTION, RESTART)["attempts"] == 1
