"""Pytester projects laid out like the suite, and the runs and environment files the end-to-end tests share.

`suite_project` lays out the three layers with a private copy of the contracts; `write_env` and `write_lab`
write environment files into it (`write_lab`: a sandbox's Vaultwarden reached as a deployment); `run` runs
pytest on it in a fresh subprocess. The sandbox fixtures (`sb`, `lab_sandbox`) live in tests/conftest.py.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from infracore_verify.contracts.sets import SUITE_ROOT
from infracore_verify.sandbox import Sandbox
from infracore_verify.smoke.context import Slo
from tests.conftest import PROJECT_CONFTEST

UNTIMED_SLO = Slo(warn=3600.0, incident=3600.0)
"""An SLO no local call crosses: for tests of what a probe checks, whose exact warnings must not depend on how
busy the machine is (a call over 3 s on a loaded CI machine would add a latency warning). The latency rules
themselves are tested with an injected clock in tests/test_slo_deadline.py."""

LAYERS = ("gates", "smoke", "recovery")
"""The suite's test layers, each a folder with one `test_<layer>.py`."""


def suite_project(pytester: pytest.Pytester, ini: str = "") -> pytest.Pytester:
    """Lay out a pytester project like the suite: conftest, the three layers and a private copy of the contracts.

    `ini`: extra lines for the [pytest] section (each ending in a newline).
    """
    (pytester.path / "conftest.py").write_text(PROJECT_CONFTEST)
    for folder in LAYERS:
        (pytester.path / folder).mkdir()
        shutil.copy(SUITE_ROOT / folder / f"test_{folder}.py", pytester.path / folder / f"test_{folder}.py")
    shutil.copytree(SUITE_ROOT / "contracts", pytester.path / "contracts")
    pytester.makeini(
        f"[pytest]\naddopts = -p no:cacheprovider\n{ini}infracore_contracts = {pytester.path / 'contracts'}\n"
    )
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Run pytest in a fresh subprocess (the loader cache and plugins start clean), under a 120 s hang guard."""
    return pytester.runpytest_subprocess(*args, timeout=120)


def edit_yaml(path: Path, mutate: Callable[[Any], object]) -> None:
    """Load a YAML file, mutate it in place and write it back."""
    data = yaml.safe_load(path.read_text())
    mutate(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def write_env(project: pytest.Pytester, env: dict[str, Any]) -> Path:
    """Write contracts/environments/<name>.yaml and return its path."""
    path = project.path / "contracts" / "environments" / f"{env['name']}.yaml"
    path.write_text(yaml.safe_dump(env, sort_keys=False))
    return path


def write_lab(
    project: pytest.Pytester,
    box: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    host: dict[str, Any],
    recovery: dict[str, float] | None = None,
) -> Path:
    """Write environments/lab.yaml: `box`'s Vaultwarden as a deployment, `host` as hosts.infra-core.

    The credentials come from LAB_VW_ID and LAB_VW_SECRET, set here; `recovery` is the file's recovery section.
    """
    creds = box.credentials["vaultwarden"]
    monkeypatch.setenv("LAB_VW_ID", creds["client_id"])
    monkeypatch.setenv("LAB_VW_SECRET", creds["client_secret"])
    env: dict[str, Any] = {
        "name": "lab",
        "kind": "deployment",
        "credential_source": {"type": "env"},
        "hosts": {"infra-core": host},
    }
    if recovery is not None:
        env["recovery"] = recovery
    env["systems"] = {
        "vaultwarden": {
            "base_url": box.base_urls["vaultwarden"],
            "credentials": {"client_id": {"env": "LAB_VW_ID"}, "client_secret": {"env": "LAB_VW_SECRET"}},
        }
    }
    return write_env(project, env)
