"""Secrets gate part: D55's scan that no code path of the suite prints or logs a secret-looking value."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from infracore_verify.contracts.findings import SENSITIVE_KEY, Finding
from infracore_verify.contracts.sets import CHECKOUT_ROOT, PACKAGE_DIR
from infracore_verify.gates.checks.base import ContractView, native_gate

CHECKOUT_LAYERS = ("fixtures", "smoke", "recovery", "gates")
"""The checkout's thin test layers, scanned beside the package (tests plant fake secrets on purpose: not scanned)."""


def scanned_files() -> Iterator[tuple[Path, str]]:
    """Yield (path, display) for the installed package's modules and, in a checkout, its test layers."""
    base = PACKAGE_DIR.parent
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        yield path, str(path.relative_to(base))
    if CHECKOUT_ROOT is not None:
        for folder in CHECKOUT_LAYERS:
            for path in sorted((CHECKOUT_ROOT / folder).rglob("*.py")):
                yield path, str(path.relative_to(CHECKOUT_ROOT))


_LOG_METHODS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "log"}
_ENV_DUMPS = {"environ"}


def _sink(call: ast.Call) -> str | None:
    """Return what kind of output a call writes to (print, log, stream), or None."""
    func = call.func
    if isinstance(func, ast.Name) and func.id == "print":
        return "print"
    if isinstance(func, ast.Attribute):
        if func.attr in _LOG_METHODS and isinstance(func.value, ast.Name) and "log" in func.value.id.lower():
            return "log"
        if func.attr == "write" and isinstance(func.value, ast.Attribute) and func.value.attr in ("stdout", "stderr"):
            return "stream"
    return None


def _secret_names(node: ast.AST) -> list[str]:
    names = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            name = sub.id
        elif isinstance(sub, ast.Attribute):
            name = sub.attr
        else:
            continue
        if SENSITIVE_KEY.search(name) or name in _ENV_DUMPS:
            names.append(name)
    return names


def scan_source(path: Path, display: str) -> Iterator[Finding]:
    """Yield a finding for each print/log/stream write whose arguments reference a secret-looking name."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, ValueError) as exc:
        yield Finding(display, 0, "", f"cannot be scanned ({exc})", "fix the file")
        return
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        sink = _sink(node)
        if sink is None:
            continue
        names = [n for arg in (*node.args, *(k.value for k in node.keywords)) for n in _secret_names(arg)]
        if names:
            yield Finding(
                display,
                node.lineno,
                "",
                f"{sink} call writes the secret-looking value '{names[0]}'",
                "write a masked form (REDACTOR.mask) or nothing; never the value",
            )


@native_gate("D55", reads=())
def check_no_secret_output(c: ContractView) -> Iterator[Finding]:
    """Checks that no code path of the suite prints or logs a secret-looking variable (D20's pattern scan, on the AST)."""
    for path, display in scanned_files():
        yield from scan_source(path, display)
