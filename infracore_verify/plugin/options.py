"""The core command-line options and ini values of the `infra-core verification` group.

It also repairs `--contracts PATH` (space form): pytest chooses its rootdir and configuration file before it
loads plugins, so it takes PATH for a test path there. When that PATH led it elsewhere, pytest is run again
with `--contracts=PATH`, which it reads the same way, only without the confusion.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from infracore_verify.reporting import allure as report


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the suite's options in one group, with ini twins where they make sense."""
    group = parser.getgroup("infracore-verify", "infra-core verification")
    group.addoption("--contracts", metavar="PATH", help="Contract set: a contracts directory or an ops repository root")
    group.addoption(
        "--gate",
        action="append",
        default=[],
        metavar="ID",
        help="Run only these gates (repeatable, comma lists allowed)",
    )
    group.addoption("--profile", choices=("fast", "domain", "release"), help="Run a verify profile the ops way")
    group.addoption("--domain", metavar="NAME", help="Domain for --profile domain (implies it)")
    group.addoption("--list-gates", action="store_true", help="Print the gate table and exit")
    group.addoption("--env", metavar="NAME", help="Target environment from contracts/environments (default: sandbox)")
    group.addoption("--reports-dir", metavar="DIR", help="Where receipts go (default: reports)")
    group.addoption(
        "--gate-hang-guard",
        metavar="SECONDS",
        help="Stop a single gate as hung after this many seconds (default 300; reported as failure class timeout)",
    )
    group.addoption(
        "--budget-blocking",
        action="store_true",
        default=None,
        help="Fail the run when it exceeds its ring budget",
    )
    parser.addini(
        "infracore_runbook_url",
        "Runbook link pattern; {id} is the gate, probe or recovery action id (default: docs/runbook.md#{id})",
        default="",
    )
    parser.addini(
        "infracore_gap_url",
        f"Operational gap link pattern; {{id}} is the gap id (default: {report.DEFAULT_GAP_URL})",
        default="",
    )
    parser.addini("infracore_contracts", "Contract set used when --contracts is not given", default="")
    parser.addini("infracore_env", "Target environment used when --env is not given", default="")
    parser.addini("infracore_reports_dir", "Where receipts go", default="reports")
    parser.addini(
        "infracore_gate_hang_guard",
        "Seconds after which a single gate is stopped as hung (default 300)",
        default="",
    )
    parser.addini(
        "infracore_budget_blocking",
        "Fail the run when it exceeds its ring budget",
        type="bool",
        default=False,
    )


PATH_OPTIONS = ("--contracts", "--reports-dir", "--recovery-ledger")
"""The plugin's path-valued options: with a space, pytest takes their value for a test path when it picks its rootdir."""
REEXEC_ENV = "INFRACORE_VERIFY_REEXEC"
"""Set in the re-run process, so that it never runs itself again."""


def _misleading(args: list[str], invocation_dir: Path, inipath: Path | None) -> list[int]:
    """Return the indexes of `--option PATH` pairs whose PATH pytest may have used to pick the rootdir."""
    found = []
    for index, arg in enumerate(args[:-1]):
        if arg == "--":
            break
        if arg not in PATH_OPTIONS:
            continue
        value = Path(invocation_dir, args[index + 1]).resolve()
        if not value.exists():
            continue  # pytest ignores paths that do not exist when it picks the rootdir
        outside = not value.is_relative_to(invocation_dir.resolve())
        ini_from_value = inipath is not None and inipath.resolve().is_relative_to(value)
        if outside or ini_from_value:
            found.append(index)
    return found


def joined(args: list[str], indexes: list[int]) -> list[str]:
    """Return `args` with each `--option PATH` pair at `indexes` written as `--option=PATH`."""
    out: list[str] = []
    skip = False
    for index, arg in enumerate(args):
        if skip:
            skip = False
        elif index in indexes:
            out.append(f"{arg}={args[index + 1]}")
            skip = True
        else:
            out.append(arg)
    return out


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """Run pytest again with `--contracts=PATH` when `--contracts PATH` made pytest pick its rootdir from PATH."""
    rerun = os.environ.pop(REEXEC_ENV, None)  # not inherited by what this run starts (pytester, subprocesses)
    indexes = _misleading(args, early_config.invocation_params.dir, early_config.inipath)
    if not indexes:
        return
    argv = sys.argv[1:]
    tail = len(args) - len(argv)
    spelled = ", ".join(f"{args[i]}={args[i + 1]}" for i in indexes)
    # Only the process's own command line can be run again (not pytest.main's arguments, nor PYTEST_ADDOPTS).
    own_command = len(sys.orig_argv) >= len(sys.argv) and sys.orig_argv[len(sys.orig_argv) - len(argv) :] == argv
    if tail < 0 or args[tail:] != argv or min(indexes) < tail or not own_command or rerun:
        raise pytest.UsageError(
            f"{spelled.replace('=', ' ', 1)}: pytest took the path for a test path when it chose its rootdir and "
            f"configuration (it reads them before loading plugins); write {spelled}"
        )
    command = [*sys.orig_argv[: len(sys.orig_argv) - len(sys.argv) + 1], *joined(argv, [i - tail for i in indexes])]
    capture = early_config.pluginmanager.getplugin("capturemanager")
    if capture is not None:  # give the new process the real stdout and stderr, not pytest's capture files
        capture.suspend_global_capture(in_=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os.environ[REEXEC_ENV] = "1"
    os.execv(sys.executable, command)
