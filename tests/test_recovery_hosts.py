"""Recovery acts only on what it owns: validated stacks and addresses, an explicit container runtime, strict SSH.

Real subprocesses: a stand-in `docker` (the container runtime is what it stands for) that records its
arguments and the runtime variables it saw, ssh against a socket that never answers, and pytester for the
environment schema.
"""

from __future__ import annotations

import copy
import json
import os
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from infracore_verify.contracts.sets import BUNDLED_CONTRACTS
from infracore_verify.recovery.actions import RecoveryContext, RecoveryError, execute, plan, preflight
from tests.projects import run, suite_project

pytestmark = pytest.mark.timeout(60)

SHIPPED = {a["id"]: a for a in yaml.safe_load((BUNDLED_CONTRACTS / "recovery.actions.yaml").read_text())["actions"]}
VAULTWARDEN = SHIPPED["recover-vaultwarden-container"]
RUNTIME_VARIABLES = ("DOCKER_HOST", "DOCKER_CONTEXT", "COMPOSE_FILE", "CONTAINER_HOST")

RECORDING_DOCKER = '''#!{python} -S
"""Stand-in docker: records argv and the container-runtime variables it was given."""
import json, os, sys
with open({log!r}, "a") as fh:
    fh.write(json.dumps({{"argv": sys.argv[1:], "env": {{k: os.environ.get(k) for k in {names!r}}}}}) + "\\n")
'''


def context(action: dict[str, Any], host: dict[str, Any], **overrides: Any) -> RecoveryContext:
    """Return a RecoveryContext for one action on hosts.infra-core, verifying healthy at once."""
    settings: dict[str, Any] = {
        "action": action,
        "hosts": {"infra-core": host},
        "run_key": "run-1",
        "trigger": "vaultwarden.alive",
        "verify": lambda: (True, "healthy"),
        "rerun_capability": lambda capability: (False, "not expected"),
        "alert_url": None,
        "repo_root": Path("/nonexistent"),
        "capabilities": {},
        "verify_timeout": 1.0,
        "verify_interval": 0.01,
        "command_timeout": 20.0,
        "environment_file": "contracts/environments/lab.yaml",
    }
    return RecoveryContext(**{**settings, **overrides})


def with_recovery(**changes: Any) -> dict[str, Any]:
    """Return the shipped Vaultwarden restart with its recovery block changed."""
    action: dict[str, Any] = copy.deepcopy(VAULTWARDEN)
    action["recovery"].update(changes)
    return action


SSH_HOST = {"address": "infra-core.internal", "ssh_user": "ops", "stacks_dir": "/srv/stacks", "transport": "ssh"}


@pytest.mark.parametrize(
    ("changes", "host", "message"),
    [
        pytest.param(
            {"stack": "../../../etc"},
            SSH_HOST,
            "contracts/recovery.actions.yaml action 'recover-vaultwarden-container' recovery.stack '../../../etc' has "
            "a '..' part, which leaves the directory it must stay in; name the stack's directory under stacks_dir",
            id="stack-dotdot",
        ),
        pytest.param(
            {"stack": "/etc"},
            SSH_HOST,
            "contracts/recovery.actions.yaml action 'recover-vaultwarden-container' recovery.stack '/etc' is absolute; "
            "give a path relative to the directory it lives in; name the stack's directory under stacks_dir",
            id="stack-absolute",
        ),
        pytest.param(
            {"stack": "-rf"},
            SSH_HOST,
            "contracts/recovery.actions.yaml action 'recover-vaultwarden-container' recovery.stack '-rf' has a part "
            "starting with '-', which a command would read as an option; name the stack's directory under stacks_dir",
            id="stack-option",
        ),
        pytest.param(
            {"services": ["--project-directory=/"]},
            SSH_HOST,
            "contracts/recovery.actions.yaml action 'recover-vaultwarden-container' recovery.services: "
            "'--project-directory=/' is not a compose service name (letters, digits, '.', '_', '-', not starting "
            "with '-')",
            id="service-option",
        ),
        pytest.param(
            {},
            {**SSH_HOST, "address": "-oProxyCommand=touch /tmp/pwned"},
            "contracts/environments/lab.yaml hosts.infra-core.address is '-oProxyCommand=touch /tmp/pwned'; an "
            "address is a host name or an IP address: it cannot start with '-' (ssh would read it as an option), "
            "hold spaces or '@' (put the user in ssh_user)",
            id="address-option",
        ),
        pytest.param(
            {},
            {**SSH_HOST, "ssh_user": "-oProxyCommand=x"},
            "contracts/environments/lab.yaml hosts.infra-core.ssh_user is '-oProxyCommand=x'; a user name cannot "
            "start with '-' or hold spaces or '@'",
            id="user-option",
        ),
        pytest.param(
            {},
            {**SSH_HOST, "runtime_env": {"PATH": "/evil"}},
            "contracts/environments/lab.yaml hosts.infra-core.runtime_env.PATH: only DOCKER_*, COMPOSE_* and "
            "CONTAINER_HOST variables can be set here",
            id="runtime-env-other-variable",
        ),
    ],
)
def test_unsafe_bindings_are_refused_before_anything_runs(
    changes: dict[str, Any], host: dict[str, Any], message: str
) -> None:
    """Raises RecoveryError (not_run in a run) naming the field and the fix, from the plan and the preflight."""
    ctx = context(with_recovery(**changes), dict(host))
    for check in (plan, preflight):
        with pytest.raises(RecoveryError) as caught:
            check(ctx)
        assert str(caught.value) == message
    assert not Path("/tmp/pwned").exists()


def test_the_ssh_command_checks_host_keys_and_bounds_the_connection() -> None:
    """Builds ssh with ConnectTimeout, StrictHostKeyChecking=yes, the host's known_hosts and `--` before the host."""
    host = {**SSH_HOST, "known_hosts": "/etc/infra/known_hosts", "connect_timeout_seconds": 4}
    host["runtime_env"] = {"DOCKER_CONTEXT": "infra-core"}
    [restart, _, _] = plan(context(VAULTWARDEN, host))
    assert restart.argv == [
        "ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=4", "-o", "StrictHostKeyChecking=yes",
        "-o", "UserKnownHostsFile=/etc/infra/known_hosts", "--", "ops@infra-core.internal",
        "cd /srv/stacks/vaultwarden && env DOCKER_CONTEXT=infra-core docker compose restart vaultwarden",
    ]  # fmt: skip


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Listens on 127.0.0.1 and accepts connections but never says a word (no SSH banner)."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    for conn in accepted:
        conn.close()
    server.close()


def test_a_host_that_never_answers_is_not_run_within_connect_timeout(silent_server: int, tmp_path: Path) -> None:
    """Gives up at ssh's ConnectTimeout (1 s here; the command timeout is 20 s) with the fix, restarting nothing."""
    host = {**SSH_HOST, "address": "127.0.0.1", "ssh_port": silent_server, "connect_timeout_seconds": 1}
    host["known_hosts"] = str(tmp_path / "known_hosts")
    ctx = context(VAULTWARDEN, host, env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)})
    with pytest.raises(RecoveryError) as caught:
        preflight(ctx)
    message = str(caught.value)
    assert "ssh to ops@127.0.0.1 failed before anything ran:" in message
    # ssh's own ConnectTimeout ended it, not the suite's 20 s command timeout ("failed before anything ran: timed out")
    assert f"Connection to 127.0.0.1 port {silent_server} timed out" in message
    assert message.endswith(
        "the host did not answer within ConnectTimeout: check the address, the port and the network"
    )


def test_a_local_docker_sees_only_the_hosts_runtime_environment(tmp_path: Path) -> None:
    """Drops the operator's DOCKER_HOST, COMPOSE_FILE and CONTAINER_HOST; sets the host's runtime_env."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.jsonl"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(RECORDING_DOCKER.format(python=sys.executable, log=str(log), names=RUNTIME_VARIABLES))
    docker.chmod(0o755)
    (tmp_path / "stacks" / "vaultwarden").mkdir(parents=True)
    operator = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "DOCKER_HOST": "tcp://operator-laptop:2375",
        "DOCKER_CONTEXT": "operator-production",
        "COMPOSE_FILE": "/home/operator/other/compose.yaml",
        "CONTAINER_HOST": "unix:///run/podman.sock",
    }
    host: dict[str, Any] = {"address": "127.0.0.1", "transport": "local", "stacks_dir": str(tmp_path / "stacks")}
    host["runtime_env"] = {"DOCKER_CONTEXT": "infra-core"}
    ctx = context(VAULTWARDEN, host, env=operator)
    preflight(ctx)
    outcome = execute(ctx)
    assert outcome.result == "recovered"
    [call] = [json.loads(line) for line in log.read_text().splitlines()]
    assert call["argv"] == ["compose", "restart", "vaultwarden"]
    assert call["env"] == {
        "DOCKER_HOST": None,
        "DOCKER_CONTEXT": "infra-core",
        "COMPOSE_FILE": None,
        "CONTAINER_HOST": None,
    }


def test_the_environment_schema_refuses_an_address_that_is_an_option(pytester: pytest.Pytester) -> None:
    """Refuses the environment file as a usage error naming the file, line, YAML path and pattern (no traceback)."""
    suite = suite_project(pytester)
    path = suite.path / "contracts" / "environments" / "sandbox.yaml"
    data = yaml.safe_load(path.read_text())
    data["hosts"]["infra-core"]["address"] = "-oProxyCommand=touch /tmp/pwned"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    result = run(suite, "--env", "sandbox", "-m", "recovery", "--allow-recovery", "--recover", VAULTWARDEN["id"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --env sandbox: *sandbox.yaml:9 $.hosts.infra-core.address: '-oProxyCommand=touch /tmp/pwned' *"]
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert not Path("/tmp/pwned").exists()
