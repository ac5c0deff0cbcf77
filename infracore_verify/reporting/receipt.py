"""Run keys and run receipts: one JSON file per run under `reports/receipts/<run key>.json`."""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import string
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from infracore_verify.contracts.sets import EMBEDDED_CONTRACTS
from infracore_verify.redact import REDACTOR

RECEIPT_SCHEMA = EMBEDDED_CONTRACTS / "schemas" / "receipt.schema.json"
"""The receipt's JSON Schema, published beside the contract schemas."""

RUN_KEY_RE = re.compile(r"^CAP-\d{8}-\d{6}__([a-z0-9._-]+)__R([a-z0-9]+)$")
_ALPHABET = string.ascii_lowercase + string.digits


def new_run_key(capability: str = "verify.run", now: dt.datetime | None = None) -> str:
    """Return `CAP-<UTC YYYYmmdd-HHMMSS>__<capability>__R<10 random [a-z0-9]>` (CSPRNG suffix)."""
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%d-%H%M%S")
    suffix = "".join(secrets.choice(_ALPHABET) for _ in range(10))
    return f"CAP-{stamp}__{capability}__R{suffix}"


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


def env_label(name: str, kind: str | None) -> str:
    """Return how output names the environment (the sandbox always says it is the sandbox)."""
    if kind == "sandbox":
        return f"{name}: built-in sandbox emulation on 127.0.0.1 (not real infrastructure)"
    if kind is None:
        return f"{name}: environment file does not load"
    return f"{name}: {kind}"


Row = dict[str, Any]
"""A gate, probe or recovery row as its runner recorded it (keys per kind in `receipt.schema.json`)."""


@dataclass
class SuiteInfo:
    """The suite that wrote the receipt."""

    name: str
    version: str


@dataclass
class EnvironmentInfo:
    """The target environment, and whether it is the built-in sandbox."""

    name: str
    kind: str | None
    sandbox: bool
    label: str


@dataclass
class ContractsInfo:
    """The contract set: where it is, its layout and the sha256 of every file."""

    path: str
    layout: str
    files: dict[str, Any]
    sha256: str


@dataclass
class Requested:
    """What the command line asked for."""

    gate: list[str]
    profile: str | None
    domain: str | None
    markexpr: str | None


@dataclass
class SelectionInfo:
    """The profile the run was recorded as, its ring and the selected gates."""

    profile: str
    ring: str
    source: str
    requested: Requested
    gate_ids: list[str]


@dataclass
class Totals:
    """Gate totals in the ops wrapper's terms."""

    total: int
    passed: int
    failed: int
    skipped: int
    not_run: int
    waived: int
    line: str

    def to_dict(self) -> dict[str, Any]:
        """Return the receipt's `totals` (keys `pass`/`fail`, as the ops wrapper names them)."""
        return {
            "total": self.total,
            "pass": self.passed,
            "fail": self.failed,
            "skipped": self.skipped,
            "not_run": self.not_run,
            "waived": self.waived,
            "line": self.line,
        }


@dataclass
class ProbeTotals:
    """Smoke probe totals."""

    total: int
    passed: int
    failed: int
    skipped: int

    def to_dict(self) -> dict[str, Any]:
        """Return the receipt's `probe_totals`."""
        return {"total": self.total, "pass": self.passed, "fail": self.failed, "skipped": self.skipped}


@dataclass
class Budget:
    """The run's ring budget against its elapsed time."""

    ring: str
    budget_seconds: int
    elapsed_seconds: float
    exceeded: bool
    delta_seconds: float
    blocking: bool = False


@dataclass
class Receipt:
    """One run's receipt: written once as `reports/receipts/<run key>.json` (schema: receipt.schema.json)."""

    run_key: str
    suite: SuiteInfo
    started_utc: str
    finished_utc: str
    elapsed_seconds: float
    environment: EnvironmentInfo
    contracts: ContractsInfo
    git_revision: str | None
    selection: SelectionInfo
    gates: list[Row]
    probes: list[Row]
    recoveries: list[Row]
    probe_totals: ProbeTotals
    totals: Totals
    failing_gate_ids: list[str]
    waivers: list[Row]
    failure_class: dict[str, int]
    budget: Budget
    exit_status: int
    drift_reports: list[str] = field(default_factory=list)
    waivers_disabled: Row | None = None
    """Set when operational.gaps.yaml did not load, so no gap waived anything: `{file, reason, problems}`."""

    def to_dict(self) -> dict[str, Any]:
        """Return the receipt as JSON-ready data."""
        data = asdict(self)
        data["totals"] = self.totals.to_dict()
        data["probe_totals"] = self.probe_totals.to_dict()
        return data


def write_receipt(directory: Path, run_key: str, receipt: dict[str, Any]) -> Path:
    """Write the receipt once (exclusive create), with registered secrets masked, and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{run_key}.json"
    with path.open("x", encoding="utf-8") as fh:
        fh.write(REDACTOR.mask(json.dumps(receipt, indent=2)) + "\n")
    return path
