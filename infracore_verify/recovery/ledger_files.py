"""The recovery ledger's files: the append-only log, its compacted state file, size rotation and path checks.

Beside `ledger.jsonl` (the log, one JSON object a line) live `ledger.jsonl.lock` (the file lock) and
`ledger.jsonl.state.json` (the compacted state: every action's attempts, last attempt and last result, and
the log position it covers). A decision reads the state file and folds only the log lines written after it,
so its cost grows with the number of actions, not with the history. The state file is a cache: when it is
missing, unreadable or does not match the log (another inode, a shorter log, other bytes before its
offset), the state is rebuilt from the log once.

When an append would take the log over `max_bytes`, the log is renamed to `ledger.jsonl.1` (older ones
shift to `.2` ... `.<keep>`, the oldest is deleted) and the new log starts with a `checkpoint` line holding
the whole state, so no rotation ever loses a cooldown or an attempt count.

A line that cannot be read (torn, not UTF-8, a byte order mark, not JSON, nested too deeply, a number out of
range, not a ledger record) is never skipped: it is kept in `Folded.unreadable`, and the ledger fails closed
until a human repairs or removes it. The state of a log with unreadable lines is always rebuilt.

Exceptions::

    LedgerError                 base of everything the ledger raises on purpose
    ├── LedgerBusyError         the lock was not acquired within lock_timeout
    └── LedgerFileError         a ledger, state or lock path cannot be used (a directory, read-only,
                                unreadable); the message names the path and the fix
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infracore_verify.recovery.ledger_state import action_state_problem, fold, record_problem

STATE_FORMAT = 1
TAIL_BYTES = 256
"""Bytes before the state file's offset whose digest must still match the log (detects a rewritten log)."""
DEFAULT_MAX_BYTES = 8 * 1024 * 1024
DEFAULT_KEEP = 5
PATH_FIX = "point --recovery-ledger (or recovery.ledger in the environment file) at a writable file"


class LedgerError(Exception):
    """Base of the errors the ledger raises on purpose."""


class LedgerBusyError(LedgerError):
    """The ledger lock was not acquired within the lock timeout (another run holds it)."""

    def __init__(self, lock_file: Path, timeout: float) -> None:
        """Name the lock file and the timeout that ran out."""
        self.lock_file = lock_file
        self.timeout = timeout
        super().__init__(
            f"recovery ledger is busy: could not lock {lock_file} within {timeout:g}s; another recovery run "
            "(process, xdist worker or thread) holds it; retry when it has finished, or raise lock_timeout "
            "(recovery.lock_timeout_seconds in the environment file)"
        )


class LedgerFileError(LedgerError):
    """A ledger, state or lock path cannot be used; the message names the path, the problem and the fix."""

    def __init__(self, path: Path, problem: str, fix: str) -> None:
        """Say which path, what is wrong with it and how to fix it."""
        self.path = path
        super().__init__(f"recovery ledger: {path} {problem}; {fix}")


@dataclass
class Folded:
    """The compacted state of a log: per-action state, how far the log was read, and its unreadable lines."""

    actions: dict[str, dict[str, Any]] = field(default_factory=dict)
    offset: int = 0
    lines: int = 0
    device: int = 0
    inode: int = 0
    mtime_ns: int = 0
    tail: str = ""
    unreadable: list[tuple[int, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Return the state file's content."""
        return {
            "format": STATE_FORMAT,
            "log": {
                "device": self.device,
                "inode": self.inode,
                "mtime_ns": self.mtime_ns,
                "offset": self.offset,
                "lines": self.lines,
            },
            "tail_sha256": self.tail,
            "actions": self.actions,
            "unreadable": [{"line": n, "problem": p} for n, p in self.unreadable],
        }


def parse_line(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """Return (record, None) for a usable line, (None, problem) for an unreadable one, (None, None) for a blank."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 (byte {exc.start + 1})"
    if text.startswith("\ufeff"):
        return None, "starts with a UTF-8 byte order mark"
    if not text.strip():
        return None, None
    try:
        record = json.loads(text)
    except RecursionError:
        return None, "nested too deeply to read"
    except json.JSONDecodeError as exc:
        return None, f"not JSON ({exc.msg} at column {exc.colno})"
    except ValueError as exc:  # e.g. an integer longer than Python's digit limit
        return None, f"not JSON ({str(exc)[:80]})"
    try:
        problem = record_problem(record)
    except RecursionError:
        problem = "nested too deeply to read"
    return (None, problem) if problem is not None else (record, None)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class LedgerFiles:
    """Reads, folds, appends to and rotates one ledger log and its state file (the caller holds the lock)."""

    def __init__(self, path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, keep: int = DEFAULT_KEEP) -> None:
        """Use the log at `path`; rotate it past `max_bytes` (0: never), keeping `keep` rotated logs."""
        self.path = path
        self.state_path = path.with_name(path.name + ".state.json")
        self.max_bytes = max_bytes
        self.keep = max(1, keep)
        self.warnings: list[str] = []
        self._reported: set[int] = set()

    # Path checks ---------------------------------------------------------------------------------------

    def check(self, lock_path: Path) -> None:
        """Create the ledger's directory; raise LedgerFileError for a path that cannot be used."""
        parent = self.path.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise LedgerFileError(parent, "is not a directory", PATH_FIX) from None
        except OSError as exc:
            raise LedgerFileError(parent, f"cannot be created ({exc.strerror})", PATH_FIX) from None
        for path, what in (
            (self.path, "the ledger"),
            (lock_path, "its lock file"),
            (self.state_path, "its state file"),
        ):
            if path.is_dir():
                fix = PATH_FIX if path == self.path else f"remove that directory: {what} is a file the ledger creates"
                raise LedgerFileError(path, f"is a directory, not {what}", fix)
        self.check_writable(self.path)

    def check_writable(self, path: Path) -> None:
        """Refuse a file that is marked read-only (no write bit), even for root, which would write it anyway."""
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            return
        except OSError as exc:
            raise LedgerFileError(path, f"cannot be read ({exc.strerror})", PATH_FIX) from None
        if stat.S_ISREG(mode) and not mode & 0o222:
            raise LedgerFileError(
                path,
                f"is read-only (mode {stat.S_IMODE(mode):04o})",
                f"make it writable (chmod u+w {path}) or {PATH_FIX}",
            )

    # Reading -------------------------------------------------------------------------------------------

    def load(self) -> Folded:
        """Return the current state: the state file plus the log lines after it (rebuilt when it does not fit)."""
        folded = self._cached()
        try:
            with self.path.open("rb") as handle:
                info = os.fstat(handle.fileno())
                rebuilt = folded is None or not self._fits(folded, handle, info)
                if folded is None or rebuilt:
                    folded = Folded(device=info.st_dev, inode=info.st_ino, mtime_ns=info.st_mtime_ns)
                handle.seek(folded.offset)
                data = handle.read()
        except FileNotFoundError:
            return Folded()
        except OSError as exc:
            raise LedgerFileError(self.path, f"cannot be read ({exc.strerror})", PATH_FIX) from None
        self._fold_bytes(folded, data)
        if rebuilt and data and not folded.unreadable and folded.offset == info.st_size:
            self.save(folded)  # the next decision starts from here instead of folding the log again
        return folded

    def _cached(self) -> Folded | None:
        """Return the state file's content, or None when it is missing, unreadable or records unreadable lines."""
        try:
            data = json.loads(self.state_path.read_bytes())
        except (OSError, ValueError, RecursionError):
            return None
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT or data.get("unreadable"):
            return None
        log, actions = data.get("log"), data.get("actions")
        if not isinstance(log, dict) or not isinstance(actions, dict):
            return None
        raw = [log.get(k) for k in ("device", "inode", "mtime_ns", "offset", "lines")]
        numbers = [n for n in raw if isinstance(n, int) and not isinstance(n, bool) and n >= 0]
        if len(numbers) != len(raw):
            return None
        if any(action_state_problem(state) is not None for state in actions.values()):
            return None
        device, inode, mtime_ns, offset, lines = numbers
        tail = data.get("tail_sha256")
        return Folded(
            {str(k): dict(v) for k, v in actions.items()}, offset, lines, device, inode, mtime_ns, str(tail or "")
        )

    @staticmethod
    def _fits(folded: Folded, handle: Any, info: os.stat_result) -> bool:
        """Return whether the cached state still describes this log (same file, untouched since, same bytes)."""
        if (info.st_dev, info.st_ino, info.st_mtime_ns) != (folded.device, folded.inode, folded.mtime_ns):
            return False
        if info.st_size != folded.offset:
            return False
        start = max(0, folded.offset - TAIL_BYTES)
        handle.seek(start)
        return bool(_digest(handle.read(folded.offset - start)) == folded.tail)

    def _fold_bytes(self, folded: Folded, data: bytes) -> None:
        """Fold the complete lines of `data` (read at folded.offset); a torn last line is unreadable."""
        pieces = data.split(b"\n")
        for raw in pieces[:-1]:
            folded.lines += 1
            folded.offset += len(raw) + 1
            self._fold_line(folded, raw, folded.lines)
        torn = pieces[-1]
        if torn:
            # Not consumed: the next append starts a new line after it, and the next load reads it again.
            self._unreadable(folded, folded.lines + 1, "torn (no end of line: a write was cut off)")
        self._set_tail(folded)

    def _fold_line(self, folded: Folded, raw: bytes, number: int) -> None:
        record, problem = parse_line(raw)
        if problem is not None:
            self._unreadable(folded, number, problem)
        elif record is not None:
            fold(folded.actions, record)

    def _unreadable(self, folded: Folded, number: int, problem: str) -> None:
        folded.unreadable.append((number, problem))
        # The line's text is left out: a hand edit may have put anything there.
        message = (
            f"{self.path}:{number}: unreadable ledger line: {problem}; recovery is suppressed until it is repaired"
        )
        if number not in self._reported:
            self._reported.add(number)
            self.warnings.append(message)

    def _set_tail(self, folded: Folded) -> None:
        try:
            with self.path.open("rb") as handle:
                start = max(0, folded.offset - TAIL_BYTES)
                handle.seek(start)
                folded.tail = _digest(handle.read(folded.offset - start))
        except OSError:
            folded.tail = ""

    def records(self) -> list[dict[str, Any]]:
        """Return every usable line of the current log in order (reads the whole log: for inspection)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise LedgerFileError(self.path, f"cannot be read ({exc.strerror})", PATH_FIX) from None
        out = []
        for raw in data.split(b"\n"):
            record, _ = parse_line(raw)
            if record is not None:
                out.append(record)
        return out

    # Writing -------------------------------------------------------------------------------------------

    def append(self, folded: Folded, record: Mapping[str, Any], checkpoint: Mapping[str, Any]) -> None:
        """Append one line (write, flush, fsync), rotating first when it would pass max_bytes; update the state."""
        data = (json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
        self.check_writable(self.path)
        try:
            size = self.path.stat().st_size if self.path.exists() else 0
            if self.max_bytes and size and size + len(data) > self.max_bytes and not folded.unreadable:
                self._rotate(folded, checkpoint, size)
            with self.path.open("a+b") as handle:
                handle.seek(0, os.SEEK_END)
                if handle.tell() > 0:
                    handle.seek(-1, os.SEEK_END)
                    # A torn last line (a crash mid-write) must not swallow this record too.
                    if handle.read(1) != b"\n":
                        data = b"\n" + data
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
                info = os.fstat(handle.fileno())
        except LedgerError:
            raise
        except OSError as exc:
            raise LedgerFileError(self.path, f"cannot be written ({exc.strerror})", PATH_FIX) from None
        before = folded.offset
        folded.device, folded.inode, folded.mtime_ns = info.st_dev, info.st_ino, info.st_mtime_ns
        folded.offset = info.st_size - len(data)
        if folded.offset != before or data.startswith(b"\n"):
            # Someone else wrote, or a torn line sits before ours: read it all again from the log.
            rebuilt = Folded(device=info.st_dev, inode=info.st_ino, mtime_ns=info.st_mtime_ns)
            self._fold_bytes(rebuilt, self.path.read_bytes())
            folded.__dict__.update(rebuilt.__dict__)
        else:
            self._fold_bytes(folded, data)
        self.save(folded)

    def save(self, folded: Folded) -> None:
        """Write the state file atomically (a temporary file, fsync, rename); a failure only costs a rebuild."""
        temporary = self.state_path.with_name(self.state_path.name + ".tmp")
        try:
            with temporary.open("w", encoding="utf-8") as handle:
                json.dump(folded.to_json(), handle, allow_nan=False)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.state_path)
        except OSError as exc:
            message = f"{self.state_path}: the state file was not written ({exc.strerror}); the next run rebuilds it"
            if message not in self.warnings:
                self.warnings.append(message)

    def rotated(self, number: int) -> Path:
        """Return the path of rotated log `number` (1 is the newest)."""
        return self.path.with_name(f"{self.path.name}.{number}")

    def _rotate(self, folded: Folded, checkpoint: Mapping[str, Any], size: int) -> None:
        """Move the log to .1 (older ones shift, the oldest is deleted) and start it again with a checkpoint."""
        self.rotated(self.keep).unlink(missing_ok=True)
        for number in range(self.keep - 1, 0, -1):
            if self.rotated(number).exists():
                os.replace(self.rotated(number), self.rotated(number + 1))
        os.replace(self.path, self.rotated(1))
        line = {
            **checkpoint,
            "state": folded.actions,
            "detail": f"log rotated at {size} bytes to {self.rotated(1).name}; this line carries the state",
        }
        data = (json.dumps(line, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
        with self.path.open("xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            info = os.fstat(handle.fileno())
        _fsync_dir(self.path.parent)
        folded.device, folded.inode, folded.offset, folded.lines = info.st_dev, info.st_ino, len(data), 1


def _fsync_dir(directory: Path) -> None:
    """Make renames in `directory` durable (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
