"""Secrets gate part: D55's scan that no script prints or logs a secret-looking value.

What is scanned follows the contracts:
- an ops repository (`--contracts <ops root>`): that repository's scripts, shell and Python, below its root
  (the folders D7 ignores are skipped: docs, receipts, mailroom, imports, archives, worktrees);
- the suite layout (the shipped contracts, or a copy of them): the suite's own code, the installed package
  and, in a checkout, its thin test layers.

Python is scanned on the AST (print, log and stream calls whose arguments name a secret-looking value); shell
line by line with the output rules of the ops repository's D20 pattern scan (echo/printf of secret variables,
Authorization or Bearer headers, `client_secret`/`access_token`/`api_key`; printenv, `env |`, `set |`;
verbose curl). An echo whose output is piped on or captured (`printf '%s' "$TOKEN" | cmd`, `$(echo ...)`) is
not output and is not flagged. Findings name the file and the line.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterator
from pathlib import Path

from infracore_verify.contracts.findings import SENSITIVE_KEY, Finding
from infracore_verify.contracts.sets import CHECKOUT_ROOT, PACKAGE_DIR, Contracts
from infracore_verify.gates.checks.base import ContractView, native_gate

CHECKOUT_LAYERS = ("fixtures", "smoke", "recovery", "gates")
"""The checkout's thin test layers, scanned beside the package (tests plant fake secrets on purpose: not scanned)."""
REPO_SKIPPED = frozenset(
    {".git", ".spine", ".archive", ".worktrees", "_imports", "docs", "receipts", "mailroom", "node_modules"}
    | {"__pycache__", ".venv", "venv", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
)
"""Folders of an ops repository that hold no scripts of its own (D7's ignore list, plus tool caches)."""
SHELL_SUFFIXES = (".sh", ".bash")
_SHEBANG = re.compile(rb"^#!\s*\S*(?:/|\benv\s+)(?:ba|da|z|k)?sh\b")


def scanned_files() -> Iterator[tuple[Path, str]]:
    """Yield (path, display) for the installed package's modules and, in a checkout, its test layers."""
    base = PACKAGE_DIR.parent
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        yield path, str(path.relative_to(base))
    if CHECKOUT_ROOT is not None:
        for folder in CHECKOUT_LAYERS:
            for path in sorted((CHECKOUT_ROOT / folder).rglob("*.py")):
                yield path, str(path.relative_to(CHECKOUT_ROOT))


def _is_shell(path: Path) -> bool:
    if path.suffix in SHELL_SUFFIXES:
        return True
    if path.suffix:
        return False
    try:
        with path.open("rb") as fh:
            return bool(_SHEBANG.match(fh.readline(200)))
    except OSError:
        return False


def repository_scripts(contracts: Contracts) -> Iterator[tuple[Path, str, str]]:
    """Yield (path, display, kind) for the shell and Python scripts of an ops repository, in path order."""
    root = contracts.root
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in REPO_SKIPPED)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                continue
            kind = "python" if name.endswith(".py") else "shell" if _is_shell(path) else ""
            if kind:
                yield path, contracts.display(path), kind


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


# --- shell ------------------------------------------------------------------------------------------------

_ECHO = re.compile(r"(?:^|[\s;&({`])(echo|printf)\b")
_SHELL_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_SECRET_WORDS = re.compile(r"\b(Authorization|Bearer|client_secret|access_token|api_key)\b", re.IGNORECASE)
_ENV_DUMP = re.compile(r"(?:^|[\s;&|(])(printenv\s*(?:$|[|;&>)])|(?:env|set)\s*\|(?!\|))")
_VERBOSE_CURL = re.compile(r"\bcurl\b.*?\s(--verbose|-[A-Za-z]*v[A-Za-z]*)(?=\s|$)")
_SHELL_FIX = "print a masked form or nothing; hand a secret to the command that needs it (printf '%s' \"$X\" | cmd)"


def _echo_problem(line: str) -> str | None:
    """Return what an echo/printf on this line writes that looks secret, when its output is not piped on."""
    for match in _ECHO.finditer(line):
        before, rest = line[: match.start(1)], line[match.end(1) :]
        if "$(" in before or before.count("`") % 2:
            continue  # inside a command substitution: captured, not output
        segment = re.split(r"\|\||&&|;", rest, maxsplit=1)[0]
        if re.search(r"\|", segment) or re.search(r"(?<![0-9&])>(?!\s*&)", segment):
            continue  # piped into a command or written to a file: not output
        for var in _SHELL_VAR.findall(segment):
            if SENSITIVE_KEY.search(var) and f"${{#{var}" not in segment:
                return f"{match.group(1)} writes the secret-looking variable '${var}'"
        word = _SECRET_WORDS.search(segment)
        if word:
            return f"{match.group(1)} writes '{word.group(1)}'"
    return None


def scan_shell(path: Path, display: str) -> Iterator[Finding]:
    """Yield a finding for each shell line that writes a secret-looking value or dumps the environment."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        yield Finding(display, 0, "", f"cannot be scanned ({exc})", "fix the file's permissions")
        return
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        problem = _echo_problem(stripped)
        if problem is None and _ENV_DUMP.search(stripped):
            problem = "dumps the whole environment (printenv / env | / set |)"
        curl = _VERBOSE_CURL.search(stripped)
        if problem is None and curl:
            problem = f"verbose curl ({curl.group(1)}) prints request headers, tokens included"
        if problem:
            yield Finding(display, number, "", problem, _SHELL_FIX)


@native_gate("D55", reads=())
def check_no_secret_output(c: ContractView) -> Iterator[Finding]:
    """Checks that no script prints or logs a secret-looking value: an ops repository's shell and Python, else the suite's own code."""
    if c.contracts.layout == "ops":
        for path, display, kind in repository_scripts(c.contracts):
            yield from (scan_source if kind == "python" else scan_shell)(path, display)
        return
    for path, display in scanned_files():
        yield from scan_source(path, display)
