"""The `infracore-verify` command: pytest on the embedded test layer, from any directory.

- The plugin is registered before pytest reads the command line, so `--contracts PATH` (space form) and every
  other option of the plugin parse as options, never as test paths.
- pytest takes its settings from the embedded layer's own `pytest.ini` (strict markers, no cache folder), not
  from whatever configuration the current directory has; receipts go below the current directory
  (`reports/`, or `receipts/infracore-verify/` inside an ops repository, whose top level D1 guards).
- Run inside an ops repository root (`ops/bindings/gate.registry.yaml` present) without `--contracts` or
  `INFRACORE_CONTRACTS`, it verifies that repository: `cd ~/code/agentic-spine && infracore-verify -m fast`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from infracore_verify.suite import SUITE_DIR

PLUGIN = "infracore_verify.plugin"
"""The pytest11 entry point's name: registered up front, so the entry point does not load it twice."""


def is_ops_root(path: Path) -> bool:
    """Return True when `path` is an ops repository root."""
    return (path / "ops" / "bindings" / "gate.registry.yaml").is_file()


def contracts_given(args: Sequence[str]) -> bool:
    """Return True when the command line or the environment names a contract set."""
    if os.environ.get("INFRACORE_CONTRACTS"):
        return True
    return any(arg == "--contracts" or arg.startswith("--contracts=") for arg in args)


def pytest_args(args: Sequence[str], cwd: Path) -> list[str]:
    """Return pytest's arguments: the embedded layer, the user's arguments, and the ops repository it stands in."""
    out = [str(SUITE_DIR), *args]
    if not contracts_given(args) and is_ops_root(cwd):
        out.append(f"--contracts={cwd}")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run the embedded gates, probes and recovery tests with pytest's options (`infracore-verify -m fast`)."""
    args = list(sys.argv[1:] if argv is None else argv)
    return int(pytest.main(pytest_args(args, Path.cwd()), plugins=[PLUGIN]))


if __name__ == "__main__":
    raise SystemExit(main())
