"""The ledger cannot be fooled and never loses the audit trail, run as an operator would (pytester subprocesses).

Unreadable lines fail closed and are reported; bad ledger, lock and state paths give the path and the fix,
never a traceback; a ledger that becomes unwritable after docker ran still leaves a receipt and a summary
that say so. The only stand-in is `docker` in the deployment case, where a container runtime is stood in for.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from infracore_verify.sandbox import Sandbox
from tests.projects import edit_yaml, run, suite_project, write_lab
from tests.test_recovery_plugin import VAULTWARDEN, fast_polling, receipt

ACTION = "recover-vaultwarden-container"
ATTEMPT = {
    "timestamp_utc": "2026-11-26T13:40:00Z",
    "unix_time": 1795700400.0,
    "run_key": "CAP-earlier",
    "action_id": ACTION,
    "trigger": "vaultwarden.alive",
    "event": "attempt-started",
    "attempt": 1,
    "result": None,
}


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """Returns a pytester directory laid out like the project, with a private copy of the contracts."""
    made = suite_project(pytester)
    fast_polling(made)
    return made


def ledger_file(suite: pytest.Pytester) -> Path:
    """Return the default ledger path of the pytester run (its folder created)."""
    path = suite.path / "reports" / "recovery" / "ledger.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def assert_no_traceback(result: pytest.RunResult) -> None:
    """Check that the run printed no Python traceback (a clear message only)."""
    text = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in text
    assert "infracore_verify/recovery/ledger" not in text  # no frame of the ledger's code


def the_row(suite: pytest.Pytester) -> dict[str, Any]:
    """Return the action's receipt row."""
    [row] = [r for r in receipt(suite)["recoveries"] if r["id"] == ACTION]
    assert isinstance(row, dict)
    return row


NESTED = "[" * 100_000 + "]" * 100_000
UNREADABLE = [
    pytest.param(
        b"\xef\xbb\xbf" + json.dumps(ATTEMPT).encode() + b"\n",
        "ledger line 1 unreadable: starts with a UTF-8 byte order mark",
        id="bom",
    ),
    pytest.param(
        json.dumps(ATTEMPT).encode() + b"\n" + json.dumps(ATTEMPT).encode()[:40],
        "ledger line 2 unreadable: torn (no end of line: a write was cut off)",
        id="torn-last-line",
    ),
    pytest.param(
        json.dumps(ATTEMPT).encode() + b"\n" + NESTED.encode() + b"\n",
        "ledger line 2 unreadable: nested too deeply to read",
        id="deeply-nested",
    ),
    pytest.param(
        json.dumps({**ATTEMPT, "unix_time": 10**400, "timestamp_utc": None}).encode() + b"\n",
        "ledger line 1 unreadable: attempt line without a usable time (unix_time or timestamp_utc)",
        id="400-digit-number",
    ),
]


@pytest.mark.parametrize(("content", "reason"), UNREADABLE)
def test_an_unreadable_line_fails_closed(suite: pytest.Pytester, content: bytes, reason: str) -> None:
    """Suppresses the action naming the line (never "no history"), in the test, the summary and the receipt."""
    path = ledger_file(suite)
    path.write_bytes(content)
    result = run(suite, *VAULTWARDEN, "--allow-recovery")
    assert_no_traceback(result)
    result.stdout.fnmatch_lines(
        [
            f"{ACTION}: suppressed: {reason}*; nothing ran: repair or delete that line in {path}, then run again",
            f"recovery {ACTION}: suppressed (trigger vaultwarden.alive)*",
            f"    ledger: {path}:*: unreadable ledger line: *",
        ]
    )
    assert "sandbox runtime: restart" not in result.stdout.str()
    row = the_row(suite)
    assert row["result"] == "suppressed"
    assert row["ledger_problems"]
    assert row["ledger_problems"][0].startswith(f"{path}:")
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def path_case(suite: pytest.Pytester, case: str) -> tuple[Path, str]:
    """Break the ledger's paths one way; return the path the message must name and its fix."""
    path = ledger_file(suite)
    if case == "ledger-is-a-directory":
        path.mkdir()
        return path, "is a directory, not the ledger; point --recovery-ledger (or recovery.ledger in the"
    if case == "ledger-is-read-only":
        path.write_text(json.dumps({**ATTEMPT, "unix_time": 0, "event": "attempt-started"}) + "\n")
        path.chmod(0o444)
        return path, f"is read-only (mode 0444); make it writable (chmod u+w {path}) or point --recovery-ledger"
    if case == "lock-is-a-directory":
        lock = Path(f"{path}.lock")
        lock.mkdir()
        return lock, "is a directory, not its lock file; remove that directory"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["ledger-is-a-directory", "ledger-is-read-only", "lock-is-a-directory"])
def test_a_bad_ledger_path_names_the_path_and_the_fix(suite: pytest.Pytester, case: str) -> None:
    """Fails the action with `recovery ledger: <path> <problem>; <fix>`, restarts nothing, prints no traceback."""
    named, message = path_case(suite, case)
    result = run(suite, *VAULTWARDEN, "--allow-recovery")
    assert_no_traceback(result)
    result.stdout.fnmatch_lines([f"*recovery ledger: {named} {message}*"])
    assert "sandbox runtime: restart" not in result.stdout.str()
    row = the_row(suite)
    assert row["result"] == "not_run"
    assert row["ledger_error"].startswith(f"recovery ledger: {named} ")


def test_a_held_lock_times_out_with_the_fix(suite: pytest.Pytester) -> None:
    """Gives up after recovery.lock_timeout_seconds (0.2 here, instead of 30) with the lock path and the fix."""
    edit_yaml(
        suite.path / "contracts" / "environments" / "sandbox.yaml",
        lambda d: d["recovery"].update(lock_timeout_seconds=0.2),
    )
    lock = Path(f"{ledger_file(suite)}.lock")
    holder = FileLock(str(lock), timeout=0)
    holder.acquire()
    try:
        result = run(suite, *VAULTWARDEN, "--allow-recovery")
    finally:
        holder.release()
    assert_no_traceback(result)
    result.stdout.fnmatch_lines(
        [f"*recovery ledger is busy: could not lock {lock} within 0.2s; another recovery run *raise lock_timeout*"]
    )
    assert the_row(suite)["result"] == "not_run"


# --- item 12: the ledger fails after docker ran ----------------------------------------------------------

BREAKING_DOCKER = '''#!{python}
"""Stand-in docker: records its argv, then makes the recovery ledger read-only (as a full disk or an operator might)."""
import json, os, sys
with open({log!r}, "a") as fh:
    fh.write(json.dumps(sys.argv[1:]) + "\\n")
os.chmod({ledger!r}, 0o444)
print("stand-in docker", " ".join(sys.argv[1:]))
'''


@pytest.fixture
def lab_sandbox(lab_sandbox: Sandbox) -> Sandbox:
    """Returns the test's lab sandbox (reached as a deployment on 127.0.0.1) with Vaultwarden unhealthy."""
    lab_sandbox.set_healthy("vaultwarden", False)
    return lab_sandbox


def test_a_ledger_lost_after_docker_ran_is_still_reported(
    suite: pytest.Pytester, tmp_path: Path, lab_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writes the receipt and the summary with what ran and that the ledger write failed."""
    ledger = ledger_file(suite)
    bin_dir, calls = tmp_path / "bin", tmp_path / "docker-calls.jsonl"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(BREAKING_DOCKER.format(python=sys.executable, log=str(calls), ledger=str(ledger)))
    docker.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    (tmp_path / "stacks" / "vaultwarden").mkdir(parents=True)
    host = {"address": "127.0.0.1", "transport": "local", "stacks_dir": str(tmp_path / "stacks")}
    write_lab(suite, lab_sandbox, monkeypatch, host, {"verify_timeout_seconds": 0.4, "verify_interval_seconds": 0.2})
    result = run(suite, "--env", "lab", "-m", "smoke and vaultwarden or recovery", "--allow-recovery")
    assert_no_traceback(result)
    assert calls.read_text().splitlines() == [json.dumps(["compose", "restart", "vaultwarden"])]  # docker ran
    result.stdout.fnmatch_lines(
        [
            f"recovery {ACTION}: failed (trigger vaultwarden.alive)*",
            f"    LEDGER WRITE FAILED: the ledger write failed after the action ran: recovery ledger: {ledger} is "
            "read-only (mode 0444)*; this result is not in it",
            "    ran: cd * && docker compose restart vaultwarden",
        ]
    )
    row = the_row(suite)
    assert (row["result"], row["attempt"]) == ("failed", 1)
    assert "is read-only (mode 0444)" in row["ledger_error"]
    assert row["commands"][0].endswith(" && docker compose restart vaultwarden")
