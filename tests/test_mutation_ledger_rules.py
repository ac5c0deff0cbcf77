"""Recovery ledger rules after the issue-9 rewrite that kill mutmut's survivors (issue 8, item 4).

Through the public `Ledger` API with an injected clock (begin, finish, not_run, reset, state, records,
unreadable) plus `compute_state`: what `not_run` and `reset` record and leave alone, the attempt numbers of
the audit lines, the fail-closed checks on hand-written and checkpoint lines, the cooldown of a line that has
only `timestamp_utc`, the state a rotated log carries and the usage errors of `finish`. See bench/MUTATION.md.
"""

from __future__ import annotations

import getpass
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infracore_verify.recovery.ledger import Ledger, LedgerDecision, LedgerUsageError, Safety
from infracore_verify.recovery.ledger_state import compute_state
from tests.clocks import SettableClock
from tests.test_ledger import ACTION, START

LIMITS = Safety(max_attempts=3, cooldown_seconds=1800.0, escalate_after=2)
OTHER = "recover-authentik-worker"


@pytest.fixture
def clock() -> SettableClock:
    """A fake clock at START."""
    return SettableClock(START)


@pytest.fixture
def ledger(tmp_path: Path, clock: SettableClock) -> Ledger:
    """A ledger on a fresh file with the fake clock."""
    return Ledger(tmp_path / "ledger.jsonl", clock=clock)


def run(ledger: Ledger, action: str = ACTION, safety: Safety = LIMITS) -> LedgerDecision:
    """Begin a real (not dry) decision with a fixed run key and trigger."""
    return ledger.begin(action, safety, run_key="run-7", trigger="gate-failed")


def write_lines(ledger: Ledger, *lines: Any) -> None:
    """Write hand-made lines (objects as JSON, text as is) to the ledger file."""
    ledger.path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    ledger.path.write_text(text, encoding="utf-8")


# --- not_run and reset: what they record and what they leave alone ------------------------------------------


def test_not_run_records_the_attempts_so_far_and_changes_no_state(ledger: Ledger, clock: SettableClock) -> None:
    """A not_run line is a decision with the current attempt count; no attempt is used, no cooldown starts."""
    ledger.finish(run(ledger), result="failed", duration=1)
    clock.advance(1800)
    line = ledger.not_run(ACTION, run_key="run-8", trigger="schedule", detail="no host key for db-1")
    assert (line["event"], line["result"], line["attempt"], line["action_id"]) == ("decision", "not_run", 1, ACTION)
    assert (line["run_key"], line["trigger"], line["detail"]) == ("run-8", "schedule", "no host key for db-1")
    assert (line["escalated"], line["suppressed"], line["dry_run"]) == (False, False, False)
    assert ledger.records(ACTION)[-1] == line
    state = ledger.state(ACTION, LIMITS)
    assert (state["attempts"], state["cooldown_active"]) == (1, False)
    again = run(ledger)
    assert (again.kind, again.attempt) == ("run", 2)


def test_not_run_of_a_new_action_is_attempt_zero_and_needs_an_action_id(ledger: Ledger) -> None:
    """Without history a not_run records attempt 0; an empty action id is a usage error."""
    assert ledger.not_run(OTHER, run_key="r", trigger="t", detail="d")["attempt"] == 0
    with pytest.raises(LedgerUsageError):
        ledger.not_run("", run_key="r", trigger="t", detail="d")
    with pytest.raises(LedgerUsageError):
        ledger.not_run(None, run_key="r", trigger="t", detail="d")  # type: ignore[arg-type]


def test_reset_clears_attempts_and_cooldown_and_records_who(ledger: Ledger) -> None:
    """A reset line is result "reset", attempt 0, by the given user; the next begin is attempt 1 at once."""
    ledger.finish(run(ledger), result="failed", duration=1)
    line = ledger.reset(ACTION, run_key="operator", detail="disk replaced", by="alice")
    assert (line["event"], line["result"], line["attempt"], line["by"]) == ("result", "reset", 0, "alice")
    assert (line["run_key"], line["trigger"], line["detail"]) == ("operator", "manual", "disk replaced")
    assert (line["escalated"], line["suppressed"], line["dry_run"]) == (False, False, False)
    assert line["timestamp_utc"] == "2026-11-26T13:40:00Z"
    state = ledger.state(ACTION, LIMITS)
    assert (state["attempts"], state["cooldown_active"], state["last_result"]) == (0, False, "reset")
    assert (run(ledger).kind, ledger.records(ACTION)[-1]["attempt"]) == ("run", 1)


def test_reset_without_by_names_the_user_and_without_detail_is_empty(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`by` defaults to the current user ("unknown user" when it cannot be found); detail defaults to ""."""
    monkeypatch.setattr(getpass, "getuser", lambda: "ops-bob")
    line = ledger.reset(ACTION, run_key="operator")
    assert (line["by"], line["detail"], line["attempt"]) == ("ops-bob", "", 0)

    def no_user() -> str:
        raise KeyError("uid 4242")

    monkeypatch.setattr(getpass, "getuser", no_user)
    assert ledger.reset(ACTION, run_key="operator")["by"] == "unknown user"


# --- begin and finish: the lines a decision writes -------------------------------------------------------------


def test_a_run_and_its_result_carry_run_key_trigger_and_attempt(ledger: Ledger) -> None:
    """The attempt-started line and the result line name the run key, trigger and attempt; no would_be."""
    decision = run(ledger)
    assert (decision.run_key, decision.trigger) == ("run-7", "gate-failed")
    started = decision.record
    assert (started["event"], started["attempt"], started["run_key"], started["trigger"]) == (
        "attempt-started",
        1,
        "run-7",
        "gate-failed",
    )
    assert (started["suppressed"], started["escalated"], started["would_be"]) == (False, False, None)
    result = ledger.finish(decision, result="recovered", duration=2)
    assert (result["run_key"], result["trigger"], result["attempt"], result["detail"]) == (
        "run-7",
        "gate-failed",
        1,
        "",
    )
    assert result["would_be"] is None


def test_suppressed_and_exhausted_lines_say_so(ledger: Ledger, clock: SettableClock) -> None:
    """A suppressed decision line is marked suppressed; an exhausted one is escalated and not suppressed."""
    one = Safety(max_attempts=1, cooldown_seconds=60.0, escalate_after=5)
    ledger.finish(run(ledger, safety=one), result="failed", duration=1)
    held = run(ledger, safety=one)
    assert held.kind == "suppressed"
    assert (held.record["suppressed"], held.record["escalated"], held.record["result"]) == (True, False, "suppressed")
    clock.advance(60)
    used = run(ledger, safety=one)
    assert used.kind == "exhausted"
    assert (used.record["suppressed"], used.record["escalated"], used.record["attempt"]) == (False, True, 1)


def test_finish_usage_errors_name_the_expected_results(ledger: Ledger) -> None:
    """An unknown result and a result that does not fit the decision list what is accepted."""
    decision = run(ledger)
    with pytest.raises(LedgerUsageError, match="expected one of recovered, failed, alerted, dry-run"):
        ledger.finish(decision, result="fixed", duration=1)
    with pytest.raises(LedgerUsageError, match="expected 'recovered' or 'failed' or 'alerted'"):
        ledger.finish(decision, result="suppressed", duration=1)


# --- fail closed: unreadable lines, checkpoint states ---------------------------------------------------------


def test_the_reason_names_the_first_unreadable_line_and_how_many_more(ledger: Ledger) -> None:
    """One unreadable line: its number and problem; two: "(and 1 more)"."""
    write_lines(ledger, "{broken")
    reason = run(ledger).reason
    problem = ledger.unreadable()[0][1]
    assert reason.startswith(f"ledger line 1 unreadable: {problem}; nothing ran")
    assert problem.startswith("not JSON")
    assert "; nothing ran: repair or delete that line in" in reason
    write_lines(ledger, "{broken", "[]")
    assert "(and 1 more); nothing ran" in run(ledger).reason
    write_lines(ledger, "{broken", "[]", "7")
    assert "(and 2 more); nothing ran" in run(ledger).reason


def test_a_repaired_ledger_runs_again_without_problems(ledger: Ledger) -> None:
    """Once the unreadable line is gone the decision is "run" and carries no ledger problems."""
    write_lines(ledger, "{broken")
    held = run(ledger)
    assert held.kind == "suppressed"
    assert held.ledger_problems
    ledger.path.unlink()
    again = run(ledger)
    assert (again.kind, again.ledger_problems) == ("run", ())


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ({"action_id": "", "event": "decision", "result": "x"}, "no action_id"),
        ({"action_id": ACTION, "event": ["x"]}, "unknown event list"),
        ({"action_id": ACTION, "event": "e" * 80}, "unknown event '" + "e" * 59 + " "),
        ({"action_id": "*", "event": "checkpoint"}, "checkpoint line without a state object"),
    ],
)
def test_unreadable_lines_name_their_problem(ledger: Ledger, line: dict[str, Any], problem: str) -> None:
    """Each unusable line suppresses every action and says what is wrong with it."""
    write_lines(ledger, line)
    assert run(ledger).kind == "suppressed"
    assert ledger.unreadable()[0][1].startswith(problem)


def checkpoint(state: Any, action: str = ACTION) -> dict[str, Any]:
    """A hand-written checkpoint line holding `state` for `action`."""
    return {"action_id": "*", "event": "checkpoint", "unix_time": START, "state": {action: state}}


def good(**changes: Any) -> dict[str, Any]:
    """A valid compacted action state (no attempts), with `changes`."""
    return {"attempts": 0, "last_attempt_at": None, "last_result": None, **changes}


@pytest.mark.parametrize(
    ("state", "problem"),
    [
        ([], "an action state is not an object"),
        (good(attempts=-1), "attempts '-1' is not a count"),
        (good(attempts=2**31), "attempts '2147483648' is not a count"),
        (good(attempts=True), "attempts 'True' is not a count"),
        (good(attempts="3"), "attempts '3' is not a count"),
        (good(attempts="9" * 50), "attempts '" + "9" * 40 + "' is not a count"),
        (good(last_attempt_at="soon"), "last_attempt_at is not a finite number"),
        (good(last_result=5), "last_result is not text"),
    ],
)
def test_a_bad_checkpoint_state_fails_closed(ledger: Ledger, state: Any, problem: str) -> None:
    """A checkpoint whose state is unusable is an unreadable line: everything is suppressed, naming it."""
    write_lines(ledger, checkpoint(state, action="a" * 70))
    assert run(ledger).kind == "suppressed"
    assert ledger.unreadable() == [(1, f"checkpoint state of {'a' * 60!r}: {problem}")]


@pytest.mark.parametrize(
    ("state", "kind", "attempt"),
    [
        (good(), "run", 1),
        (good(attempts=62, last_result="failed"), "exhausted", 62),
        (good(attempts=2**31 - 1), "exhausted", 2**31 - 1),
        (good(attempts=1, last_attempt_at=START - 100), "suppressed", 1),
    ],
)
def test_a_good_checkpoint_state_is_the_state(ledger: Ledger, state: dict[str, Any], kind: str, attempt: int) -> None:
    """A valid checkpoint is read as the action's state: attempts, cooldown and exhaustion follow from it."""
    write_lines(ledger, checkpoint(state))
    decision = run(ledger)
    assert (decision.kind, decision.attempt, ledger.unreadable()) == (kind, attempt, [])
    ledger.state_path.unlink(missing_ok=True)
    assert ledger.state(ACTION, LIMITS)["last_result"] == state["last_result"]


def test_a_rotated_log_keeps_the_state_and_marks_its_checkpoint(tmp_path: Path, clock: SettableClock) -> None:
    """After rotation (and without the state file) the checkpoint line carries attempts, cooldown and result."""
    ledger = Ledger(tmp_path / "ledger.jsonl", clock=clock, max_bytes=1)
    ledger.finish(run(ledger), result="failed", duration=1)
    first = ledger.records()[0]
    assert (first["event"], first["action_id"], first["trigger"], first["attempt"]) == (
        "checkpoint",
        "*",
        "rotation",
        0,
    )
    assert (first["run_key"], first["escalated"], first["suppressed"], first["dry_run"]) == (
        "run-7",
        False,
        False,
        False,
    )
    ledger.state_path.unlink()
    state = ledger.state(ACTION, LIMITS)
    assert (state["attempts"], state["last_attempt_at"], state["last_result"]) == (1, START, "failed")
    assert run(ledger).kind == "suppressed"


# --- cooldown arithmetic of hand-written lines --------------------------------------------------------------


@pytest.mark.parametrize(
    "stamp",
    ["2026-11-26T13:40:00Z", "2026-11-26T15:40:00+02:00", " 2026-11-26T13:40:00Z "],
)
def test_a_line_with_only_timestamp_utc_starts_the_cooldown_then(
    ledger: Ledger, clock: SettableClock, stamp: str
) -> None:
    """A legacy `attempt` line without unix_time is timed by its timestamp_utc (the zone is honoured)."""
    write_lines(ledger, {"action_id": ACTION, "event": "attempt", "timestamp_utc": stamp})
    clock.advance(1799)
    assert run(ledger).kind == "suppressed"
    clock.advance(1)
    decision = run(ledger)
    assert (decision.kind, decision.attempt, ledger.unreadable()) == ("run", 2, [])


@pytest.fixture
def new_york() -> Iterator[None]:
    """Sets the process's local zone to America/New_York for one test."""
    mp = pytest.MonkeyPatch()
    mp.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    mp.undo()
    time.tzset()


def test_a_timestamp_without_zone_is_utc(ledger: Ledger, clock: SettableClock, new_york: None) -> None:
    """A zone-less timestamp_utc is read as UTC, not as the machine's local time."""
    write_lines(ledger, {"action_id": ACTION, "event": "attempt", "timestamp_utc": "2026-11-26T13:40:00"})
    assert ledger.state(ACTION, LIMITS)["last_attempt_at"] == START


def test_an_infinite_unix_time_falls_back_to_timestamp_utc(ledger: Ledger, clock: SettableClock) -> None:
    """unix_time Infinity is not a time: the line is timed by its timestamp_utc, so the cooldown ends."""
    write_lines(
        ledger,
        '{"action_id": "' + ACTION + '", "event": "attempt", "unix_time": Infinity, '
        '"timestamp_utc": "2026-11-26T13:40:00Z"}',
    )
    clock.advance(1800)
    assert run(ledger).kind == "run"


# --- compute_state: the state from the lines alone -----------------------------------------------------------


def test_compute_state_from_the_records_matches_the_ledger(ledger: Ledger, clock: SettableClock) -> None:
    """`compute_state` over the usable lines gives the same attempts, cooldown and exhaustion as `Ledger.state`."""
    ledger.finish(run(ledger, OTHER), result="recovered", duration=1)
    ledger.finish(run(ledger), result="failed", duration=1)
    clock.advance(10)
    records = ledger.records()
    state = compute_state(records, ACTION, LIMITS, clock.now)
    assert state == ledger.state(ACTION, LIMITS)
    assert (state["attempts"], state["cooldown_active"], state["action_id"]) == (1, True, ACTION)
    assert compute_state(records, OTHER, LIMITS, clock.now)["attempts"] == 0
