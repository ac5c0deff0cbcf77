"""pytest plugin for `make mutate`: carries mutmut 3 stats out of pytester/`subprocess` pytest runs.

Loaded through PYTEST_PLUGINS=mutmut_bridge (with tools/ on PYTHONPATH), so both mutmut's in-process
pytest (the parent) and every child pytest it spawns load it. Inert unless MUTANT_UNDER_TEST is set.

- child, any mutmut mode: `mutmut_child.child_setup()` (run by tools/mutmut/sitecustomize.py at interpreter
  start) loads mutmut's config from the project root and, in stats mode, writes the functions the child hit
  to $MUTMUT_BRIDGE_DIR/<pid>.json at exit;
- parent, stats mode: before mutmut's own teardown hook, folds those files into the current test's hits.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import mutmut_child
import pytest

_parent_dir: Path | None = None


def _mode() -> str:
    return mutmut_child.mode()


def pytest_configure(config: pytest.Config) -> None:
    global _parent_dir
    if _mode() == "stats" and mutmut_child.BRIDGE_DIR not in os.environ and _parent_dir is None:
        # mutmut's own in-process pytest: the parent of any child pytest
        _parent_dir = Path(tempfile.mkdtemp(prefix="mutmut-bridge-"))
        os.environ[mutmut_child.BRIDGE_DIR] = str(_parent_dir)


# normally done by sitecustomize already (idempotent); kept for runs without it on the path
mutmut_child.child_setup()


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
