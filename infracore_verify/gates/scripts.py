"""Gate scripts: locating, vetting and running a registry gate's `check_script` from the repository root."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

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


def run_script(root: Path, check_script: str, timeout: float) -> ScriptRun:
    """Run `bash <script>` from `root` with SPINE_ROOT set; kill its whole process group on timeout."""
    env = {**os.environ, "SPINE_ROOT": str(root)}
    started = time.monotonic()
    with subprocess.Popen(
        ["bash", str(script_path(root, check_script))],
        cwd=root,
        env=env,
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
