"""Shared plumbing of the ported ops gates: the repository, the operator's host paths and yq's semantics.

The 17 gates of the ops repository's fast profile (`ops_*.py`) read the repository's own files, not the
suite's contract set: `OpsRepo` loads them through the suite's loader in ops mode (a repeated key reads as
its last value, dates stay dates, an empty file is None), relative to the root the contracts came from.

Host-bound gates read the operator's absolute paths (`/Users/<operator>/code/...`). `host_path` maps them
below `INFRACORE_HOST_ROOT` when it is set (tests point it at a temporary directory), else reads them as
they are; findings always name the operator's path.

Error hierarchy: `GateBugError` (the gate cannot reach a verdict: a helper the ops script runs unguarded
would exit without the verdict line, or a tool the gate needs is missing).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from infracore_verify.contracts.findings import Finding
from infracore_verify.contracts.loader import Document, load_document
from infracore_verify.contracts.sets import FILES
from infracore_verify.gates.checks.base import ContractView

HOST_ROOT_ENV = "INFRACORE_HOST_ROOT"
"""Directory under which the operator's absolute host paths are looked up (default: the real `/`)."""
MISSING = object()
"""A key that is absent (yq: missing; Python: `.get` default)."""


class GateBugError(Exception):
    """The gate cannot give a verdict (the ops script would exit without its verdict line, or a tool is missing)."""

    def __init__(self, detail: str, findings: Iterable[Finding] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.findings = list(findings)


@dataclass
class OpsRepo:
    """The repository a ported gate reads: its root, its files (loaded once per process) and display paths."""

    view: ContractView
    docs: dict[str, Document] = field(default_factory=dict)

    @cached_property
    def root(self) -> Path:
        """Return the repository root (SPINE_ROOT of the ops scripts)."""
        return self.view.contracts.root

    def path(self, rel: str) -> Path:
        """Return the absolute path of a repository-relative path."""
        return self.root / rel

    def display(self, path: Path) -> str:
        """Return a path as messages show it."""
        return self.view.contracts.display(path)

    def load(self, rel: str | Path, *, reuse: bool = False) -> Document:
        """Load a YAML file of the repository with ops semantics (no schema).

        `reuse=True` (for a read where dates as text are fine, as yq prints them): a contract the suite has
        already parsed is reused when it parsed, whatever its schema says. Without a repeated key both
        parses hold the same data; with one the suite's parse fails and the file is read again here.
        """
        path = rel if isinstance(rel, Path) else self.path(rel)
        key = f"{path}|{reuse}"
        if key not in self.docs:
            contracts = self.view.contracts
            known = next((n for n in FILES if contracts.file_path(n) == path), None) if reuse else None
            strict = contracts.doc(known) if known is not None else None
            if strict is not None and strict.data is not None:
                # Parsed: its errors, if any, are the suite's schema findings, which no ops gate reports.
                # In an ops repository a repeated key parses too (its last value); keep every occurrence.
                doc = Document(strict.name, strict.path, strict.display, strict.data, strict.lines)
                doc.repeats = strict.repeats
                self.docs[key] = doc
            else:
                self.docs[key] = load_document(f"ops:{path.name}", path, self.display(path), None, ops=True)
        return self.docs[key]

    def file_finding(self, path: Path | str, message: str, fix: str = "", line: int = 0) -> Finding:
        """Return a finding about a file as a whole (or one line of it)."""
        where = path if isinstance(path, Path) else self.path(path)
        return Finding(self.display(where), line, "", message, fix)

    def first_missing(self, rels: Iterable[str], message: str = "missing required file: {rel}") -> Finding | None:
        """Return a finding for the first of `rels` that is not a file (`message` with its {rel}; fix: restore it)."""
        rel = next((rel for rel in rels if not self.path(rel).is_file()), None)
        return None if rel is None else self.file_finding(rel, message.format(rel=rel), f"restore {rel}")

    def executable(self, rel: str) -> bool:
        """Return True when the repository path exists and is executable (bash's `-x`)."""
        return os.access(self.path(rel), os.X_OK)


def repo(view: ContractView) -> OpsRepo:
    """Return the repository view of a gate's contracts."""
    return OpsRepo(view)


def host_path(path: str | Path, root: Path) -> Path:
    """Return where an operator path is read: absolute paths below INFRACORE_HOST_ROOT, relative ones from `root`."""
    text = str(path)
    if not os.path.isabs(text):
        return root / text
    base = os.environ.get(HOST_ROOT_ENV, "")
    return Path(base) / text.lstrip("/") if base else Path(text)


# --- mikefarah yq v4 semantics -------------------------------------------------------------------------


def yq_truthy(value: Any) -> bool:
    """Return True when yq keeps the value: not missing, not null and not `false` (`yq -e`, the left of `//`)."""
    return value is not MISSING and value is not None and value is not False


def yq_alt(value: Any, default: Any) -> Any:
    """Return yq's `value // default`: the default when the value is missing, null or false."""
    return value if yq_truthy(value) else default


def yq_text(value: Any) -> str:
    """Return how `yq -r` prints a scalar (null as `null`, booleans lower-case, dates in ISO form)."""
    if value is MISSING or value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def yq_length(value: Any) -> int:
    """Return yq's `length`: items of a list or map, characters of a scalar's text, 0 for null."""
    if value is MISSING or value is None:
        return 0
    if isinstance(value, list | dict):
        return len(value)
    return len(yq_text(value))


def is_scalar(value: Any) -> bool:
    """Return True for a value that yq's `@tsv` can print (not a map or a list)."""
    return not isinstance(value, dict | list)


def get(data: Any, *keys: str | int) -> Any:
    """Return a nested value, MISSING when any step is absent or not a container (yq's `.a.b` on data)."""
    for key in keys:
        if isinstance(data, dict) and key in data:
            data = data[key]
            continue
        if not (isinstance(data, list) and isinstance(key, int) and -len(data) <= key < len(data)):
            return MISSING
        data = data[key]
    return data


def as_items(value: Any) -> list[Any]:
    """Return `value[]?`: a list's items, a map's values, nothing for null or a scalar."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return []


# --- the embedded python3 snippets' semantics ---------------------------------------------------------


def py_str(value: Any, default: str = "") -> str:
    """Return the snippets' `str(x.get(k, default)).strip()`: an explicit null becomes 'None'."""
    return str(default if value is MISSING else value).strip()


def py_mapping(value: Any) -> dict[Any, Any]:
    """Return the snippets' `x or {}` for a loaded document (a non-mapping is the caller's problem)."""
    return value if isinstance(value, dict) else {}


def flag(value: Any, default: bool = True) -> bool:
    """Return a boolean setting; unlike the snippets' `bool()`, the strings 'false', 'no', 'off', '0' are false."""
    if value is MISSING or value is None:
        return default if value is MISSING else False
    if isinstance(value, str):
        return value.strip().lower() not in {"", "false", "no", "off", "0"}
    return bool(value)


def load_problem(doc: Document) -> list[Finding]:
    """Return why a repository file cannot be read (missing, unreadable or invalid YAML), else []."""
    return list(doc.errors)
