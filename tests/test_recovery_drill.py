"""The documented sandbox recovery drill, run as an operator would on a machine without Docker (.ci/run runs it).

`pytest -m "smoke or recovery" --env sandbox --allow-recovery --sandbox-unhealthy vaultwarden` must end with
the action `recovered` and its probe green, restarting Vaultwarden through the sandbox's own runtime: no
`docker` on PATH, the operator's DOCKER_HOST / DOCKER_CONTEXT / COMPOSE_FILE pointing at something that
must never be touched, and nothing created outside the run's folder.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.projects import edit_yaml, suite_project
from tests.test_recovery_plugin import ledger, receipt

DRILL = ("-m", "smoke or recovery", "--env", "sandbox", "--allow-recovery", "--sandbox-unhealthy", "vaultwarden")


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """Returns a pytester directory laid out like the project, with a private copy of the contracts."""
    return suite_project(pytester)


def operator_env(tmp_path: Path) -> dict[str, str]:
    """Return an operator's environment: a PATH without docker and container-runtime variables set."""
    empty = tmp_path / "bin-without-docker"
    empty.mkdir(parents=True)
    assert shutil.which("docker", path=str(empty)) is None
    return {
        "PATH": str(empty),
        "HOME": str(tmp_path),
        "DOCKER_HOST": "tcp://operator-docker.invalid:2375",
        "DOCKER_CONTEXT": "operator-production",
        "COMPOSE_FILE": "/nonexistent/operator/compose.yaml",
    }


def drill(suite: pytest.Pytester, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    """Run the documented drill command in a subprocess with exactly `env`."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", *DRILL, "-p", "no:cacheprovider", "-rs", *extra],
        cwd=suite.path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_sandbox_drill_recovers_without_docker(suite: pytest.Pytester, tmp_path: Path) -> None:
    """Ends recovered with the probe green, twice in a row: no docker, no failed attempt, no cooldown."""
    for run_number in (1, 2):
        done = drill(suite, operator_env(tmp_path / f"run{run_number}"))
        out = done.stdout
        assert "recovery recover-vaultwarden-container: recovered (trigger vaultwarden.alive)" in out, out
        assert "ran: sandbox runtime: restart vaultwarden" in out
        assert "Traceback" not in out + done.stderr
        [row] = [r for r in receipt(suite)["recoveries"] if r["id"] == "recover-vaultwarden-container"]
        assert (row["result"], row["attempt"]) == ("recovered", 1)
        assert row["verification"].startswith("vaultwarden.alive passed after 1 poll")
    results = [(r["event"], r["result"]) for r in ledger(suite)]
    assert results == [("attempt-started", None), ("result", "recovered")] * 2  # the second run was not suppressed


def test_a_stack_outside_the_stacks_directory_is_refused(suite: pytest.Pytester, tmp_path: Path) -> None:
    """Refuses `stack: ../../../escaped` naming the file, the YAML path and the fix, and creates nothing."""

    def escape(data: Any) -> None:
        data["actions"][1]["recovery"]["stack"] = "../../../escaped"

    edit_yaml(suite.path / "contracts" / "recovery.actions.yaml", escape)
    done = drill(suite, operator_env(tmp_path))
    assert "recovery.actions.yaml" in done.stdout
    assert "$.actions[1].recovery.stack" in done.stdout
    assert "'../../../escaped' does not match" in done.stdout
    assert not (suite.path / "escaped").exists()
    assert not list(suite.path.parent.glob("escaped"))
    assert "Traceback" not in done.stdout + done.stderr


def test_a_stack_that_is_no_sandbox_system_is_not_run(suite: pytest.Pytester, tmp_path: Path) -> None:
    """Reports not_run (no attempt) for a stack the sandbox does not have, instead of reaching for docker."""

    def other_stack(data: Any) -> None:
        data["actions"][1]["recovery"]["stack"] = "some-other-stack"

    edit_yaml(suite.path / "contracts" / "recovery.actions.yaml", other_stack)
    done = drill(suite, operator_env(tmp_path))
    assert "recovery recover-vaultwarden-container: not_run (trigger vaultwarden.alive)" in done.stdout
    assert "the sandbox has no stack 'some-other-stack'" in done.stdout
    assert [(r["event"], r["result"]) for r in ledger(suite)] == [("decision", "not_run")]


def test_the_ci_script_runs_the_drill() -> None:
    """Keeps the drill in .ci/run, so CI proves it on a machine without Docker."""
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text(encoding="utf-8")
    assert "tests/test_recovery_drill.py" in ci


def test_the_drill_is_the_documented_command() -> None:
    """Keeps the test on the README's command (the drill an operator is told to run)."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert f"pytest -m {chr(34)}{DRILL[1]}{chr(34)} {' '.join(DRILL[2:])}" in readme
