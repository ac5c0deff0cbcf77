"""End-to-end tests of recovery actions with pytester: opt-in, triggers, ledger limits, dry run, SSH, alerts.

In the sandbox environment the sandbox restarts its own systems (sandbox/runtime.py); a stand-in `docker`
is still first on PATH there, only to prove that nothing calls it. Against a deployment (a sandbox started
by the test and reached over a real sshd) the stand-in stands for the container runtime: it records its
arguments and working directory and, on `compose restart` / `up`, brings the sandbox system named by the
stack directory back to health through the sandbox's control endpoint. Command building, subprocesses,
polling and the ledger are real.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from pytest_httpserver import HTTPServer

from infracore_verify.sandbox import Sandbox
from tests.projects import edit_yaml, run, suite_project, write_lab

if TYPE_CHECKING:
    from tests.sshd import SshServer

pytest_plugins = ["tests.sshd"]

STANDIN = '''#!{python}
"""Stand-in docker: records argv and cwd; a compose restart/up heals the sandbox system named by the stack."""
import json, os, sys, urllib.request
with open({log!r}, "a") as fh:
    fh.write(json.dumps({{"argv": sys.argv[1:], "cwd": os.getcwd()}}) + "\\n")
verb = sys.argv[2] if len(sys.argv) > 2 else ""
urls = json.loads(os.environ.get("INFRACORE_SANDBOX_URLS") or {urls!r})
system = os.path.basename(os.getcwd())
if verb in ("restart", "up") and system in urls and not os.environ.get("STANDIN_NO_HEAL"):
    request = urllib.request.Request(
        urls[system].split("/client/v4")[0] + "/__sandbox__/control",
        data=json.dumps({{"healthy": True}}).encode(),
        headers={{
            "Content-Type": "application/json",
            "X-Infracore-Sandbox-Control": os.environ.get("INFRACORE_SANDBOX_CONTROL_TOKEN") or {token!r},
        }},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=5).read()
print("stand-in docker", " ".join(sys.argv[1:]))
'''


@dataclass
class StandIn:
    """The stand-in docker: where it lives and what it recorded."""

    bin_dir: Path
    log: Path

    def calls(self) -> list[dict[str, Any]]:
        """Return every recorded invocation."""
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]


def write_standin(bin_dir: Path, log: Path, urls: dict[str, str] | None = None, token: str = "") -> StandIn:
    """Write the stand-in `docker` into `bin_dir` (with sandbox URLs and control token baked in for remote use)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "docker"
    script.write_text(STANDIN.format(python=sys.executable, log=str(log), urls=json.dumps(urls or {}), token=token))
    script.chmod(0o755)
    return StandIn(bin_dir, log)


@pytest.fixture
def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StandIn:
    """Puts the stand-in docker first on PATH for the pytest subprocesses."""
    found = write_standin(tmp_path / "standin-bin", tmp_path / "docker-calls.jsonl")
    monkeypatch.setenv("PATH", f"{found.bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin")
    return found


def remote_host(
    tmp_path: Path, box: Sandbox, make_sshd: Callable[[Sequence[Path]], SshServer], stacks: Path
) -> tuple[StandIn, dict[str, Any]]:
    """Start a real sshd with the stand-in docker (healing `box`) on its PATH; return it and the hosts entry.

    The entry's stacks directory is `stacks`, with Vaultwarden's stack folder made.
    """
    remote = write_standin(tmp_path / "remote-bin", tmp_path / "remote-calls.jsonl", box.base_urls, box.control_token)
    server = make_sshd([remote.bin_dir])
    (stacks / "vaultwarden").mkdir(parents=True)
    return remote, server.host_entry(stacks)


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """Returns a pytester directory laid out like the project, with a private copy of the contracts."""
    return suite_project(pytester)


def fast_polling(suite: pytest.Pytester, **recovery: Any) -> None:
    """Make the sandbox environment poll verification quickly."""
    edit_yaml(
        suite.path / "contracts" / "environments" / "sandbox.yaml",
        lambda d: d.update(recovery={"verify_timeout_seconds": 3, "verify_interval_seconds": 0.2, **recovery}),
    )


def receipt(pytester: pytest.Pytester) -> dict[str, Any]:
    """Returns the newest receipt."""
    paths = sorted(
        (p for p in (pytester.path / "reports" / "receipts").glob("*.json") if not p.name.endswith(".drift.json")),
        key=lambda p: p.stat().st_mtime,
    )
    data: dict[str, Any] = json.loads(paths[-1].read_text())
    return data


def ledger(pytester: pytest.Pytester) -> list[dict[str, Any]]:
    """Returns the recovery ledger's lines."""
    path = pytester.path / "reports" / "recovery" / "ledger.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


VAULTWARDEN = ("--env", "sandbox", "--sandbox-unhealthy", "vaultwarden", "-m", "smoke or recovery")
STUCK_VAULTWARDEN = ("--env", "sandbox", "--sandbox-fault", "vaultwarden:status=503@/alive", "-m", "smoke or recovery")
"""/alive answers 503 whatever a restart does (a fault stands for the world around the system)."""


def test_unhealthy_vaultwarden_is_restarted_and_verified(suite: pytest.Pytester, standin: StandIn) -> None:
    """Restarts the sandbox's Vaultwarden through the sandbox runtime (never docker) and verifies it healthy."""
    fast_polling(suite)
    result = run(suite, *VAULTWARDEN, "--allow-recovery", "-rs")
    result.assert_outcomes(passed=18 + 1, failed=2, skipped=4, deselected=19)
    assert standin.calls() == []
    result.stdout.fnmatch_lines(
        [
            "recovery recover-vaultwarden-container: recovered (trigger vaultwarden.alive)*",
            "    ran: sandbox runtime: restart vaultwarden (services vaultwarden) in-process; no container runtime*",
        ]
    )
    [row] = receipt(suite)["recoveries"]
    assert (row["id"], row["result"], row["trigger"], row["attempt"]) == (
        "recover-vaultwarden-container",
        "recovered",
        "vaultwarden.alive",
        1,
    )
    assert "vaultwarden.alive" in row["verification"]
    results = [line for line in ledger(suite) if line["event"] == "result"]
    assert [(r["action_id"], r["result"]) for r in results] == [("recover-vaultwarden-container", "recovered")]


def test_without_allow_recovery_nothing_runs(suite: pytest.Pytester, standin: StandIn) -> None:
    """Skips every recovery action with the two-key reason and never calls docker, whatever fails."""
    result = run(suite, *VAULTWARDEN, "--sandbox-unhealthy", "authentik", "-rs")
    result.assert_outcomes(passed=17, failed=3, skipped=5, deselected=19)
    result.stdout.fnmatch_lines(["SKIPPED [[]5[]] *: pass --allow-recovery to run"])
    assert standin.calls() == []
    assert ledger(suite) == []


def test_allow_recovery_needs_an_explicit_env(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuses --allow-recovery without --env (even though the default is the sandbox)."""
    monkeypatch.delenv("INFRACORE_ENV", raising=False)
    result = run(suite, "--allow-recovery")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --allow-recovery needs an explicit --env (the sandbox too: --env sandbox)"])


def test_unknown_recover_id_names_the_closest(suite: pytest.Pytester) -> None:
    """Rejects --recover with an unknown action id, naming the closest one."""
    result = run(suite, "--env", "sandbox", "--recover", "recover-vaultwarden")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --recover recover-vaultwarden: no such recovery action (did you mean *"])


def test_dry_run_shows_the_commands_and_runs_none(suite: pytest.Pytester, standin: StandIn) -> None:
    """Lists the exact command a triggered action would run, runs nothing and leaves the ledger state alone."""
    result = run(suite, *VAULTWARDEN, "--recovery-dry-run")
    result.stdout.fnmatch_lines(
        [
            "recovery recover-vaultwarden-container: dry-run (trigger vaultwarden.alive)*",
            "    would run: sandbox runtime: restart vaultwarden (services vaultwarden) in-process*",
        ]
    )
    assert standin.calls() == []
    assert {line["dry_run"] for line in ledger(suite)} == {True}


def test_cooldown_holds_across_two_runs(suite: pytest.Pytester, standin: StandIn) -> None:
    """Suppresses the second run's restart while the first (failed) attempt's cooldown is active.

    A recovered attempt clears the state, cooldown included (the ops semantics), so the first attempt is
    made to fail: a fault keeps /alive at 503 whatever the restart does.
    """
    fast_polling(suite, verify_timeout_seconds=0.6)
    first = run(suite, *STUCK_VAULTWARDEN, "--allow-recovery")
    first.stdout.fnmatch_lines(["recovery recover-vaultwarden-container: failed (trigger vaultwarden.alive)*"])
    second = run(suite, *STUCK_VAULTWARDEN, "--allow-recovery", "-rs")
    second.stdout.fnmatch_lines(["SKIPPED * recover-vaultwarden-container: suppressed: *cooldown*"])
    assert standin.calls() == []
    results = [(r["result"], r["attempt"]) for r in ledger(suite) if r["event"] == "result"]
    assert results == [("failed", 1), ("suppressed", 1)]


def test_two_concurrent_runs_fire_the_action_once(suite: pytest.Pytester, standin: StandIn) -> None:
    """Lets exactly one of two simultaneous pytest processes restart the same action (file lock + cooldown)."""
    fast_polling(suite, verify_timeout_seconds=0.6)  # a failed attempt keeps its cooldown, whichever is first
    args = [sys.executable, "-m", "pytest", *STUCK_VAULTWARDEN, "--allow-recovery", "-q", "-p", "no:cacheprovider"]
    processes = [
        subprocess.Popen(args, cwd=suite.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120)[0].decode() for p in processes]
    assert sum("ran: sandbox runtime: restart vaultwarden" in out for out in outputs) == 1, outputs
    assert standin.calls() == []
    results = sorted(r["result"] for r in ledger(suite) if r["event"] == "result")
    assert results == ["failed", "suppressed"]


@pytest.fixture
def alert_server(httpserver: HTTPServer) -> HTTPServer:
    """Returns a webhook receiver on 127.0.0.1 that accepts every alert."""
    httpserver.expect_request("/hooks/t0k3n-fake", method="POST").respond_with_json({"ok": True})
    return httpserver


def test_max_attempts_escalates_with_an_alert(
    suite: pytest.Pytester, standin: StandIn, alert_server: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Escalates when the attempts are used up: the failing run alerts, the next run is exhausted and alerts."""
    monkeypatch.setenv("TEST_ALERT_URL", alert_server.url_for("/hooks/t0k3n-fake"))
    fast_polling(suite, verify_timeout_seconds=0.6)
    edit_yaml(
        suite.path / "contracts" / "environments" / "sandbox.yaml",
        lambda d: d.update(alerting={"webhook_url": {"env": "TEST_ALERT_URL"}}),
    )

    def one_attempt_no_cooldown(data: Any) -> None:
        for action in data["actions"]:
            action["safety"] = {"max_attempts": 1, "cooldown_seconds": 0, "escalate_after_failures": 1}

    edit_yaml(suite.path / "contracts" / "recovery.actions.yaml", one_attempt_no_cooldown)
    first = run(suite, *STUCK_VAULTWARDEN, "--allow-recovery")
    first.stdout.fnmatch_lines(
        [
            "recovery recover-vaultwarden-container: failed ESCALATED (trigger vaultwarden.alive)*",
            "    escalation alert: alerted*",
        ]
    )
    second = run(suite, *STUCK_VAULTWARDEN, "--allow-recovery")
    second.stdout.fnmatch_lines(["recovery recover-vaultwarden-container: exhausted ESCALATED*"])
    assert "ran: sandbox runtime: restart vaultwarden" not in second.stdout.str()
    assert standin.calls() == []
    alerts = [json.loads(request.data) for request, _ in alert_server.log]
    assert [a["action_id"] for a in alerts] == ["recover-vaultwarden-container"] * 2
    assert all("escalated" in a["trigger"] for a in alerts)
    output = first.stdout.str() + second.stdout.str()
    assert "t0k3n-fake" not in output


def test_restart_over_ssh_against_a_real_sshd(
    suite: pytest.Pytester,
    tmp_path: Path,
    lab_sandbox: Sandbox,
    make_sshd: Callable[[Sequence[Path]], SshServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Runs docker compose restart on the target host over SSH (stand-in first on the remote PATH) and verifies."""
    stacks = tmp_path / "remote-stacks"
    remote, host = remote_host(tmp_path, lab_sandbox, make_sshd, stacks)
    write_lab(suite, lab_sandbox, monkeypatch, host, {"verify_timeout_seconds": 3, "verify_interval_seconds": 0.2})
    lab_sandbox.set_healthy("vaultwarden", False)
    result = run(suite, "--env", "lab", "-m", "smoke and vaultwarden or recovery", "--allow-recovery", "-rs")
    result.stdout.fnmatch_lines(
        [
            "recovery recover-vaultwarden-container: recovered (trigger vaultwarden.alive)*",
            "    ran: ssh -o BatchMode=yes *",
        ]
    )
    [call] = remote.calls()
    assert call["argv"] == ["compose", "restart", "vaultwarden"]
    assert call["cwd"] == str(stacks / "vaultwarden")
    assert lab_sandbox.is_healthy("vaultwarden")
