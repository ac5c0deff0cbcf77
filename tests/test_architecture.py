"""The package's shape: dependencies point one way, pytest-free layers stay so, modules stay small."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import infracore_verify

PACKAGE = Path(infracore_verify.__file__).resolve().parent
LAYERS = ("redact", "contracts", "clients", "sandbox", "smoke", "gates", "recovery", "reporting", "plugin", "suite")
ALLOWED: dict[str, set[str]] = {
    "redact": set(),
    "contracts": set(),
    "clients": {"contracts", "redact"},
    "sandbox": {"contracts", "redact"},
    "smoke": {"clients", "contracts", "redact"},
    "gates": {"contracts", "smoke", "redact"},
    "recovery": {"contracts", "clients", "redact"},
    "reporting": {"contracts", "clients", "gates", "smoke", "recovery", "redact"},
    "plugin": set(LAYERS),
    "suite": set(LAYERS),
}
"""Sub-package -> the sub-packages it may import: contracts <- gates/smoke/recovery <- reporting <- plugin."""
PYTEST_FREE = ("redact", "contracts", "clients", "sandbox", "smoke", "gates", "recovery")
"""Layers usable without pytest (the clients and the sandbox above all; the engine too)."""
MAX_LINES = 500

_PROBE = """
import importlib, json, pkgutil, sys
name = sys.argv[1]
module = importlib.import_module(name)
for info in pkgutil.walk_packages(getattr(module, "__path__", []), name + "."):
    importlib.import_module(info.name)
print(json.dumps(sorted(sys.modules)))
"""


def imported_by(layer: str) -> list[str]:
    """Return every module a fresh interpreter holds after importing all modules of `infracore_verify.<layer>`."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, f"infracore_verify.{layer}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


@pytest.mark.parametrize("layer", LAYERS)
def test_imports_point_one_way(layer: str) -> None:
    """Imports only the sub-packages its layer may depend on (checked in a fresh interpreter)."""
    modules = imported_by(layer)
    used = {m.split(".")[1] for m in modules if m.startswith("infracore_verify.")} - {layer}
    assert sorted(used - ALLOWED[layer]) == [], f"infracore_verify.{layer} imports layers above it"
    if layer in PYTEST_FREE:
        assert not {"pytest", "_pytest"} & set(modules), f"infracore_verify.{layer} imports pytest"


def test_every_layer_is_listed() -> None:
    """Keeps the rule complete: every sub-package of infracore_verify has an entry in LAYERS."""
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert packages == set(LAYERS) - {"redact"}
    assert {p.stem for p in PACKAGE.glob("*.py")} == {"__init__", "redact", "cli"}


def test_no_module_is_over_500_lines() -> None:
    """Keeps every module of the package under 500 lines."""
    long = {
        str(path.relative_to(PACKAGE)): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_public_api_is_named_and_lazy() -> None:
    """Names the public API in infracore_verify.__all__ and imports each name only when asked."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, infracore_verify as iv; before = len([m for m in sys.modules if m.startswith('infracore_verify.')]);"
            "[getattr(iv, n) for n in iv.__all__]; print(before)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"
    assert {"Contracts", "Sandbox", "Engine", "CloudflareClient", "Receipt", "__version__"} <= set(
        infracore_verify.__all__
    )
