"""Run keys and run receipts: one JSON file per run under `reports/receipts/<run key>.json`."""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import string
import subprocess
from pathlib import Path
from typing import Any

from infracore_verify.redact import REDACTOR

RUN_KEY_RE = re.compile(r"^CAP-\d{8}-\d{6}__([a-z0-9._-]+)__R([a-z0-9]+)$")
_ALPHABET = string.ascii_lowercase + string.digits


def new_run_key(capability: str = "verify.run", now: dt.datetime | None = None) -> str:
    """Return `CAP-<UTC YYYYmmdd-HHMMSS>__<capability>__R<10 random [a-z0-9]>` (CSPRNG suffix)."""
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%d-%H%M%S")
    suffix = "".join(secrets.choice(_ALPHABET) for _ in range(10))
    return f"CAP-{stamp}__{capability}__R{suffix}"


def utc_iso(timestamp: float) -> str:
    """Return a POSIX timestamp as an ISO 8601 UTC string with a Z suffix."""
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def git_revision(path: Path) -> str | None:
    """Return the git commit of the checkout holding `path` (with '-dirty' when it has changes), or None."""
    try:
        head = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(path), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def write_receipt(directory: Path, run_key: str, receipt: dict[str, Any]) -> Path:
    """Write the receipt once (exclusive create), with registered secrets masked, and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{run_key}.json"
    with path.open("x", encoding="utf-8") as fh:
        fh.write(REDACTOR.mask(json.dumps(receipt, indent=2)) + "\n")
    return path
