"""mutmut 3.8.1 set-up shared by every Python process of a `make mutate` run (no pytest import here).

- `apply_overrides()`: `tools/mutmut/run.py` passes the module, the tests and the rest of one plan in
  `MUTMUT_OVERRIDES` (JSON); they replace the keys of pyproject's `[tool.mutmut]` in mutmut's config reader, in
  the `mutmut` process itself and in every child, so one pyproject serves every plan.
- `child_setup()`: in a child Python (a pytester subprocess, a CLI run by a test) of a mutmut run, loads mutmut's
  config from the project root before the first trampoline hit (the child's cwd is a tmp dir with no
  `[tool.mutmut]`) and, in stats mode, writes the functions it hit to `$MUTMUT_BRIDGE_DIR/<pid>.json` at exit.

Both run from `sitecustomize` (tools/mutmut is on PYTHONPATH), that is, at interpreter start, before pytest
loads the `pytest11` entry point: the plugin imports `redact.py` at start-up, so a mutated `redact.py` is hit
before any `PYTEST_PLUGINS` module could load the config. Both are idempotent and inert outside a mutmut run.
"""

from __future__ import annotations

import atexit
import json
import os
from pathlib import Path
from typing import Any

OVERRIDES = "MUTMUT_OVERRIDES"
BRIDGE_DIR = "MUTMUT_BRIDGE_DIR"
BRIDGE_ROOT = "MUTMUT_BRIDGE_ROOT"
_done: set[str] = set()


def mode() -> str:
    """The mutmut phase this process runs in ("stats", a mutant name, ...), "" outside a mutmut run."""
    return os.environ.get("MUTANT_UNDER_TEST", "")


def apply_overrides() -> None:
    """Make mutmut's config reader answer the plan's keys first (`MUTMUT_OVERRIDES`), then pyproject's."""
    raw = os.environ.get(OVERRIDES)
    if not raw or "overrides" in _done:
        return
    _done.add("overrides")
    overrides: dict[str, Any] = json.loads(raw)
    import mutmut.configuration as configuration

    original = configuration._config_reader

    def reader() -> Any:
        base = original()

        def read(key: str, default: Any) -> Any:
            return overrides[key] if key in overrides else base(key, default)

        return read

    configuration._config_reader = reader


def child_setup() -> None:
    """In a child of a mutmut run: load mutmut's config from the root; in stats mode, dump hits at exit."""
    root = os.environ.get(BRIDGE_ROOT)
    if not mode() or not root or "child" in _done:
        return
    _done.add("child")
    apply_overrides()
    from mutmut.configuration import config
    from mutmut.utils.file_utils import change_cwd

    with change_cwd(root):
        config()
    if mode() == "stats" and os.environ.get(BRIDGE_DIR):
        atexit.register(_child_dump)


def _child_dump() -> None:
    from mutmut.state import state

    data = {
        "hits": sorted(state()._stats),
        "deps": {k: sorted(v) for k, v in state().function_dependencies.items()},
    }
    if not data["hits"]:
        return
    path = Path(os.environ[BRIDGE_DIR]) / f"{os.getpid()}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
