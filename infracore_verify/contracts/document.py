"""A loaded contract: the `Document`, its YAML-path keys, the load limits and the error that stops parsing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infracore_verify.contracts.findings import Finding, yaml_path

MAX_FILE_BYTES = 8 * 1024 * 1024
"""Contracts larger than this are refused unread (the largest real registry is a few hundred KB)."""
MAX_NODES = 1_000_000
"""Aliases may expand a document to at most this many nodes (stops 'billion laughs' documents)."""
MAX_DEPTH = 200
"""Nesting deeper than this is refused (real contracts nest fewer than ten levels)."""

Key = tuple[str | int, ...]


@dataclass
class Document:
    """A loaded contract file: its data, the line of every YAML path, its hash and its problems."""

    name: str
    path: Path
    display: str
    data: Any = None
    lines: dict[Key, int] = field(default_factory=dict)
    errors: list[Finding] = field(default_factory=list)
    sha256: str = ""
    repeats: dict[Key, list[tuple[Any, Any, int]]] = field(default_factory=dict)
    """Ops semantics only: every (key, value, line) of each mapping that repeats a key, in file order."""

    @property
    def ok(self) -> bool:
        """Return True when the file parsed and matches its schema."""
        return not self.errors

    def entries(self, parts: Sequence[str | int], mapping: dict[Any, Any]) -> list[tuple[Any, Any, int]]:
        """Return every (key, value, line) of the mapping at `parts`, repeated keys included (yq's to_entries)."""
        repeated = self.repeats.get(tuple(parts))
        if repeated is not None:
            return repeated
        return [(k, v, self.line((*parts, str(k) if not isinstance(k, int) else k))) for k, v in mapping.items()]

    def line(self, parts: Sequence[str | int] = ()) -> int:
        """Return the line of the YAML path, or of its nearest ancestor that has one."""
        key = tuple(parts)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), 1)

    def finding(self, parts: Sequence[str | int], message: str, fix: str = "") -> Finding:
        """Build a finding located at the YAML path `parts` of this file."""
        return Finding(self.display, self.line(parts), yaml_path(parts), message, fix)


class LoadError(Exception):
    """A problem that stops parsing; carries the finding to report."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.render())
        self.finding = finding
