"""The ledger's files: the compacted state file, size rotation with a checkpoint, and paths that cannot be used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infracore_verify.recovery.ledger import Ledger, LedgerFileError, Safety
from tests.clocks import SettableClock

ACTION = "recover-vaultwarden-container"
RESTART = Safety(max_attempts=2, cooldown_seconds=1800.0, escalate_after=2)
START = 1795700400.0


def fill(ledger: Ledger, clock: SettableClock, actions: int, rounds: int) -> None:
    """Let every action fail `rounds` times, each after its cooldown (decision + result lines each time)."""
    for _ in range(rounds):
        for n in range(actions):
            decision = ledger.begin(f"action-{n}", Safety(0, 60.0, 99), run_key="R", trigger="t")
            ledger.finish(decision, result="failed", duration=0.1)
        clock.now += 61


def test_the_state_file_holds_every_actions_compacted_state(tmp_path: Path) -> None:
    """Keeps attempts, last attempt and last result per action next to the log, and the log position it covers."""
    clock = SettableClock(START)
    ledger = Ledger(tmp_path / "ledger.jsonl", clock=clock)
    fill(ledger, clock, actions=3, rounds=2)
    state = json.loads(ledger.state_path.read_text())
    assert ledger.state_path.name == "ledger.jsonl.state.json"
    assert state["actions"]["action-1"] == {"attempts": 2, "last_attempt_at": START + 61, "last_result": "failed"}
    assert state["log"]["offset"] == ledger.path.stat().st_size
    assert state["log"]["lines"] == 12


def test_a_missing_or_stale_state_file_is_rebuilt_from_the_log(tmp_path: Path) -> None:
    """Gives the same state from the log alone, and notices a log that was rewritten behind its back."""
    clock = SettableClock(START)
    ledger = Ledger(tmp_path / "ledger.jsonl", clock=clock)
    fill(ledger, clock, actions=2, rounds=2)
    before = ledger.state("action-0", RESTART)
    ledger.state_path.unlink()
    assert Ledger(ledger.path, clock=clock).state("action-0", RESTART) == before

    lines = ledger.path.read_text().splitlines()
    ledger.path.write_text("\n".join(lines[:4]) + "\n")  # a hand edit: only the first round is left
    assert Ledger(ledger.path, clock=clock).state("action-0", RESTART)["attempts"] == 1


def test_rotation_keeps_the_state_even_when_old_logs_are_gone(tmp_path: Path) -> None:
    """Rotates by size into .1 .. .keep; the new log starts with a checkpoint, so a cooldown survives."""
    clock = SettableClock(START)
    ledger = Ledger(tmp_path / "ledger.jsonl", clock=clock, max_bytes=4000, keep=2)
    fill(ledger, clock, actions=4, rounds=6)
    first = ledger.begin(ACTION, RESTART, run_key="R", trigger="t")
    ledger.finish(first, result="failed", duration=1)
    fill(ledger, clock, actions=2, rounds=5)  # 20 more lines (305 s): the failed attempt's line rotates away
    assert ledger.path.stat().st_size <= 4000
    assert sorted(p.name for p in tmp_path.glob("ledger.jsonl.[0-9]")) == ["ledger.jsonl.1", "ledger.jsonl.2"]
    assert json.loads(ledger.path.read_text().splitlines()[0])["event"] == "checkpoint"
    assert all(r["action_id"] != ACTION for r in ledger.records() if r["event"] != "checkpoint")
    for old in tmp_path.glob("ledger.jsonl.[0-9]"):
        old.unlink()
    ledger.state_path.unlink()  # rebuilt from the current log alone: its checkpoint carries the state

    fresh = Ledger(ledger.path, clock=clock)
    assert fresh.state(ACTION, RESTART)["attempts"] == 1
    assert fresh.begin(ACTION, RESTART, run_key="R", trigger="t").kind == "suppressed"  # still cooling down


def test_rotation_waits_while_a_line_is_unreadable(tmp_path: Path) -> None:
    """Never rotates an unreadable line away: the ledger stays closed until a human repairs it."""
    clock = SettableClock(START)
    ledger = Ledger(tmp_path / "ledger.jsonl", clock=clock, max_bytes=2000)
    fill(ledger, clock, actions=1, rounds=2)
    with ledger.path.open("a") as fh:
        fh.write("{torn\n")
    for _ in range(10):
        assert ledger.begin(ACTION, RESTART, run_key="R", trigger="t").kind == "suppressed"
    assert not ledger.files.rotated(1).exists()
    assert ledger.unreadable()[0][0] == 5


@pytest.mark.parametrize("which", ["ledger", "lock", "state"])
def test_a_directory_in_place_of_a_file_names_the_path(tmp_path: Path, which: str) -> None:
    """Raises LedgerFileError naming the path and the fix for a directory where a ledger file must be."""
    ledger = Ledger(tmp_path / "ledger.jsonl")
    path = {"ledger": ledger.path, "lock": ledger.lock_path, "state": ledger.state_path}[which]
    path.mkdir()
    with pytest.raises(LedgerFileError) as info:
        ledger.begin(ACTION, RESTART, run_key="R", trigger="t")
    assert str(info.value).startswith(f"recovery ledger: {path} is a directory")
    assert info.value.path == path


def test_a_read_only_ledger_is_refused_even_for_root(tmp_path: Path) -> None:
    """Refuses to write a ledger without write bits (root would write it anyway), naming chmod as the fix."""
    ledger = Ledger(tmp_path / "ledger.jsonl")
    ledger.finish(ledger.begin(ACTION, RESTART, run_key="R", trigger="t"), result="failed", duration=0)
    ledger.path.chmod(0o444)
    with pytest.raises(LedgerFileError) as info:
        ledger.begin("other", RESTART, run_key="R", trigger="t")
    assert str(info.value) == (
        f"recovery ledger: {ledger.path} is read-only (mode 0444); make it writable (chmod u+w {ledger.path}) or "
        "point --recovery-ledger (or recovery.ledger in the environment file) at a writable file"
    )
