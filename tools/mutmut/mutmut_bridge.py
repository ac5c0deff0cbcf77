"""pytest plugin for `make mutate`: carries mutmut 3 stats out of pytester/`subprocess` pytest runs.

Loaded through PYTEST_PLUGINS=mutmut_bridge (with tools/ on PYTHONPATH), so both mutmut's in-process
pytest (the parent) and every child pytest it spawns load it. Inert unless MUTANT_UNDER_TEST is set.

- child, any mutmut mode: loads mutmut's config from the project root (the child's cwd is a pytester
  tmp dir with no [tool.mutmut], where mutmut's config loader would raise on the first trampoline hit);
- child, stats mode: at exit, writes the functions it hit to $MUTMUT_BRIDGE_DIR/<pid>.json;
- parent, stats mode: before mutmut's own teardown hook, folds those files into the current test's hits.
"""

from __future__ import annotations

import atexit
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

_DIR = "MUTMUT_BRIDGE_DIR"
_ROOT = "MUTMUT_BRIDGE_ROOT"
_parent_dir: Path | None = None


def _mode() -> str:
    return os.environ.get("MUTANT_UNDER_TEST", "")


def _child_setup() -> None:
    """Runs at import, before any plugin's pytest_configure can hit a trampoline."""
    root = os.environ.get(_ROOT)
    if not _mode() or not root:
        return
    from mutmut.configuration import config
    from mutmut.utils.file_utils import change_cwd

    with change_cwd(root):
        config()
    if _mode() == "stats" and os.environ.get(_DIR):
        atexit.register(_child_dump)


def _child_dump() -> None:
    from mutmut.state import state

    data = {
        "hits": sorted(state()._stats),
        "deps": {k: sorted(v) for k, v in state().function_dependencies.items()},
    }
    path = Path(os.environ[_DIR]) / f"{os.getpid()}.json"
    path.write_text(json.dumps(data), encoding="utf-8")


def pytest_configure(config: pytest.Config) -> None:
    global _parent_dir
    if _mode() == "stats" and _DIR not in os.environ and _parent_dir is None:
        # mutmut's own in-process pytest: the parent of any child pytest
        _parent_dir = Path(tempfile.mkdtemp(prefix="mutmut-bridge-"))
        os.environ[_DIR] = str(_parent_dir)


_child_setup()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: Any) -> None:
    if _parent_dir is None:
        return
    from mutmut.state import state

    for path in sorted(_parent_dir.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        state()._stats.update(data["hits"])
        for name, callers in data["deps"].items():
            state().function_dependencies[name].update(callers)
        path.unlink()
