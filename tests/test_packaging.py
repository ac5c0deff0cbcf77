"""`pip install .` (not editable) into a fresh venv: the plugin, the embedded contracts and the command.

The wheel is built from a copy of the checkout's packaged files and installed without its dependencies,
which the fresh venv borrows from this one through a path file (no package index is needed). Every run
happens in an empty directory outside the checkout, as a new user would run it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from infracore_verify.contracts.sets import CHECKOUT_ROOT

pytestmark = pytest.mark.timeout(600)
PACKAGED = ("pyproject.toml", "README.md", "infracore_verify", "contracts")
"""What a wheel build needs from the checkout (`infracore_verify/contracts/bundled` links to contracts/)."""


@dataclass(frozen=True)
class Installed:
    """A fresh venv with the wheel installed, and an empty directory to run in."""

    venv: Path
    workdir: Path

    def run(self, *args: str, tool: str = "python", timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run a tool of the venv in the empty directory (no INFRACORE_* variables, no PYTHONPATH)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("INFRACORE_", "PYTEST_", "PYTHON"))}
        env["CI"] = ""
        return subprocess.run(
            [str(self.venv / "bin" / tool), *args],
            cwd=self.workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def pytest(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run pytest of the venv in the empty directory."""
        return self.run("-m", "pytest", "-p", "no:cacheprovider", *args)


def _copy_packaged(target: Path) -> None:
    assert CHECKOUT_ROOT is not None, "the packaging test builds from the checkout"
    for name in PACKAGED:
        source = CHECKOUT_ROOT / name
        if source.is_dir():
            shutil.copytree(
                source, target / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
            )
        else:
            shutil.copy(source, target / name)


def _build_wheel(source: Path, out: Path) -> Path:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = out.glob("infracore_verify-*.whl")
    return wheel


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """Builds the wheel, installs it into a fresh venv and yields it with an empty working directory."""
    root = tmp_path_factory.mktemp("packaging")
    source = root / "source"
    source.mkdir()
    _copy_packaged(source)
    wheel = _build_wheel(source, root / "dist")
    target = root / "venv"
    venv.EnvBuilder(with_pip=True).create(target)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(target), "platbase": str(target)}))
    # The dependencies come from this venv; the path entry does not run its .pth files (no editable finder).
    (site / "borrowed-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    done = subprocess.run(
        [str(target / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    workdir = root / "empty"
    workdir.mkdir()
    return Installed(target, workdir)


def _output(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout + done.stderr


def _receipts(workdir: Path) -> Sequence[Path]:
    return sorted((workdir / "reports" / "receipts").glob("*.json"))


def test_no_top_level_fixtures_package(installed: Installed) -> None:
    """Installs no top-level `fixtures` package (that name is testing-cabal's on PyPI)."""
    done = installed.run("-c", "import fixtures")
    assert done.returncode != 0
    assert "No module named 'fixtures'" in done.stderr
    listed = installed.run(
        "-c", "import infracore_verify, pathlib; print(pathlib.Path(infracore_verify.__file__).parent)"
    )
    assert "site-packages" in listed.stdout


def test_help_lists_the_option_group_outside_the_checkout(installed: Installed) -> None:
    """Lists the `infra-core verification` options in pytest --help from a directory outside the checkout."""
    done = installed.pytest("--help")
    assert done.returncode == 0, _output(done)
    assert "infra-core verification:" in done.stdout
    assert "--contracts=PATH" in done.stdout


def test_list_gates_from_an_empty_directory(installed: Installed) -> None:
    """Lists the embedded gates from an empty directory, read from the package data."""
    done = installed.pytest("--list-gates")
    assert done.returncode == 0, _output(done)
    assert "D320" in done.stdout
    assert "D127" in done.stdout


def test_fast_profile_runs_from_an_empty_directory(installed: Installed) -> None:
    """Runs `pytest -m fast` on the embedded contracts from an empty directory; the receipt lands there."""
    before = set(_receipts(installed.workdir))
    done = installed.pytest("-m", "fast")
    assert done.returncode == 0, _output(done)
    assert "wrapper: total=13 pass=13 fail=0" in done.stdout
    assert "environment: sandbox: built-in sandbox emulation on 127.0.0.1 (not real infrastructure)" in done.stdout
    (receipt,) = set(_receipts(installed.workdir)) - before
    data = json.loads(receipt.read_text(encoding="utf-8"))
    assert "site-packages" in data["contracts"]["path"]
    assert data["totals"]["line"] == "total=13 pass=13 fail=0"


def test_console_script_runs_the_embedded_suite(installed: Installed) -> None:
    """Runs the gates through the `infracore-verify` command, pytest's options passed through."""
    done = installed.run("--gate", "D320", tool="infracore-verify")
    assert done.returncode == 0, _output(done)
    assert "wrapper: total=1 pass=1 fail=0" in done.stdout
    assert "configfile: pytest.ini" in done.stdout  # the embedded layer's own settings ship in the wheel
    assert sorted(p.name for p in (installed.workdir / "reports" / "receipts").glob("*.json"))


def test_a_project_with_tests_of_its_own_is_left_alone(installed: Installed, tmp_path: Path) -> None:
    """Collects a project's own tests, not the embedded layer, when the directory has test files."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_mine.py").write_text("def test_mine():\n    pass\n")
    done = subprocess.run(
        [str(installed.venv / "bin" / "python"), "-m", "pytest", "-p", "no:cacheprovider", "-q"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, _output(done)
    assert "1 passed" in done.stdout
    assert not (project / "reports").exists()
