"""Recovery actions end to end: real subprocesses, a real sshd, a real webhook server and a real git repository.

The only fake is a stand-in `docker` executable (first on PATH, locally and in SSH sessions) that records
its argv and working directory and marks the service healthy; command building, execution, the fallback,
verification polling and the results are the real code of `infracore_verify.recovery.actions`.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from pytest_httpserver import HTTPServer
from werkzeug import Response

from infracore_verify.contracts.model import RECOVERY_TYPES
from infracore_verify.contracts.sets import BUNDLED_CONTRACTS
from infracore_verify.recovery.actions import (
    ACTION_TYPES,
    LAUNCHD_MISSING,
    ActionOutcome,
    ActionRegistry,
    DuplicateActionTypeError,
    RecoveryContext,
    RecoveryError,
    RecoveryUnsupportedTypeError,
    StepRecord,
    action_type,
    dry_run,
    execute,
    glob_regex,
    plan,
    porcelain_paths,
    safe_url,
)
from infracore_verify.redact import REDACTOR

if TYPE_CHECKING:
    from tests.sshd import SshServer

pytest_plugins = ["tests.sshd"]
pytestmark = pytest.mark.timeout(30)

FAKE_SECRET = "FAKE-recovery-secret-7c41d09e"
WEBHOOK_TOKEN = "T0KEN-fake-webhook-9f3a2b"
RUN_KEY = "run-20261126-0001"
SHIPPED: dict[str, dict[str, Any]] = {
    a["id"]: a for a in yaml.safe_load((BUNDLED_CONTRACTS / "recovery.actions.yaml").read_text())["actions"]
}


@dataclass
class StandIn:
    """The stand-in docker: its directory (put first on PATH), its call log and the health flag it sets."""

    bin_dir: Path
    log: Path
    healthy: Path

    def calls(self) -> list[dict[str, Any]]:
        """Return the recorded calls: {argv, cwd} per invocation, oldest first."""
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines()]

    def env(self, **extra: str) -> dict[str, str]:
        """Return a subprocess environment with the stand-in first on PATH, plus `extra`."""
        return {**os.environ, "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", **extra}

    def verify(self) -> tuple[bool, str]:
        """Report healthy once the stand-in ran a successful restart or up."""
        if self.healthy.exists():
            return True, "GET /alive -> 200"
        return False, "GET /alive -> connection refused"


STANDIN_SCRIPT = '''#!{python} -S
"""Stand-in docker: records argv and cwd, fails a compose verb named in STANDIN_DOCKER_FAIL, else marks healthy."""
import json, os, sys
args = sys.argv[1:]
with open({log!r}, "a", encoding="utf-8") as f:
    f.write(json.dumps({{"argv": ["docker", *args], "cwd": os.getcwd()}}) + "\\n")
if os.environ.get("STANDIN_ECHO"):
    print("stand-in output:", os.environ["STANDIN_ECHO"])
verb = args[1] if len(args) > 1 and args[0] == "compose" else ""
if verb in os.environ.get("STANDIN_DOCKER_FAIL", "").split(","):
    print("Error: stand-in docker told to fail", verb, file=sys.stderr)
    sys.exit(1)
open({healthy!r}, "w").close()
'''


@pytest.fixture
def standin(tmp_path: Path) -> StandIn:
    """Returns a stand-in docker in tmp_path/bin that logs its calls and marks the service healthy."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    found = StandIn(bin_dir, tmp_path / "docker-calls.jsonl", tmp_path / "healthy")
    script = bin_dir / "docker"
    script.write_text(
        STANDIN_SCRIPT.format(python=sys.executable, log=str(found.log), healthy=str(found.healthy)), encoding="utf-8"
    )
    script.chmod(0o755)
    return found


@pytest.fixture
def stacks(tmp_path: Path) -> Path:
    """Returns a stacks directory (with a space and a quote in its name) holding the shipped stacks."""
    root = tmp_path / "stack's dir"
    for stack in ("vaultwarden", "infisical", "authentik"):
        (root / stack).mkdir(parents=True)
    return root


@pytest.fixture(autouse=True)
def _fake_secret() -> Iterator[None]:
    """Registers the fake secret and the webhook token for this test; forgets every secret afterwards."""
    REDACTOR.register(FAKE_SECRET, label="test.secret")
    REDACTOR.register(WEBHOOK_TOKEN, label="test.webhook_token")
    yield
    REDACTOR.forget_all()


def context(
    action: Mapping[str, Any],
    *,
    hosts: Mapping[str, Mapping[str, Any]] | None = None,
    standin: StandIn | None = None,
    **overrides: Any,
) -> RecoveryContext:
    """Return a RecoveryContext for `action` with fast verification; the stand-in's health check by default."""
    settings: dict[str, Any] = {
        "action": action,
        "hosts": hosts or {},
        "run_key": RUN_KEY,
        "trigger": "D149",
        "verify": standin.verify if standin else lambda: (True, "healthy"),
        "rerun_capability": lambda capability: (False, f"{capability}: not expected to run"),
        "alert_url": None,
        "repo_root": Path("/nonexistent"),
        "capabilities": {},
        "verify_timeout": 2.0,
        "verify_interval": 0.01,
        "env": standin.env() if standin else None,
        "command_timeout": 20.0,
    }
    settings.update(overrides)
    return RecoveryContext(**settings)


def local_hosts(stacks: Path) -> dict[str, dict[str, Any]]:
    """Return environment-file hosts: infra-core is this machine."""
    return {"infra-core": {"address": "127.0.0.1", "ssh_user": "ops", "stacks_dir": str(stacks), "transport": "local"}}


def with_recovery(action_id: str, **changes: Any) -> dict[str, Any]:
    """Return a copy of a shipped action with its recovery block changed."""
    action: dict[str, Any] = copy.deepcopy(SHIPPED[action_id])
    action["recovery"].update(changes)
    return action


def texts(outcome: ActionOutcome | Sequence[StepRecord]) -> str:
    """Return every text an outcome or a plan records, joined (what a report would show)."""
    steps = outcome if isinstance(outcome, Sequence) else outcome.steps
    parts = [] if isinstance(outcome, Sequence) else [outcome.result, outcome.verification, outcome.detail]
    for step in steps:
        parts += [f"{f.name}={getattr(step, f.name)!r}" for f in fields(step)]
    return "\n".join(parts)


def assert_clean(outcome: ActionOutcome | Sequence[StepRecord]) -> None:
    """Assert that no registered fake secret appears anywhere in the recorded text."""
    recorded = texts(outcome)
    assert FAKE_SECRET not in recorded
    assert WEBHOOK_TOKEN not in recorded


def same_dir(a: str | Path, b: str | Path) -> bool:
    """Return True when two paths name the same directory."""
    return Path(a).resolve() == Path(b).resolve()


# -- docker_compose_restart, local ------------------------------------------------------------------------


def test_local_restart_runs_compose_restart_in_the_stack_dir(standin: StandIn, stacks: Path) -> None:
    outcome = execute(context(SHIPPED["recover-vaultwarden-container"], hosts=local_hosts(stacks), standin=standin))

    calls = standin.calls()
    assert [c["argv"] for c in calls] == [["docker", "compose", "restart", "vaultwarden"]]
    assert same_dir(calls[0]["cwd"], stacks / "vaultwarden")
    assert outcome.result == "recovered"
    assert [(s.kind, s.ok) for s in outcome.steps] == [("command", True), ("verify", True)]
    assert outcome.steps[0].argv == ["docker", "compose", "restart", "vaultwarden"]
    assert outcome.steps[0].returncode == 0
    assert (
        outcome.steps[0].description
        == f"cd {shlex.quote(str(stacks / 'vaultwarden'))} && docker compose restart vaultwarden"
    )
    assert outcome.verification.startswith("vaultwarden.alive passed after 1 poll (")
    assert_clean(outcome)


def test_local_restart_of_the_whole_stack_names_no_service(standin: StandIn, stacks: Path) -> None:
    outcome = execute(context(SHIPPED["recover-infisical-stack"], hosts=local_hosts(stacks), standin=standin))

    calls = standin.calls()
    assert [c["argv"] for c in calls] == [["docker", "compose", "restart"]]
    assert same_dir(calls[0]["cwd"], stacks / "infisical")
    assert outcome.result == "recovered"


def test_failed_restart_falls_back_to_up_d(standin: StandIn, stacks: Path) -> None:
    env = standin.env(STANDIN_DOCKER_FAIL="restart")
    action = SHIPPED["recover-authentik-stack"]
    outcome = execute(context(action, hosts=local_hosts(stacks), standin=standin, env=env))

    assert [c["argv"] for c in standin.calls()] == [
        ["docker", "compose", "restart", "server", "worker"],
        ["docker", "compose", "up", "-d", "server", "worker"],
    ]
    assert [(s.kind, s.returncode) for s in outcome.steps] == [("command", 1), ("command", 0), ("verify", None)]
    assert "told to fail restart" in outcome.steps[0].output
    assert outcome.result == "recovered"
    assert outcome.detail.startswith("docker compose restart failed (exit 1), up -d succeeded in ")
    assert outcome.verification.startswith("authentik.health.live, authentik.health.ready passed after 1 poll")


def test_restart_and_up_both_failing_fails_without_verifying(standin: StandIn, stacks: Path) -> None:
    env = standin.env(STANDIN_DOCKER_FAIL="restart,up")
    outcome = execute(context(SHIPPED["recover-vaultwarden-container"], hosts=local_hosts(stacks), env=env))

    assert outcome.result == "failed"
    assert [s.kind for s in outcome.steps] == ["command", "command"]
    assert outcome.verification == "not verified: the restart commands failed"
    assert "restart (exit 1) and up -d (exit 1) both failed" in outcome.detail
    assert outcome.detail.endswith("Error: stand-in docker told to fail up")


class FakeTime:
    """The context's clock and sleep: the clock moves only by the pauses the action asks for, which it records."""

    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def test_verification_is_polled_until_healthy(standin: StandIn, stacks: Path) -> None:
    fake = FakeTime()
    polls: list[float] = []

    def slow_start() -> tuple[bool, str]:
        polls.append(fake.clock())
        healthy = standin.healthy.exists() and len(polls) >= 3
        return healthy, "200" if healthy else "503 starting"

    outcome = execute(
        context(
            SHIPPED["recover-vaultwarden-container"],
            hosts=local_hosts(stacks),
            standin=standin,
            verify=slow_start,
            verify_interval=0.05,
            sleep=fake.sleep,
            clock=fake.clock,
        )
    )

    assert outcome.result == "recovered"
    assert [(s.description, s.ok, s.output) for s in outcome.steps if s.kind == "verify"] == [
        ("verify vaultwarden.alive (poll 1)", False, "503 starting"),
        ("verify vaultwarden.alive (poll 2)", False, "503 starting"),
        ("verify vaultwarden.alive (poll 3)", True, "200"),
    ]
    assert fake.pauses == [0.05, 0.05]  # one verify_interval between polls, none after the healthy one
    assert polls == [0.0, 0.05, 0.1]
    assert outcome.verification.startswith("vaultwarden.alive passed after 3 polls (0.1s)")


def test_never_healthy_fails_within_the_verify_timeout(standin: StandIn, stacks: Path) -> None:
    fake = FakeTime()
    outcome = execute(
        context(
            SHIPPED["recover-vaultwarden-container"],
            hosts=local_hosts(stacks),
            standin=standin,
            verify=lambda: (False, f"503 with {FAKE_SECRET}"),
            verify_timeout=0.3,
            verify_interval=0.05,
            sleep=fake.sleep,
            clock=fake.clock,
        )
    )

    assert outcome.result == "failed"
    # Polls at 0, 0.05, ..., 0.3 s: the pause after the last one would end past the timeout, so it is not taken.
    assert fake.pauses == [0.05] * 6
    assert fake.now == pytest.approx(0.3)
    verify_steps = [s for s in outcome.steps if s.kind == "verify"]
    assert len(verify_steps) == 7
    assert not any(s.ok for s in verify_steps)
    assert outcome.verification == (
        "not verified: vaultwarden.alive still failing after 7 polls (0.3s), timeout 0.3s: "
        "503 with [REDACTED:test.secret]"
    )
    assert "did not become healthy within 0.3s" in outcome.detail
    assert_clean(outcome)


def test_verification_is_bounded_on_the_context_clock(standin: StandIn, stacks: Path) -> None:
    now = [0.0]
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        now[0] += seconds

    outcome = execute(
        context(
            SHIPPED["recover-vaultwarden-container"],
            hosts=local_hosts(stacks),
            standin=standin,
            verify=lambda: (False, "503"),
            verify_timeout=120.0,
            verify_interval=5.0,
            sleep=sleep,
            clock=lambda: now[0],
        )
    )

    # Polls at 0, 5, ..., 120 s: never a pause that would end past the timeout.
    assert len([s for s in outcome.steps if s.kind == "verify"]) == 25
    assert pauses == [5.0] * 24
    assert outcome.verification.startswith("not verified: vaultwarden.alive still failing after 25 polls (120.0s")


def test_a_raising_verify_counts_as_an_unhealthy_poll(standin: StandIn, stacks: Path) -> None:
    def broken() -> tuple[bool, str]:
        raise ConnectionError(f"refused, token {FAKE_SECRET}")

    outcome = execute(
        context(
            SHIPPED["recover-vaultwarden-container"],
            hosts=local_hosts(stacks),
            standin=standin,
            verify=broken,
            verify_timeout=0.05,
            verify_interval=0.02,
        )
    )

    assert outcome.result == "failed"
    assert outcome.steps[1].output == "ConnectionError: refused, token [REDACTED:test.secret]"
    assert_clean(outcome)


def test_command_output_is_masked(standin: StandIn, stacks: Path) -> None:
    env = standin.env(STANDIN_ECHO=f"pulled with {FAKE_SECRET}")
    outcome = execute(context(SHIPPED["recover-vaultwarden-container"], hosts=local_hosts(stacks), env=env))

    assert outcome.steps[0].output.strip() == "stand-in output: pulled with [REDACTED:test.secret]"
    assert_clean(outcome)


def test_a_hanging_command_is_killed_at_the_command_timeout(tmp_path: Path, stacks: Path) -> None:
    bin_dir = tmp_path / "slow-bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text("#!/bin/sh\necho starting\nsleep 300\n", encoding="utf-8")
    (bin_dir / "docker").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    # Hang guard: the module's 30 s pytest-timeout. Unkilled, the two commands would sleep 600 s; killed, they
    # end at their 0.5 s command_timeout.
    outcome = execute(
        context(SHIPPED["recover-vaultwarden-container"], hosts=local_hosts(stacks), env=env, command_timeout=0.5)
    )

    assert outcome.result == "failed"
    assert [s.returncode for s in outcome.steps] == [None, None]
    assert "starting" in outcome.steps[0].output
    assert "timed out after 0.5s" in outcome.steps[0].output
    assert "restart (timed out) and up -d (timed out) both failed" in outcome.detail


def test_a_missing_docker_is_a_failed_step(tmp_path: Path, stacks: Path) -> None:
    env = {"PATH": str(tmp_path / "empty")}
    outcome = execute(context(SHIPPED["recover-vaultwarden-container"], hosts=local_hosts(stacks), env=env))

    assert outcome.result == "failed"
    assert outcome.steps[0].returncode == 127
    assert outcome.steps[0].output.startswith("cannot run docker in ")


@pytest.mark.parametrize(
    ("hosts", "changes", "message"),
    [
        pytest.param(
            {"other": {"address": "<other-host>", "transport": "local", "stacks_dir": "/srv"}},
            {},
            "contracts/recovery.actions.yaml action 'recover-vaultwarden-container' recovery.target: 'infra-core' is "
            "not a host of the environment file (hosts: other); add hosts.infra-core there or fix the target",
            id="unknown-host",
        ),
        pytest.param(
            {"infra-core": {"address": "127.0.0.1", "transport": "local", "stacks_dir": "/nonexistent/stacks"}},
            {},
            "the environment file hosts.infra-core.stacks_dir: /nonexistent/stacks/vaultwarden does not exist on this "
            "machine (transport local); create it, fix stacks_dir or recovery.stack, or use transport: ssh",
            id="missing-stack-dir",
        ),
        pytest.param(
            {"infra-core": {"address": "127.0.0.1", "transport": "local"}},
            {},
            "the environment file hosts.infra-core.stacks_dir is None; set it to the absolute directory that holds "
            "vaultwarden/",
            id="no-stacks-dir",
        ),
        pytest.param(
            {"infra-core": {"address": "h", "ssh_user": "<ssh-user>", "transport": "ssh", "stacks_dir": "/srv"}},
            {},
            "the environment file hosts.infra-core.ssh_user is the placeholder '<ssh-user>'; set the real SSH user "
            "(or remove it)",
            id="placeholder-user",
        ),
        pytest.param(
            {"infra-core": {"address": "h", "transport": "ssh", "stacks_dir": "/srv"}},
            {"stack": ""},
            "contracts/recovery.actions.yaml action 'recover-vaultwarden-container' recovery.stack is missing or "
            "empty; set it to the stack's directory name under the host's stacks_dir",
            id="no-stack",
        ),
    ],
)
def test_binding_problems_raise_recovery_error(
    standin: StandIn, hosts: dict[str, Any], changes: dict[str, Any], message: str
) -> None:
    ctx = context(with_recovery("recover-vaultwarden-container", **changes), hosts=hosts, standin=standin)

    with pytest.raises(RecoveryError) as caught:
        execute(ctx)

    assert str(caught.value) == message
    assert standin.calls() == []


# -- docker_compose_restart over SSH ----------------------------------------------------------------------


def test_ssh_restart_runs_on_the_remote_host(
    make_sshd: Callable[[Sequence[Path]], SshServer], standin: StandIn, stacks: Path
) -> None:
    server = make_sshd([standin.bin_dir])
    hosts = {"infra-core": server.host_entry(stacks)}
    outcome = execute(context(SHIPPED["recover-vaultwarden-container"], hosts=hosts, standin=standin))

    calls = standin.calls()
    assert [c["argv"] for c in calls] == [["docker", "compose", "restart", "vaultwarden"]], server.log()
    assert same_dir(calls[0]["cwd"], stacks / "vaultwarden")
    remote = f"cd {shlex.quote(str(stacks / 'vaultwarden'))} && docker compose restart vaultwarden"
    expected = [
        "ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-p", str(server.port),
        "-i", str(server.identity_file), "-o", "LogLevel=ERROR", "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={server.known_hosts}", "--", f"{server.user}@127.0.0.1", remote,
    ]  # fmt: skip
    assert outcome.steps[0].argv == expected
    assert outcome.steps[0].description == shlex.join(expected)
    assert outcome.result == "recovered", outcome.steps[0].output
    assert outcome.verification.startswith("vaultwarden.alive passed after 1 poll")


def test_ssh_failure_is_recorded_with_the_ssh_error(
    make_sshd: Callable[[Sequence[Path]], SshServer], standin: StandIn, stacks: Path, tmp_path: Path
) -> None:
    server = make_sshd([standin.bin_dir])
    host = server.host_entry(stacks)
    host["identity_file"] = str(tmp_path / "no-such-key")
    host["ssh_user"] = "nobody-here"
    outcome = execute(context(SHIPPED["recover-vaultwarden-container"], hosts={"infra-core": host}, standin=standin))

    assert outcome.result == "failed"
    assert [s.returncode for s in outcome.steps] == [255, 255]
    assert "Permission denied" in outcome.steps[0].output
    assert standin.calls() == []


# -- dry run ----------------------------------------------------------------------------------------------


def test_plan_lists_the_local_commands_and_runs_nothing(standin: StandIn, stacks: Path) -> None:
    steps = plan(context(SHIPPED["recover-authentik-stack"], hosts=local_hosts(stacks), standin=standin))

    where = shlex.quote(str(stacks / "authentik"))
    assert [(s.kind, s.argv, s.description) for s in steps] == [
        (
            "command",
            ["docker", "compose", "restart", "server", "worker"],
            f"cd {where} && docker compose restart server worker",
        ),
        (
            "command",
            ["docker", "compose", "up", "-d", "server", "worker"],
            f"only if the restart fails: cd {where} && docker compose up -d server worker",
        ),
        (
            "verify",
            [],
            "verify authentik.health.live, authentik.health.ready every 0.01s until healthy, at most 2s",
        ),
    ]
    assert all(s.returncode is None and s.output == "" for s in steps)
    assert standin.calls() == []
    assert not standin.healthy.exists()


def test_plan_lists_the_ssh_commands_and_runs_nothing(standin: StandIn) -> None:
    hosts = {
        "infra-core": {
            "address": "infra-core.internal",
            "ssh_user": "ops",
            "stacks_dir": "/srv/stacks",
            "transport": "ssh",
            "ssh_port": 2222,
            "identity_file": "~/.ssh/infra_core",
            "ssh_options": ["StrictHostKeyChecking=yes", "UserKnownHostsFile=/etc/ssh/infra_known_hosts"],
        }
    }
    outcome = dry_run(context(SHIPPED["recover-vaultwarden-container"], hosts=hosts, standin=standin))

    prefix = [
        "ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-p", "2222", "-i", "~/.ssh/infra_core",
        "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=/etc/ssh/infra_known_hosts",
        "--", "ops@infra-core.internal",
    ]  # fmt: skip
    assert [s.argv for s in outcome.steps if s.kind == "command"] == [
        [*prefix, "cd /srv/stacks/vaultwarden && docker compose restart vaultwarden"],
        [*prefix, "cd /srv/stacks/vaultwarden && docker compose up -d vaultwarden"],
    ]
    assert outcome.steps[0].description == (
        "ssh -o BatchMode=yes -o ConnectTimeout=10 -p 2222 -i '~/.ssh/infra_core' -o StrictHostKeyChecking=yes "
        "-o UserKnownHostsFile=/etc/ssh/infra_known_hosts -- ops@infra-core.internal "
        "'cd /srv/stacks/vaultwarden && docker compose restart vaultwarden'"
    )
    assert (outcome.result, outcome.detail) == ("dry-run", "dry run: 3 steps would run, none ran")
    assert standin.calls() == []


# -- capability_retry -------------------------------------------------------------------------------------


def retry_context(
    outcomes: Sequence[bool], backoff: Any, attempts: int
) -> tuple[RecoveryContext, list[float], list[str]]:
    """Return a capability_retry context whose probe answers `outcomes` in turn, its sleeps and its calls."""
    sleeps: list[float] = []
    calls: list[str] = []

    def rerun(capability: str) -> tuple[bool, str]:
        calls.append(capability)
        passed = outcomes[len(calls) - 1]
        return passed, "200 zones listed" if passed else f"429 rate limited ({FAKE_SECRET})"

    action = with_recovery("recover-cloudflare-readpath", max_attempts=attempts, backoff_seconds=backoff)
    ctx = context(action, rerun_capability=rerun, sleep=sleeps.append, trigger="D320")
    return ctx, sleeps, calls


def test_capability_retry_recovers_on_the_second_try() -> None:
    ctx, sleeps, calls = retry_context([False, True], [60, 300], attempts=2)
    outcome = execute(ctx)

    assert outcome.result == "recovered"
    assert calls == ["cloudflare.zone.list", "cloudflare.zone.list"]
    assert sleeps == [60.0]
    assert [(s.description, s.ok) for s in outcome.steps] == [
        ("re-run capability cloudflare.zone.list (attempt 1 of 2)", False),
        ("re-run capability cloudflare.zone.list (attempt 2 of 2, after 60s backoff)", True),
    ]
    assert outcome.verification == "cloudflare.zone.list passed on attempt 2 of 2"
    assert_clean(outcome)


def test_capability_retry_reuses_the_last_backoff_value() -> None:
    ctx, sleeps, calls = retry_context([False] * 4, [1, 2], attempts=4)
    outcome = execute(ctx)

    assert sleeps == [1.0, 2.0, 2.0]
    assert len(calls) == 4
    assert outcome.result == "failed"
    assert outcome.verification == (
        "not verified: cloudflare.zone.list failed all 4 attempts: 429 rate limited ([REDACTED:test.secret])"
    )
    assert_clean(outcome)


def test_capability_retry_turns_a_non_numeric_backoff_into_60s() -> None:
    ctx, sleeps, _ = retry_context([False, False, True], [5, "soon"], attempts=3)
    outcome = execute(ctx)

    assert sleeps == [5.0, 60.0]
    assert outcome.result == "recovered"


def test_capability_retry_plan_lists_the_attempts_and_runs_nothing() -> None:
    ctx, sleeps, calls = retry_context([], [60, 300], attempts=3)
    steps = plan(ctx)

    assert [s.description for s in steps] == [
        "re-run capability cloudflare.zone.list (attempt 1 of 3) until one passes",
        "re-run capability cloudflare.zone.list (attempt 2 of 3, after 60s backoff) until one passes",
        "re-run capability cloudflare.zone.list (attempt 3 of 3, after 300s backoff) until one passes",
    ]
    assert (sleeps, calls) == ([], [])


def test_capability_retry_rejects_a_bad_max_attempts() -> None:
    ctx, _, _ = retry_context([], [60], attempts=0)

    with pytest.raises(RecoveryError, match=r"recovery\.max_attempts is 0, not an integer >= 1; set max_attempts: 2"):
        execute(ctx)


# -- alert_only -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def _loopback() -> Iterator[HTTPServer]:
    """Yields one pytest-httpserver bound to 127.0.0.1 for this module."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def httpserver(_loopback: HTTPServer) -> HTTPServer:
    """Returns the module's 127.0.0.1 pytest-httpserver, cleared for this test."""
    _loopback.clear()
    return _loopback


HOOK_PATH = f"/hooks/{WEBHOOK_TOKEN}"


def alert_context(url: str | None, sleeps: list[float]) -> RecoveryContext:
    """Return the shipped alert action's context posting to `url`."""
    return context(
        SHIPPED["alert-infra-core-oncall"], alert_url=url, sleep=sleeps.append, trigger="manual", environment="sandbox"
    )


def test_alert_only_posts_the_alert(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(HOOK_PATH, method="POST").respond_with_json({"ok": True})
    url = httpserver.url_for(HOOK_PATH)
    outcome = execute(alert_context(url, []))

    httpserver.check_assertions()
    (request, _), *_ = httpserver.log
    body = request.get_json()
    assert body == {
        "run_key": RUN_KEY,
        "action_id": "alert-infra-core-oncall",
        "trigger": "manual",
        "environment": "sandbox",
        "message": (
            "infra-core recovery alert (alerting.dispatch): manual needs attention "
            f"(action alert-infra-core-oncall, run {RUN_KEY})"
        ),
    }
    assert outcome.result == "alerted"
    assert outcome.detail == f"alert posted to http://127.0.0.1:{httpserver.port}/… (HTTP 200)"
    assert outcome.steps[0].kind == "http"
    assert outcome.steps[0].description.startswith(f"POST http://127.0.0.1:{httpserver.port}/… (attempt 1 of 2) json=")
    assert url not in texts(outcome)
    assert_clean(outcome)


def test_alert_only_retries_a_5xx_once_then_fails(httpserver: HTTPServer) -> None:
    httpserver.expect_request(HOOK_PATH, method="POST").respond_with_response(
        Response(f"upstream broke at {HOOK_PATH}", status=500)
    )
    sleeps: list[float] = []
    url = httpserver.url_for(HOOK_PATH)
    outcome = execute(alert_context(url, sleeps))

    assert len(httpserver.log) == 2
    assert sleeps == [1.0]
    assert outcome.result == "failed"
    assert [s.returncode for s in outcome.steps] == [500, 500]
    assert outcome.steps[0].output == "HTTP 500 INTERNAL SERVER ERROR\nupstream broke at …"
    assert outcome.detail == (
        f"the alert to http://127.0.0.1:{httpserver.port}/… was not accepted after 2 attempts (HTTP 500, HTTP 500)"
    )
    assert url not in texts(outcome)
    assert_clean(outcome)


def test_alert_only_without_a_listener_fails_and_hides_the_url() -> None:
    url = f"http://127.0.0.1:9/{HOOK_PATH.lstrip('/')}?key={FAKE_SECRET}"
    outcome = execute(alert_context(url, []))

    assert outcome.result == "failed"
    assert [s.returncode for s in outcome.steps] == [None, None]
    assert outcome.steps[0].output.startswith("no response: ConnectionError")
    assert "/hooks" not in texts(outcome)
    assert_clean(outcome)


def test_alert_only_without_a_webhook_url_fails() -> None:
    outcome = execute(alert_context(None, []))

    assert (outcome.result, outcome.detail) == ("failed", "no alerting.webhook_url in the environment file")
    assert outcome.steps == []


def test_alert_plan_shows_only_scheme_host_and_port() -> None:
    steps = plan(alert_context(f"https://hooks.example.invalid/services/{WEBHOOK_TOKEN}", []))

    assert len(steps) == 1
    assert steps[0].description.startswith("POST https://hooks.example.invalid/… json=")
    assert steps[0].description.endswith(", one retry on 5xx or no response")
    assert_clean(steps)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.example.invalid/a/b?c=d", "https://hooks.example.invalid/…"),
        ("http://user:pw@127.0.0.1:8080/x", "http://127.0.0.1:8080/…"),
        ("http://[::1]:81/x", "http://[::1]:81/…"),
    ],
    ids=["path-and-query", "userinfo", "ipv6"],
)
def test_safe_url_keeps_scheme_host_and_port(url: str, shown: str) -> None:
    assert safe_url(url) == shown


# -- launchd_restart --------------------------------------------------------------------------------------


LAUNCHD_ACTION: dict[str, Any] = {
    "id": "recover-agent",
    "trigger": {"gate_ids": [], "manual_only": True, "probe_ids": ["vaultwarden.alive"]},
    "recovery": {"type": "launchd_restart", "label": "com.example.agent"},
}


@pytest.mark.skipif(sys.platform == "darwin", reason="checks the message on a platform without launchd")
def test_launchd_restart_without_launchd_fails_with_a_clear_message() -> None:
    outcome = execute(context(LAUNCHD_ACTION))

    assert (outcome.result, outcome.detail, outcome.steps) == ("failed", LAUNCHD_MISSING, [])
    assert outcome.detail == "launchd_restart needs macOS launchd (launchctl not found on this host)"


def test_launchd_plan_boots_out_cleans_up_and_bootstraps() -> None:
    action = copy.deepcopy(LAUNCHD_ACTION)
    action["recovery"].update(remove_files=["/tmp/agent.lock", "/tmp/agent.pid"], plist="/opt/agent.plist")
    steps = plan(context(action, launchd_domain="gui/501"))

    assert [s.argv for s in steps] == [
        ["launchctl", "bootout", "gui/501/com.example.agent"],
        ["rm", "-f", "--", "/tmp/agent.lock", "/tmp/agent.pid"],
        ["launchctl", "bootstrap", "gui/501", "/opt/agent.plist"],
        ["launchctl", "kickstart", "-k", "gui/501/com.example.agent"],
        [],
    ]
    assert steps[3].description == "only if bootstrap fails: launchctl kickstart -k gui/501/com.example.agent"


def test_launchd_plan_defaults_to_the_users_gui_domain_and_launch_agent() -> None:
    steps = plan(context(LAUNCHD_ACTION))

    assert steps[0].argv == ["launchctl", "bootout", f"gui/{os.getuid()}/com.example.agent"]
    assert steps[1].argv == [
        "launchctl",
        "bootstrap",
        f"gui/{os.getuid()}",
        os.path.expanduser("~/Library/LaunchAgents/com.example.agent.plist"),
    ]


# -- capability_commit ------------------------------------------------------------------------------------


COMMIT_ACTION: dict[str, Any] = {
    "id": "commit-generated-docs",
    "trigger": {"gate_ids": ["D67"]},
    "recovery": {
        "type": "capability_commit",
        "capability": "docs.generate",
        "allowlist_file": "ops/recovery.allowlist",
        "commit_message": "docs: regenerate capability docs",
        "trailer_capability": "docs.capability-map",
    },
}


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` and return its stdout."""
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True, timeout=20)
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """Returns a git repository with an allowlist (docs/*.md, generated/**) and a generator script, committed."""
    root = tmp_path / "repo"
    (root / "ops").mkdir(parents=True)
    (root / "tools").mkdir()
    (root / "ops" / "recovery.allowlist").write_text(
        "# files a recovery commit may touch\ndocs/*.md\n\ngenerated/   # everything below\n", encoding="utf-8"
    )
    (root / "tools" / "write.py").write_text(
        "import pathlib, sys\nfor name in [a for a in sys.argv[1:] if not a.startswith('--')]:\n"
        "    path = pathlib.Path(name)\n    path.parent.mkdir(parents=True, exist_ok=True)\n"
        "    path.write_text('generated\\n')\n",
        encoding="utf-8",
    )
    git(root, "init", "-q", "-b", "main")
    for key, value in (("user.name", "Recovery Test"), ("user.email", "recovery@example.invalid")):
        git(root, "config", key, value)
    git(root, "config", "commit.gpgsign", "false")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


def commit_context(repo: Path, *files: str) -> RecoveryContext:
    """Return the commit action's context whose capability writes `files` (with a secret on its command line)."""
    command = shlex.join([sys.executable, "tools/write.py", *files]) + f" --token={FAKE_SECRET}"
    return context(
        COMMIT_ACTION,
        repo_root=repo,
        capabilities={"docs.generate": {"command": command}},
        env={k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
    )


def test_capability_commit_commits_allowlisted_changes_with_trailers(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    outcome = execute(commit_context(repo, "docs/caps.md", "generated/deep/map.json"))

    assert outcome.result == "recovered", outcome.detail
    assert git(repo, "rev-parse", "HEAD^") == head
    assert git(repo, "log", "-1", "--format=%B").strip() == (
        "docs: regenerate capability docs\n\n"
        "Gate-Mutation: recovery\n"
        "Gate-Capability: docs.capability-map\n"
        f"Gate-Run-Key: {RUN_KEY}"
    )
    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == ["docs/caps.md", "generated/deep/map.json"]
    assert git(repo, "status", "--porcelain") == ""
    assert outcome.detail == ("committed 2 files from docs.generate: docs/caps.md, generated/deep/map.json")
    assert [s.argv[:2] for s in outcome.steps] == [
        ["git", "status"],
        [sys.executable, "tools/write.py"],
        ["git", "status"],
        ["git", "add"],
        ["git", "commit"],
    ]
    assert outcome.steps[1].argv[-1] == "--token=[REDACTED:test.secret]"
    assert_clean(outcome)


def test_capability_commit_refuses_a_dirty_tree(repo: Path) -> None:
    (repo / "stray.txt").write_text("uncommitted\n", encoding="utf-8")
    (repo / "tools" / "write.py").write_text("# edited\n", encoding="utf-8")
    head = git(repo, "rev-parse", "HEAD")
    outcome = execute(commit_context(repo, "docs/caps.md"))

    assert outcome.result == "failed"
    assert outcome.detail == "refusing: the work tree has uncommitted changes: stray.txt, tools/write.py"
    assert len(outcome.steps) == 1
    assert not (repo / "docs").exists()
    assert git(repo, "rev-parse", "HEAD") == head


def test_capability_commit_refuses_changes_outside_the_allowlist(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    outcome = execute(commit_context(repo, "docs/caps.md", "docs/sub/deeper.md", "ops/capabilities.yaml"))

    assert outcome.result == "failed"
    assert outcome.detail == (
        "capability docs.generate changed files outside ops/recovery.allowlist: docs/sub/deeper.md, "
        "ops/capabilities.yaml; nothing committed (the changes are left in place)"
    )
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "diff", "--cached", "--name-only") == ""
    assert_clean(outcome)


def test_capability_commit_with_nothing_changed_commits_nothing(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    outcome = execute(commit_context(repo))

    assert (outcome.result, outcome.detail) == (
        "recovered",
        "capability docs.generate changed nothing; nothing to commit",
    )
    assert git(repo, "rev-parse", "HEAD") == head


def test_capability_commit_plan_runs_nothing(repo: Path) -> None:
    steps = plan(commit_context(repo, "docs/caps.md"))

    assert [s.argv[:3] for s in steps] == [
        ["git", "status", "--porcelain=v1"],
        [sys.executable, "tools/write.py", "docs/caps.md"],
        ["git", "status", "--porcelain=v1"],
        ["git", "add", "--"],
        ["git", "commit", "-m"],
    ]
    assert steps[4].argv[3:] == [
        "docs: regenerate capability docs",
        "--trailer",
        "Gate-Mutation: recovery",
        "--trailer",
        "Gate-Capability: docs.capability-map",
        "--trailer",
        f"Gate-Run-Key: {RUN_KEY}",
    ]
    assert not (repo / "docs").exists()
    assert_clean(steps)


def test_capability_commit_needs_the_capability_command(repo: Path) -> None:
    ctx = replace(commit_context(repo), capabilities={})

    with pytest.raises(RecoveryError) as caught:
        execute(ctx)

    assert str(caught.value) == (
        "contracts/recovery.actions.yaml action 'commit-generated-docs' recovery.capability: 'docs.generate' has no "
        "command in capabilities.yaml; add the capability with a command, or fix the name"
    )


@pytest.mark.parametrize(
    ("pattern", "matches", "misses"),
    [
        ("docs/*.md", ["docs/a.md"], ["docs/sub/a.md", "docs/a.mdx", "xdocs/a.md"]),
        ("generated/", ["generated/a", "generated/x/y.json"], ["generated", "other/generated/a"]),
        ("**/*.lock", ["a.lock", "x/y/a.lock"], ["a.locks"]),
        ("./ops/file?.yaml", ["ops/file1.yaml"], ["ops/file12.yaml"]),
    ],
    ids=["star-stays-in-dir", "dir-prefix", "double-star", "dot-slash-and-question"],
)
def test_allowlist_globs(pattern: str, matches: list[str], misses: list[str]) -> None:
    regex = glob_regex(pattern)

    assert [p for p in matches + misses if regex.fullmatch(p)] == matches


def test_porcelain_paths_include_both_sides_of_a_rename() -> None:
    assert porcelain_paths("R  new.md\0old.md\0?? dir/a b.txt\0 M x\0") == ["dir/a b.txt", "new.md", "old.md", "x"]


# -- unsupported types ------------------------------------------------------------------------------------


def test_capability_rerun_is_rejected_with_the_fix() -> None:
    action = {"id": "legacy", "recovery": {"type": "capability_rerun", "capabilities": ["a", "b"]}}

    for entry_point in (plan, execute):
        with pytest.raises(RecoveryUnsupportedTypeError) as caught:
            entry_point(context(action))
        assert str(caught.value) == (
            "contracts/recovery.actions.yaml action 'legacy' recovery.type: 'capability_rerun' is a legacy recovery "
            "type and is not supported; convert it to one capability_retry action per capability"
        )


def test_an_unknown_type_is_rejected_with_the_supported_ones() -> None:
    with pytest.raises(RecoveryError) as caught:
        execute(context({"id": "odd", "recovery": {"type": "reboot"}}))

    assert str(caught.value) == (
        "contracts/recovery.actions.yaml action 'odd' recovery.type: unsupported recovery type 'reboot'; use one of "
        "docker_compose_restart, capability_retry, alert_only, launchd_restart, capability_commit"
    )


# -- the registry of recovery types -----------------------------------------------------------------------


def schema_recovery_types() -> tuple[str, ...]:
    """Return the recovery types the recovery.actions schema names for recovery.type, in its order.

    An enum when the schema has one; else the "supported: a, b, c." list of the field's description (the
    field takes any string so that D320 and D901 can name an unsupported type and its fix).
    """
    schema = json.loads((BUNDLED_CONTRACTS / "schemas" / "recovery.actions.schema.json").read_text(encoding="utf-8"))
    field = schema["$defs"]["action"]["properties"]["recovery"]["properties"]["type"]
    if "enum" in field:
        return tuple(field["enum"])
    listed = re.search(r"supported: ([a-z_]+(?:, [a-z_]+)*)\.", field["description"])
    assert listed, f"recovery.type of the schema lists no supported types: {field['description']!r}"
    return tuple(listed.group(1).split(", "))


def test_the_registry_the_model_and_the_schema_name_the_same_recovery_types() -> None:
    """One list: every registered type is in RECOVERY_TYPES and the schema, in the same order, and nothing else."""
    assert ACTION_TYPES.names() == RECOVERY_TYPES == schema_recovery_types()
    assert "capability_rerun" not in ACTION_TYPES


class Impostor:
    """A recovery type that must not get a name that is already taken."""

    def plan(self, ctx: RecoveryContext) -> list[StepRecord]:
        return []

    def execute(self, ctx: RecoveryContext) -> ActionOutcome:
        return ActionOutcome("recovered", [], "", "")


def test_registering_a_recovery_type_twice_raises() -> None:
    with pytest.raises(DuplicateActionTypeError) as caught:
        action_type("alert_only")(Impostor)

    assert (
        str(caught.value)
        == "recovery type 'alert_only' is already registered by AlertOnly; Impostor needs another name"
    )
    assert ACTION_TYPES.names() == RECOVERY_TYPES
    assert plan(context({"id": "a", "recovery": {"type": "alert_only"}}))[0].kind == "http"


def test_a_registry_takes_each_name_once() -> None:
    registry = ActionRegistry()
    assert registry.register("noop")(Impostor) is Impostor

    with pytest.raises(DuplicateActionTypeError):
        registry.register("noop")(Impostor)
    assert registry.names() == ("noop",)
    assert isinstance(registry.get("noop"), Impostor)
