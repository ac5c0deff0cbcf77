"""Gate scripts: locating, vetting and running a registry gate's `check_script` from the repository root."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from infracore_verify.redact import HiddenEnviron, child_environ

MAX_OUTPUT_CHARS = 200_000
"""Script output kept for the report; the rest is cut (the tail, where failures are printed, is kept)."""


@dataclass(frozen=True)
class ScriptRun:
    """What one script run did: exit code, combined output, duration, and whether it timed out."""

    returncode: int
    output: str
    seconds: float
    timed_out: bool


def script_path(root: Path, check_script: str) -> Path:
    """Return the absolute path of a `check_script`, which is relative to the repository root."""
    path = Path(check_script)
    return path if path.is_absolute() else root / path


def script_problem(root: Path, check_script: str) -> tuple[str, str] | None:
    """Return (what is wrong, fix) when the script cannot run, else None."""
    path = script_path(root, check_script)
    if not path.is_file():
        return f"check_script '{check_script}' does not exist", f"create {path} or fix check_script"
    if not os.access(path, os.X_OK):
        return f"check_script '{check_script}' is not executable", f"run: chmod +x {check_script}"
    return None


def has_triage_line(root: Path, check_script: str) -> bool:
    """Return True when the script has a `# TRIAGE:` line (the ops repository's fix-hint convention)."""
    try:
        with script_path(root, check_script).open(encoding="utf-8", errors="replace") as fh:
            return any(line.startswith("# TRIAGE:") for line in fh)
    except OSError:
        return False


TOOLS = ("yq", "rg", "jq")
"""Tools the ops repository's gate scripts call; a script that names one is checked for it before it runs."""
TOOL_PROBE_SECONDS = 5.0
_TOOL_WORD = {tool: re.compile(rf"(?<![\w./-]){tool}(?![\w.-])") for tool in TOOLS}
_YQ_V4 = re.compile(r"mikefarah.*\bversion v?4\.|\bversion v?4\..*mikefarah", re.IGNORECASE)
_TOOL_MESSAGE = re.compile(r"tool (\S+) missing or incompatible \(found: (.*?)\)(?=;| \[|$)", re.MULTILINE)


def tools_needed(root: Path, check_script: str) -> tuple[str, ...]:
    """Return the tools of TOOLS that a script calls (a word on a line that is not a comment)."""
    try:
        text = script_path(root, check_script).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ()
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    return tuple(tool for tool in TOOLS if _TOOL_WORD[tool].search(code))


@lru_cache(maxsize=32)
def _probe(tool: str, executable: str, mtime_ns: int) -> tuple[bool, str]:
    """Run `<tool> --version` once per executable (and version of it) per process: (usable, what was found)."""
    try:
        proc = subprocess.run(
            [executable, "--version"],
            capture_output=True,
            text=True,
            timeout=TOOL_PROBE_SECONDS,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"{executable} ({type(exc).__name__})"
    first = next((line.strip() for line in (proc.stdout + proc.stderr).splitlines() if line.strip()), "no output")
    if proc.returncode != 0:
        return False, f"{first} (exit {proc.returncode})"
    # Debian and Ubuntu install a jq wrapper of the same name (kislyuk yq); the gates need mikefarah's v4.
    return (tool != "yq" or bool(_YQ_V4.search(proc.stdout + proc.stderr))), first


def probe_tool(tool: str) -> tuple[bool, str]:
    """Return (usable, what was found) for a tool on PATH; cached per executable for the run."""
    executable = shutil.which(tool)
    if executable is None:
        return False, "none"
    try:
        mtime_ns = os.stat(executable).st_mtime_ns
    except OSError:
        mtime_ns = 0
    return _probe(tool, executable, mtime_ns)


def tool_problem(root: Path, check_script: str) -> str | None:
    """Return `tool <name> missing or incompatible (found: ...)` for each unusable tool the script needs, else None."""
    problems = []
    for tool in tools_needed(root, check_script):
        usable, found = probe_tool(tool)
        if not usable:
            wanted = "mikefarah yq v4" if tool == "yq" else tool
            problems.append(f"tool {tool} missing or incompatible (found: {found}); install {wanted}")
    return "; ".join(problems) or None


def missing_tools(rows: Iterable[tuple[str, str]]) -> dict[str, tuple[str, list[str]]]:
    """Return tool -> (what was found, gate ids) from failing gates' (id, message) rows: one entry per tool."""
    out: dict[str, tuple[str, list[str]]] = {}
    for gate_id, message in rows:
        for tool, found in _TOOL_MESSAGE.findall(message):
            out.setdefault(tool, (found, []))[1].append(gate_id)
    return out


def run_script(root: Path, check_script: str, timeout: float) -> ScriptRun:
    """Run `bash <script>` from `root` with SPINE_ROOT set; kill its whole process group on timeout."""
    started = time.monotonic()
    with subprocess.Popen(
        ["bash", str(script_path(root, check_script))],
        cwd=root,
        env=child_environ(HiddenEnviron({"SPINE_ROOT": str(root)})),  # no frame holds a copy of os.environ
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    ) as proc:
        try:
            out, _ = proc.communicate(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            timed_out = True
    text = out.decode("utf-8", errors="replace")
    if len(text) > MAX_OUTPUT_CHARS:
        text = f"[... {len(text) - MAX_OUTPUT_CHARS} characters cut ...]\n" + text[-MAX_OUTPUT_CHARS:]
    return ScriptRun(proc.returncode if not timed_out else -9, text, time.monotonic() - started, timed_out)
