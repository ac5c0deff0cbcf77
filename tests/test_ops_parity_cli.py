"""Issue 11: pointing the suite at an ops repository from the checkout, from the repository, from anywhere.

`--contracts PATH` (space form) must behave as `--contracts=PATH` for a path outside the project, and the
`infracore-verify` command must run from any directory (inside an ops repository without naming it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infracore_verify import cli
from infracore_verify.suite import SUITE_DIR
from tests.conftest import gates_project
from tests.ops_repo import make_ops_repo

COMMAND = Path(sys.executable).parent / "infracore-verify"
"""The console script of this venv (the editable install of the checkout)."""


def receipts(where: Path) -> list[dict[str, Any]]:
    """Returns the receipts written below `where`, oldest first."""
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(where.rglob("receipts/*.json"))]


@pytest.mark.parametrize("spelling", ["space", "equals"])
def test_contracts_outside_the_project_in_both_spellings(
    pytester: pytest.Pytester, tmp_path: Path, spelling: str
) -> None:
    """Runs the fast profile against an ops repository outside the project with `--contracts PATH` or `=PATH`.

    pytest's rootdir, configuration and receipts stay the project's; the gates read the ops repository.
    """
    ops = make_ops_repo(tmp_path / "spine")
    gates_project(pytester)
    args = ["--contracts", str(ops)] if spelling == "space" else [f"--contracts={ops}"]
    result = pytester.runpytest_subprocess(*args, "-m", "fast")
    result.assert_outcomes(passed=13)
    result.stdout.fnmatch_lines(
        [f"infracore-verify *: contracts {ops} (ops layout)", f"rootdir: {pytester.path}", "configfile: tox.ini"]
    )
    [receipt] = receipts(pytester.path)
    assert receipt["contracts"] == {**receipt["contracts"], "path": str(ops), "layout": "ops"}
    assert receipt["totals"]["line"] == "total=13 pass=13 fail=0"
    assert not (ops / "reports").exists()
    assert not (ops / ".pytest_cache").exists()


def test_space_form_in_process_names_the_fix(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """Refuses the space form where pytest cannot be run again (in-process), telling to write `--contracts=PATH`."""
    ops = make_ops_repo(tmp_path / "spine")
    gates_project(pytester)
    result = pytester.runpytest("--contracts", str(ops), "-m", "fast")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--contracts {ops}: pytest took the path for a test path*write --contracts={ops}"])


def _command(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INFRACORE_", "PYTEST_"))}
    env["CI"] = ""
    return subprocess.run(
        [str(COMMAND), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_command_inside_an_ops_repository_verifies_it(tmp_path: Path) -> None:
    """Verifies the ops repository it runs in; receipts go below its receipts/, so D1 still passes next time."""
    ops = make_ops_repo(tmp_path / "spine")
    for _ in range(2):
        done = _command("--gate", "D1", cwd=ops)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"contracts {ops} (ops layout)" in done.stdout
        assert "wrapper: total=1 pass=1 fail=0" in done.stdout
    assert len(receipts(ops / "receipts" / "infracore-verify")) == 2
    assert sorted(p.name for p in ops.iterdir()) == ["bin", "docs", "mailroom", "ops", "receipts", "surfaces"]


def test_command_from_any_directory_with_the_space_form(tmp_path: Path) -> None:
    """Runs from an unrelated directory with `--contracts PATH`; the receipt lands in that directory."""
    ops = make_ops_repo(tmp_path / "spine")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = _command("--contracts", str(ops), "--gate", "D12", cwd=elsewhere)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"contracts {ops} (ops layout)" in done.stdout
    assert f"rootdir: {SUITE_DIR}" in done.stdout
    [receipt] = receipts(elsewhere / "reports")
    assert receipt["contracts"]["path"] == str(ops)


def test_command_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Adds the ops repository it stands in only when no contract set is named (option or environment)."""
    monkeypatch.delenv("INFRACORE_CONTRACTS", raising=False)
    ops = make_ops_repo(tmp_path / "spine")
    assert cli.pytest_args(["-m", "fast"], ops) == [str(SUITE_DIR), "-m", "fast", f"--contracts={ops}"]
    assert cli.pytest_args(["--contracts", "x"], ops) == [str(SUITE_DIR), "--contracts", "x"]
    assert cli.pytest_args(["-m", "fast"], tmp_path) == [str(SUITE_DIR), "-m", "fast"]
    monkeypatch.setenv("INFRACORE_CONTRACTS", str(ops))
    assert cli.pytest_args([], ops) == [str(SUITE_DIR)]
