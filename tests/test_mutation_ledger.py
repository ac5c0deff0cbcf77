"""Recovery ledger rules that kill mutmut's survivors (issue 8, item 4); see bench/MUTATION.md.

Through the public `Ledger` API only (begin, finish, reset, state, records) with a fake clock: a limit of one
attempt, a failed dry run, the state after a reset, the action-id checks, records of one action among two,
and what a result line keeps of its commands and duration. No assertion on the ledger file's format.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from infracore_verify.recovery.ledger import Ledger, LedgerDecision, LedgerUsageError, Safety
from infracore_verify.redact import REDACTOR
from tests.clocks import SettableClock
from tests.test_ledger import ACTION, START, begin

ONE_SHOT = Safety(max_attempts=1, cooldown_seconds=60.0, escalate_after=5)
SECRET = "FAKE-ledger-cmd-secret-31c7"


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    """A ledger on a fresh file with a fake clock at START."""
    return Ledger(tmp_path / "ledger.jsonl", clock=SettableClock(START))


@pytest.fixture
def secret() -> Iterator[str]:
    """Registers a fake secret with the process-wide redactor for one test."""
    REDACTOR.register(SECRET, "canary")
    yield SECRET
    REDACTOR.forget_all()


def test_a_single_allowed_attempt_is_used_up_by_one_failure(ledger: Ledger) -> None:
    """max_attempts 1: the first failure escalates (attempts used up) and the next begin is exhausted."""
    first = begin(ledger, ONE_SHOT)
    assert (first.kind, first.attempt, first.reason) == ("run", 1, "attempt 1 of 1")
    assert ledger.finish(first, result="failed", duration=1)["escalated"] is True
    ledger.clock.advance(60)  # type: ignore[attr-defined]
    state = ledger.state(ACTION, ONE_SHOT)
    assert (state["attempts"], state["exhausted"], state["cooldown_active"]) == (1, True, False)
    after = begin(ledger, ONE_SHOT)
    assert (after.kind, after.escalate) == ("exhausted", True)


def test_a_failed_dry_run_never_escalates(ledger: Ledger) -> None:
    """A dry run that could not be planned ends failed, without escalating and without counting an attempt."""
    decision = begin(ledger, Safety(2, 0.0, 1), dry_run=True)
    assert (decision.kind, decision.would_be) == ("dry-run", "run")
    assert ledger.finish(decision, result="failed", duration=0)["escalated"] is False
    assert ledger.state(ACTION, Safety(2, 0.0, 1))["attempts"] == 0


def test_state_of_a_fresh_action_and_after_a_reset(ledger: Ledger) -> None:
    """The state names the action, its limits and last attempt; a reset is the last result and clears the rest."""
    fresh = ledger.state(ACTION, ONE_SHOT)
    assert fresh["action_id"] == ACTION
    assert (fresh["attempts"], fresh["last_attempt_at"], fresh["last_attempt_utc"], fresh["last_result"]) == (
        0,
        None,
        None,
        None,
    )
    assert (fresh["max_attempts"], fresh["cooldown_seconds"], fresh["escalate_after"]) == (1, 60.0, 5)
    ledger.finish(begin(ledger, ONE_SHOT), result="failed", duration=1)
    tried = ledger.state(ACTION, ONE_SHOT)
    assert (tried["last_attempt_at"], tried["last_attempt_utc"]) == (START, "2026-11-26T13:40:00Z")
    ledger.reset(ACTION, run_key="operator")
    reset = ledger.state(ACTION, ONE_SHOT)
    assert (reset["attempts"], reset["exhausted"], reset["last_result"]) == (0, False, "reset")


@pytest.mark.parametrize("bad", ["", 42, None])
def test_action_id_must_be_a_non_empty_string(ledger: Ledger, bad: object) -> None:
    """begin and reset refuse an action id that is not a non-empty string, naming the rule."""
    with pytest.raises(LedgerUsageError, match="action_id must be a non-empty string"):
        ledger.begin(bad, ONE_SHOT, run_key="r", trigger="t")  # type: ignore[arg-type]
    with pytest.raises(LedgerUsageError, match="action_id must be a non-empty string"):
        ledger.reset(bad, run_key="r")  # type: ignore[arg-type]


def test_finish_refuses_a_decision_of_unknown_kind(ledger: Ledger) -> None:
    """A decision whose kind begin never returns fits no result: LedgerUsageError, not a crash."""
    odd = LedgerDecision(action_id=ACTION, kind="postponed", attempt=1, escalate=False, reason="", started_at=START)
    with pytest.raises(LedgerUsageError, match="expected nothing: unknown decision kind"):
        ledger.finish(odd, result="failed", duration=0)


def test_records_of_one_action_leave_the_others_out(ledger: Ledger) -> None:
    """records(action_id) returns that action's lines only; records() all of them."""
    ledger.finish(begin(ledger, ONE_SHOT), result="recovered", duration=1)
    ledger.finish(begin(ledger, ONE_SHOT, action="recover-other"), result="recovered", duration=1)
    assert {r["action_id"] for r in ledger.records(ACTION)} == {ACTION}
    assert {r["action_id"] for r in ledger.records()} == {ACTION, "recover-other"}


def test_a_command_given_as_one_string_is_masked_whole(ledger: Ledger, secret: str) -> None:
    """A command line handed over as one string is kept as one masked entry, never split into characters."""
    record = ledger.finish(
        begin(ledger, ONE_SHOT), result="recovered", duration=1, commands=f"docker restart --token {secret}"
    )
    assert record["commands"] == ["docker restart --token [REDACTED:canary]"]
    assert secret not in ledger.path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("duration", "recorded"),
    [(0, 0.0), (0.25, 0.25), (1.23456, 1.235), (-1, None), (math.inf, None), (math.nan, None)],
)
def test_a_result_keeps_a_usable_duration_only(ledger: Ledger, duration: float, recorded: float | None) -> None:
    """Durations are kept to the millisecond when finite and not negative; anything else is dropped, not written."""
    record = ledger.finish(begin(ledger, ONE_SHOT), result="recovered", duration=duration)
    assert record["duration_seconds"] == recorded


def test_cooldown_is_measured_from_the_exact_attempt_time(ledger: Ledger) -> None:
    """An attempt at a fractional second holds its cooldown to that fraction, not to a rounded second."""
    clock: SettableClock = ledger.clock  # type: ignore[assignment]
    clock.now = START + 0.7
    ledger.finish(begin(ledger, Safety(3, 60.0, 5)), result="failed", duration=1)
    clock.now = START + 60.6  # 59.9 s after the attempt
    assert begin(ledger, Safety(3, 60.0, 5)).kind == "suppressed"
    clock.now = START + 60.8  # 60.1 s after it
    assert begin(ledger, Safety(3, 60.0, 5)).kind == "run"
