"""The ops repository's inline gates D1, D2 and D4-D12, ported natively (they live inside its drift-gate.sh).

Each is a small check of the repository tree (`SPINE_ROOT`, the root the contracts came from), as
`drift-gate.sh` runs it at release; the suite never runs `drift-gate.sh` itself (it also calls networked
checks). The ports apply only to registry entries marked `inline: true` (`INLINE`, consulted by the engine
after `NATIVE`). The ops repository's WARN is a finding of severity `warning`: reported, never failing the gate.

Two gates check the operator's host rather than the repository. They give an explicit "not applicable on
this host" outcome (`NotApplicableError`, receipt verdict `not-applicable`) with the reason:
- D4 needs launchd (macOS with `launchctl`);
- D11 reads `~/agent`, which is the operator's only when the repository sits in this user's home.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from infracore_verify.contracts.findings import Finding
from infracore_verify.contracts.verdict import NotApplicableError
from infracore_verify.gates.checks.base import CheckFunc, ContractView, NativeCheck

WARNING = "warning"
INLINE: dict[str, NativeCheck] = {}
"""Gate id -> native port; used only for registry entries marked `inline: true` (other registries reuse the ids)."""
ALLOWED_TOP_LEVEL = ("bin", "docs", "fixtures", "infra", "mailroom", "ops", "receipts", "surfaces")
"""D1: the only top-level directories of the repository (hidden ones such as .git are not listed by the ops glob)."""
HOST_PLATFORM = sys.platform
"""This host's platform (D4 applies on macOS only)."""
INBOX_LABEL = "com.ronny.agent-inbox"
"""D4: the launchd service that watches the inbox."""
LEGACY_HOME = re.compile(r"(\$HOME|~)/agent(?![\w-])")
"""D5: a mention of the legacy `$HOME/agent` or `~/agent` (not `~/agentic-spine`)."""
LEGACY_SCAN_DIRS = ("bin", "ops", "ops/runtime/inbox", "surfaces/verify")
LEGACY_EXEMPT = re.compile(
    r"^(foundation-gate\.sh|drift-gate\.sh|cloudflare-drift-gate\.sh|github-actions-gate\.sh"
    r"|d(1[89]|2[0-4])-.*\.sh|gate\.registry\.yaml)$"
)
"""D5: the drift gates themselves and the registry may name the legacy path."""
SCRIPT_HOMES = ("bin", "ops", "surfaces/verify")
"""D7: where `*.sh` files may live."""
SCRIPT_SCAN_IGNORED = frozenset(
    {"_imports", "docs", "receipts", "mailroom", ".git", ".spine", ".archive", ".worktrees"}
)
RECEIPT_STAMPS = ("Run ID", "Generated", "Status", "Model", "Inputs", "Outputs")
"""D9: what the newest session receipt must contain."""


def inline_gate(gate_id: str) -> Callable[[CheckFunc], CheckFunc]:
    """Register `func` as the native port of the inline gate `gate_id` (it reads the tree, no contract)."""

    def register(func: CheckFunc) -> CheckFunc:
        INLINE[gate_id] = NativeCheck(gate_id, func, ())
        return func

    return register


def _root(c: ContractView) -> Path:
    return c.contracts.root


def _where(
    c: ContractView, path: Path, line: int = 0, message: str = "", fix: str = "", severity: str = "error"
) -> Finding:
    return Finding(c.contracts.display(path), line, "", message, fix, severity=severity)


def _sessions(root: Path) -> list[Path]:
    """Return the session directories under receipts/sessions/, newest first (`ls -t`: mtime, then name)."""
    base = root / "receipts" / "sessions"
    if not base.is_dir():
        return []
    dirs = [p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return sorted(dirs, key=lambda p: (-p.stat().st_mtime, p.name))


@inline_gate("D1")
def check_top_level_dirs(c: ContractView) -> Iterator[Finding]:
    """Checks that the repository's only top-level directories are bin, docs, fixtures, infra, mailroom, ops, receipts and surfaces."""
    root = _root(c)
    extra = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    extra = [name for name in extra if name not in ALLOWED_TOP_LEVEL]
    if extra:
        yield _where(
            c,
            root,
            message=f"top-level directories not allowed: {', '.join(extra)}",
            fix=f"move them below one of {', '.join(ALLOWED_TOP_LEVEL)} or remove them",
        )


@inline_gate("D2")
def check_no_runs_dir(c: ContractView) -> Iterator[Finding]:
    """Checks that the repository has no `runs/` directory at its root."""
    runs = _root(c) / "runs"
    if runs.is_dir():
        yield _where(c, runs, message="a runs/ directory exists at the repository root", fix="remove it")


def _host_has_launchd() -> bool:
    return HOST_PLATFORM == "darwin" and shutil.which("launchctl") is not None


@inline_gate("D4")
def check_inbox_watcher(c: ContractView) -> Iterator[Finding]:
    """Checks that the launchd inbox watcher is loaded and running (warns otherwise; not applicable without launchd)."""
    if not _host_has_launchd():
        raise NotApplicableError(
            f"D4 checks the launchd service {INBOX_LABEL}; this host ({HOST_PLATFORM}) has no launchd (launchctl)"
        )
    try:
        done = subprocess.run(
            ["launchctl", "list", INBOX_LABEL], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        done = subprocess.CompletedProcess([], 1, "", str(exc))
    home = Path.home() / "Library" / "LaunchAgents" / f"{INBOX_LABEL}.plist"
    if done.returncode != 0:
        yield _where(
            c,
            home,
            message=f"launchd service {INBOX_LABEL} is not loaded",
            fix=f"launchctl load {home}",
            severity=WARNING,
        )
    elif '"PID"' not in done.stdout:
        yield _where(
            c,
            home,
            message=f"launchd service {INBOX_LABEL} is loaded but not running",
            fix=f"launchctl kickstart gui/{os.getuid()}/{INBOX_LABEL}",
            severity=WARNING,
        )


def _text_lines(path: Path) -> list[str]:
    try:
        raw = path.read_bytes()
    except OSError:
        return []
    if b"\0" in raw[:8192]:
        return []  # binary: grep -I skips it too
    return raw.decode("utf-8", errors="replace").splitlines()


@inline_gate("D5")
def check_no_legacy_coupling(c: ContractView) -> Iterator[Finding]:
    """Checks that no non-comment line in bin/, ops/ or surfaces/verify/ names the legacy `$HOME/agent` or `~/agent`."""
    root = _root(c)
    seen: set[Path] = set()
    for folder in LEGACY_SCAN_DIRS:
        base = root / folder
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if path in seen or not path.is_file() or LEGACY_EXEMPT.match(path.name):
                continue
            seen.add(path)
            for number, line in enumerate(_text_lines(path), start=1):
                match = LEGACY_HOME.search(line)
                if match and not line.lstrip().startswith("#"):
                    yield _where(
                        c,
                        path,
                        number,
                        f"legacy coupling: names '{match.group(0)}'",
                        "use the spine's own paths (SPINE_ROOT / mailroom) instead of the legacy home directory",
                    )


@inline_gate("D6")
def check_session_receipts(c: ContractView) -> Iterator[Finding]:
    """Checks that each of the 5 newest session directories under receipts/sessions/ has a receipt.md."""
    for session in _sessions(_root(c))[:5]:
        if not (session / "receipt.md").is_file():
            yield _where(c, session, message="session has no receipt.md", fix="write the session's receipt.md")


@inline_gate("D7")
def check_scripts_bounded(c: ContractView) -> Iterator[Finding]:
    """Checks that every `*.sh` file lives under bin/, ops/ or surfaces/verify/ (docs, receipts, mailroom and imports ignored)."""
    root = _root(c)
    stray: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SCRIPT_SCAN_IGNORED)
        for name in sorted(filenames):
            if not name.endswith(".sh"):
                continue
            rel = (Path(dirpath) / name).relative_to(root).as_posix()
            if not any(rel.startswith(f"{home}/") for home in SCRIPT_HOMES):
                stray.append(Path(dirpath) / name)
    for path in stray:
        yield _where(
            c, path, message="shell script outside bin/, ops/ and surfaces/verify/", fix="move it there or remove it"
        )


@inline_gate("D8")
def check_no_backup_clutter(c: ContractView) -> Iterator[Finding]:
    """Checks that no file named `*.bak*` or `*fix_bak*` sits directly in bin/ or ops/."""
    for folder in ("bin", "ops"):
        base = _root(c) / folder
        if not base.is_dir():
            continue
        for path in sorted(base.iterdir()):
            if path.is_file() and (".bak" in path.name or "fix_bak" in path.name):
                yield _where(c, path, message="backup file clutter", fix="delete it (git keeps the history)")


@inline_gate("D9")
def check_receipt_stamps(c: ContractView) -> Iterator[Finding]:
    """Checks that the newest session receipt carries Run ID, Generated, Status, Model, Inputs and Outputs (warns when there is none)."""
    root = _root(c)
    receipts = [s / "receipt.md" for s in _sessions(root) if (s / "receipt.md").is_file()]
    if not receipts:
        yield _where(
            c,
            root / "receipts" / "sessions",
            message="no session receipt at all",
            fix="run a session that writes receipts/sessions/<id>/receipt.md",
            severity=WARNING,
        )
        return
    newest = max(receipts, key=lambda p: (p.stat().st_mtime, p.parent.name))
    text = newest.read_text(encoding="utf-8", errors="replace")
    missing = [stamp for stamp in RECEIPT_STAMPS if stamp not in text]
    if missing:
        yield _where(
            c,
            newest,
            message=f"receipt lacks {', '.join(missing)}",
            fix="write every stamp: " + ", ".join(RECEIPT_STAMPS),
        )


@inline_gate("D10")
def check_no_logs_dir(c: ContractView) -> Iterator[Finding]:
    """Checks that the repository has no `logs/` directory at its root (logs belong under mailroom/logs/)."""
    logs = _root(c) / "logs"
    if logs.is_dir():
        yield _where(
            c, logs, message="a logs/ directory exists at the repository root", fix="move it to mailroom/logs/"
        )


@inline_gate("D11")
def check_home_surface(c: ContractView) -> Iterator[Finding]:
    """Checks that `~/agent`, when it exists, is a symlink into agentic-spine/mailroom (not applicable off the operator's home)."""
    home = Path.home()
    root = _root(c).resolve()
    if home.resolve() not in root.parents:
        raise NotApplicableError(
            f"D11 checks the operator's ~/agent; the repository ({root}) is not in this user's home ({home}), "
            "so this host is not the operator's"
        )
    agent = home / "agent"
    if not agent.exists() and not agent.is_symlink():
        return
    if not agent.is_symlink():
        yield _where(
            c, agent, message="~/agent exists and is not a symlink", fix="replace it with a symlink to mailroom"
        )
    elif "agentic-spine/mailroom" not in os.readlink(agent):
        yield _where(
            c,
            agent,
            message=f"~/agent points to {os.readlink(agent)}, not into agentic-spine/mailroom",
            fix="point it at <spine>/mailroom",
        )


@inline_gate("D12")
def check_core_lock(c: ContractView) -> Iterator[Finding]:
    """Checks that docs/core/CORE_LOCK.md exists."""
    lock = _root(c) / "docs" / "core" / "CORE_LOCK.md"
    if not lock.is_file():
        yield _where(c, lock, message="docs/core/CORE_LOCK.md is missing", fix="restore the core lock document")
