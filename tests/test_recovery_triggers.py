"""Recovery acts only when it can help: failure classes per action, and configuration errors that use no attempt.

Run as an operator would (pytester subprocesses against the sandbox, a sandbox reached as a deployment and a
real sshd); the only stand-in is `docker`, where a container runtime is what it stands for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from infracore_verify.recovery.triggers import AVAILABILITY_CLASSES, Trigger, select
from infracore_verify.sandbox import Sandbox
from tests.projects import edit_yaml, run, suite_project, write_lab
from tests.test_recovery_plugin import (
    STUCK_VAULTWARDEN,
    StandIn,
    fast_polling,
    ledger,
    receipt,
    remote_host,
    write_standin,
)

if TYPE_CHECKING:
    from tests.sshd import SshServer

pytest_plugins = ["tests.sshd"]

ACTION = "recover-vaultwarden-container"
DRIFTING = ("--env", "sandbox", "--sandbox-fault", "vaultwarden:drift@/alive", "-m", "smoke or recovery")


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """Returns a pytester directory laid out like the project, with a private copy of the contracts."""
    return suite_project(pytester)


@pytest.fixture
def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StandIn:
    """Puts the stand-in docker first on PATH for the pytest subprocesses."""
    found = write_standin(tmp_path / "standin-bin", tmp_path / "docker-calls.jsonl")
    monkeypatch.setenv("PATH", f"{found.bin_dir}:/usr/bin:/bin")
    return found


# --- item 8: failure classes ------------------------------------------------------------------------------


def test_a_schema_drift_never_triggers_a_restart(suite: pytest.Pytester, standin: StandIn) -> None:
    """Skips the restart when the trigger probe failed with schema_drift, naming the class; nothing is recorded."""
    fast_polling(suite)
    result = run(suite, *DRIFTING, "--allow-recovery", "-rs")
    result.stdout.fnmatch_lines(
        [
            f"SKIPPED * not triggered: vaultwarden.alive failed with class schema_drift, which this action cannot "
            f"fix; it triggers on {', '.join(AVAILABILITY_CLASSES)} (trigger.failure_classes)",
        ]
    )
    assert "sandbox runtime: restart" not in result.stdout.str()
    assert standin.calls() == []
    assert ledger(suite) == []
    assert [r["id"] for r in receipt(suite)["recoveries"]] == []


def test_an_action_can_declare_the_classes_it_fixes(suite: pytest.Pytester, standin: StandIn) -> None:
    """Runs the action for schema_drift once the action declares it in trigger.failure_classes."""
    fast_polling(suite, verify_timeout_seconds=0.6)

    def declare(data: Any) -> None:
        data["actions"][1]["trigger"]["failure_classes"] = ["schema_drift"]

    edit_yaml(suite.path / "contracts" / "recovery.actions.yaml", declare)
    result = run(suite, *DRIFTING, "--allow-recovery", "-rs")
    result.stdout.fnmatch_lines([f"recovery {ACTION}: failed (trigger vaultwarden.alive)*"])


@pytest.mark.parametrize(
    ("failures", "expected"),
    [
        pytest.param({"vaultwarden.alive": "api_error"}, "vaultwarden.alive", id="probe-5xx"),
        pytest.param({"vaultwarden.alive": "network_error"}, "vaultwarden.alive", id="probe-no-response"),
        pytest.param({"vaultwarden.alive": "timeout"}, "vaultwarden.alive", id="probe-timeout"),
        pytest.param({"vaultwarden.alive": "unhealthy"}, "vaultwarden.alive", id="probe-unhealthy"),
        pytest.param({"vaultwarden.alive": "token_invalid"}, None, id="probe-token"),
        pytest.param({"vaultwarden.alive": "setup_error"}, None, id="probe-setup"),
        pytest.param({"vaultwarden.alive": "inventory_drift"}, None, id="probe-inventory"),
        pytest.param({"D149": "deterministic"}, None, id="gate-deterministic"),
        pytest.param({"D149": "gate_bug"}, None, id="gate-bug"),
    ],
)
def test_only_availability_classes_select_an_action_by_default(failures: dict[str, str], expected: str | None) -> None:
    """Selects the shipped restart for network_error, timeout, 5xx and unhealthy only; says which class it saw."""
    trigger = Trigger(ACTION, ("D149",), ("vaultwarden.alive",), "deterministic", AVAILABILITY_CLASSES, False)
    selection = select(trigger, failures, [])
    assert selection.hits == expected
    if expected is None:
        [(failed, found)] = failures.items()
        assert selection.reason.startswith(f"not triggered: {failed} failed with class {found}, ")


# --- item 9: configuration errors use no attempt; --recovery-reset ----------------------------------------


@pytest.fixture
def lab_sandbox(lab_sandbox: Sandbox) -> Sandbox:
    """Returns the test's lab sandbox with Vaultwarden unhealthy."""
    lab_sandbox.set_healthy("vaultwarden", False)
    return lab_sandbox


LAB_RECOVERY = {"verify_timeout_seconds": 0.6, "verify_interval_seconds": 0.2}
LAB = ("--env", "lab", "-m", "smoke and vaultwarden or recovery", "--allow-recovery", "-rs")


def assert_not_run_twice(suite: pytest.Pytester, reason: str) -> None:
    """Run twice: both runs are not_run with `reason`, and the ledger holds no attempt (nothing suppressed)."""
    for _ in range(2):
        result = run(suite, *LAB)
        result.stdout.fnmatch_lines([f"recovery {ACTION}: not_run (trigger vaultwarden.alive) *{reason}*"])
        assert "Traceback" not in result.stdout.str()
        [row] = [r for r in receipt(suite)["recoveries"] if r["id"] == ACTION]
        assert (row["result"], row["attempt"], row["escalated"]) == ("not_run", 0, False)
    assert [(r["event"], r["result"]) for r in ledger(suite)] == [("decision", "not_run")] * 2


def test_a_placeholder_address_is_not_run_and_uses_no_attempt(
    suite: pytest.Pytester, lab_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reports not_run for the template's placeholder address, twice: no attempt, no cooldown, no escalation."""
    host = {"address": "<infra-core-host>", "ssh_user": "ops", "stacks_dir": "/srv/stacks", "transport": "ssh"}
    write_lab(suite, lab_sandbox, monkeypatch, host, LAB_RECOVERY)
    assert_not_run_twice(suite, "hosts.infra-core.address is '<infra-core-host>'; set the host name or IP address")


def test_a_missing_host_is_not_run_and_uses_no_attempt(
    suite: pytest.Pytester, lab_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reports not_run when the action's target host is not in the environment file."""
    host = {"address": "127.0.0.1", "transport": "local", "stacks_dir": "/srv"}
    write_lab(suite, lab_sandbox, monkeypatch, host, LAB_RECOVERY)

    def other_target(data: Any) -> None:
        data["actions"][1]["recovery"]["target"] = "backup-host"

    edit_yaml(suite.path / "contracts" / "recovery.actions.yaml", other_target)
    assert_not_run_twice(suite, "'backup-host' is not a host of contracts/environments/lab.yaml")


def test_a_refused_ssh_key_is_not_run_and_uses_no_attempt(
    suite: pytest.Pytester,
    tmp_path: Path,
    lab_sandbox: Sandbox,
    make_sshd: Callable[[Sequence[Path]], SshServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reports not_run when the real sshd refuses the key: the remote docker never runs, no attempt is used."""
    remote, host = remote_host(tmp_path, lab_sandbox, make_sshd, tmp_path / "stacks")
    host["identity_file"] = str(tmp_path / "no-such-key")  # no authorized key, for a user sshd does not allow
    host["ssh_user"] = "nobody-here"
    write_lab(suite, lab_sandbox, monkeypatch, host, LAB_RECOVERY)
    assert_not_run_twice(suite, "the host refused the SSH key")
    assert remote.calls() == []


def test_an_unknown_host_key_is_not_run(
    suite: pytest.Pytester,
    tmp_path: Path,
    lab_sandbox: Sandbox,
    make_sshd: Callable[[Sequence[Path]], SshServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Checks host keys by default: a known_hosts file without the server's key stops the action (not_run)."""
    remote, host = remote_host(tmp_path, lab_sandbox, make_sshd, tmp_path / "stacks")
    host["known_hosts"] = str(tmp_path / "empty_known_hosts")
    (tmp_path / "empty_known_hosts").write_text("")
    write_lab(suite, lab_sandbox, monkeypatch, host, LAB_RECOVERY)
    assert_not_run_twice(suite, "the host key is unknown or changed")
    assert remote.calls() == []


def test_recovery_reset_clears_the_cooldown_and_says_who(suite: pytest.Pytester) -> None:
    """Writes a reset line with the user and the time; the next run restarts instead of being suppressed."""
    fast_polling(suite, verify_timeout_seconds=0.6)
    run(suite, *STUCK_VAULTWARDEN, "--allow-recovery")  # a failed attempt: a 30 min cooldown starts
    suppressed = run(suite, *STUCK_VAULTWARDEN, "--allow-recovery", "-rs")
    suppressed.stdout.fnmatch_lines([f"SKIPPED * {ACTION}: suppressed: *cooldown*"])

    reset = run(suite, *STUCK_VAULTWARDEN, "--allow-recovery", "--recovery-reset", ACTION)
    reset.stdout.fnmatch_lines(
        [
            f"recovery {ACTION}: reset (trigger manual (--recovery-reset)) attempts and cooldown cleared by * at *Z",
            f"recovery {ACTION}: failed (trigger vaultwarden.alive)*",
        ]
    )
    [line] = [r for r in ledger(suite) if r["result"] == "reset"]
    assert line["by"]
    assert line["timestamp_utc"].endswith("Z")
    assert line["trigger"] == "manual"
    lines = [(r["event"], r["result"]) for r in ledger(suite)]
    assert lines[-3:] == [("result", "reset"), ("attempt-started", None), ("result", "failed")]


def test_recovery_reset_refuses_an_unknown_action(suite: pytest.Pytester) -> None:
    """Rejects --recovery-reset with an unknown id as a usage error naming the closest one."""
    result = run(suite, "--env", "sandbox", "--recovery-reset", "recover-vaultwarden")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --recovery-reset recover-vaultwarden: no such recovery action (did you mean *"]
    )
