"""The drift matrix's data: cells, changes, `expected_drift` allowances, what the contracts expect, the matrix.

`smoke/drift.py` builds a `DriftMatrix` (and describes the cells); `smoke/drift_report.py` renders it as Markdown
and writes the report files.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from infracore_verify.contracts.model import as_list, mapping
from infracore_verify.contracts.sets import Contracts

ATTRIBUTES: tuple[str, ...] = (
    "presence",
    "zones",
    "tunnels",
    "ingress",
    "registrar",
    "dns",
    "versions",
    "status",
    "secret_keys",
    "outposts",
)
"""Columns of the matrix, in order."""

SYSTEM_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "cloudflare": ("presence", "zones", "tunnels", "ingress", "registrar", "dns"),
    "vaultwarden": ("presence", "versions"),
    "infisical": ("presence", "status", "secret_keys"),
    "authentik": ("presence", "versions", "outposts"),
}
"""Which attributes apply to which system (any other system gets presence only)."""

FORMAT = 1
"""Version of the JSON report layout."""
TUNNEL_TARGET = "{id}.cfargotunnel.com"


class DriftContractError(Exception):
    """A contract the comparison needs does not load; the message holds the loader's findings."""


@dataclass(frozen=True)
class Change:
    """One changed entry: the same key, a different value on each side."""

    key: str
    expected: str
    live: str

    def __str__(self) -> str:
        return f"{self.key} ({self.expected} -> {self.live})"

    def to_dict(self) -> dict[str, str]:
        """Return the JSON form."""
        return {"key": self.key, "expected": self.expected, "live": self.live}


@dataclass(frozen=True)
class Allowance:
    """One `expected_drift` entry of cloudflare.inventory.yaml."""

    system: str
    attribute: str
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    reason: str = ""

    @classmethod
    def parse(cls, entry: Any) -> Allowance:
        """Build an allowance from a YAML entry (lenient; the schema validates the file)."""
        data = mapping(entry)
        return cls(
            str(data.get("system", "")),
            str(data.get("attribute", "")),
            tuple(str(x) for x in as_list(data.get("missing"))),
            tuple(str(x) for x in as_list(data.get("extra"))),
            tuple(str(x) for x in as_list(data.get("changed"))),
            str(data.get("reason") or ""),
        )

    def covers(self, kind: str, name: str) -> bool:
        """Return True when this entry allows `name` as a `kind` (missing, extra or changed key) difference."""
        patterns: tuple[str, ...] = getattr(self, kind)
        return any(fnmatch.fnmatchcase(name, p) for p in patterns)

    def __str__(self) -> str:
        parts = [
            f"{kind}: {', '.join(getattr(self, kind))}"
            for kind in ("missing", "extra", "changed")
            if getattr(self, kind)
        ]
        return f"{self.system}.{self.attribute} " + "; ".join(parts)


@dataclass(frozen=True)
class DriftCell:
    """One system x attribute cell: status, the differences, which of them are allowed, what was seen live."""

    system: str
    attribute: str
    status: str
    """ok | drift | observed | error"""
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    changed: tuple[Change, ...] = ()
    allowed_missing: tuple[str, ...] = ()
    allowed_extra: tuple[str, ...] = ()
    allowed_changed: tuple[str, ...] = ()
    """Keys of the allowed changes."""
    live: str = ""
    """A short summary of the live value (counts, versions) for the report."""
    errors: tuple[str, ...] = ()
    declared: bool = True
    """True when the contracts declare something for the cell (an unreadable declared cell cannot be judged)."""

    @property
    def name(self) -> str:
        """Return `system.attribute`."""
        return f"{self.system}.{self.attribute}"

    @property
    def has_drift(self) -> bool:
        """Return True when the cell has any difference (allowed or not)."""
        return bool(self.missing or self.extra or self.changed)

    def unexpected(self) -> DriftCell | None:
        """Return the cell reduced to its differences that no expected_drift entry covers, or None."""
        cell = replace(
            self,
            missing=tuple(m for m in self.missing if m not in self.allowed_missing),
            extra=tuple(e for e in self.extra if e not in self.allowed_extra),
            changed=tuple(c for c in self.changed if c.key not in self.allowed_changed),
            allowed_missing=(),
            allowed_extra=(),
            allowed_changed=(),
        )
        return cell if cell.has_drift else None

    def lines(self) -> list[str]:
        """Return one line per kind of difference: `cloudflare.zones extra: a, b`."""
        out = []
        if self.missing:
            out.append(f"{self.name} missing: {', '.join(self.missing)}")
        if self.extra:
            out.append(f"{self.name} extra: {', '.join(self.extra)}")
        if self.changed:
            out.append(f"{self.name} changed: {', '.join(str(c) for c in self.changed)}")
        return out

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "system": self.system,
            "attribute": self.attribute,
            "status": self.status,
            "missing": list(self.missing),
            "extra": list(self.extra),
            "changed": [c.to_dict() for c in self.changed],
            "allowed": {
                "missing": list(self.allowed_missing),
                "extra": list(self.allowed_extra),
                "changed": list(self.allowed_changed),
            },
            "unexpected": self.unexpected() is not None,
            "live": self.live,
            "errors": list(self.errors),
            "declared": self.declared,
        }


@dataclass(frozen=True)
class Expected:
    """What the contracts say, as the comparison needs it."""

    systems: tuple[str, ...]
    """The baseline contract's systems."""
    inventory: Mapping[str, Any] = field(default_factory=dict)
    """cloudflare.inventory.yaml data."""
    secret_refs: tuple[str, ...] = ()
    """`/folder/KEY` secret references of the captured environment."""

    @classmethod
    def from_contracts(cls, contracts: Contracts, environment: str | None = None) -> Expected:
        """Read the baseline systems, the inventory and (when `environment` names a file) its secret references."""
        baseline, inventory = contracts.doc("baseline"), contracts.doc("inventory")
        problems = baseline.errors + inventory.errors
        if problems:
            raise DriftContractError("; ".join(f.render() for f in problems))
        refs: list[str] = []
        if environment:
            env = contracts.environment(environment)
            if env.ok:
                for entry in mapping(mapping(env.data).get("systems")).values():
                    for ref in mapping(mapping(entry).get("credentials")).values():
                        secret = mapping(ref).get("secret")
                        if isinstance(secret, str) and secret:
                            refs.append(secret)
        return cls(
            tuple(str(s) for s in mapping(baseline.data.get("systems"))),
            mapping(inventory.data),
            tuple(dict.fromkeys(refs)),
        )

    def allowances(self) -> list[Allowance]:
        """Return the inventory's expected_drift entries."""
        return [Allowance.parse(e) for e in as_list(self.inventory.get("expected_drift"))]


@dataclass(frozen=True)
class DriftMatrix:
    """Every cell of one comparison, with the capture's identity and errors."""

    cells: tuple[DriftCell, ...]
    environment: str = ""
    sandbox: bool = False
    captured_at: str = ""
    errors: tuple[str, ...] = ()
    """Every failed call of the capture, one line each."""
    unused_allowances: tuple[str, ...] = ()

    def cell(self, system: str, attribute: str) -> DriftCell | None:
        """Return one cell, or None when the attribute does not apply to the system."""
        return next((c for c in self.cells if (c.system, c.attribute) == (system, attribute)), None)

    @property
    def systems(self) -> list[str]:
        """Return the rows in order."""
        return list(dict.fromkeys(c.system for c in self.cells))

    def drifting(self) -> list[DriftCell]:
        """Return the cells with any difference (allowed ones included)."""
        return [c for c in self.cells if c.has_drift]

    def unexpected(self) -> list[DriftCell]:
        """Return the cells reduced to the differences no expected_drift entry covers."""
        return [u for u in (c.unexpected() for c in self.cells) if u is not None]

    def unexpected_lines(self) -> list[str]:
        """Return the unexpected differences, one line per cell and kind."""
        return [line for cell in self.unexpected() for line in cell.lines()]

    def compared(self) -> int:
        """Return how many cells were compared (ok or drift)."""
        return sum(1 for c in self.cells if c.status in ("ok", "drift"))

    def unreadable(self) -> list[DriftCell]:
        """Return the cells the contracts declare something for that the capture could not read."""
        return [c for c in self.cells if c.status == "error" and c.declared]

    def difference_count(self) -> int:
        """Return the number of unexpected differences (names and changed keys)."""
        return sum(len(c.missing) + len(c.extra) + len(c.changed) for c in self.unexpected())

    def summary(self) -> str:
        """Return one line: unexpected, allowed, compared, observed and unreadable cells."""
        allowed = len(self.drifting()) - len([c for c in self.drifting() if c.unexpected() is not None])
        parts = [
            f"{self.difference_count()} unexpected difference(s)",
            f"{len(self.drifting())} drifting cell(s) ({allowed} fully allowed)",
            f"{self.compared()} compared",
            f"{sum(1 for c in self.cells if c.status == 'observed')} observed",
            f"{sum(1 for c in self.cells if c.status == 'error')} not readable",
        ]
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "format": FORMAT,
            "environment": self.environment,
            "sandbox": self.sandbox,
            "captured_at": self.captured_at,
            "systems": self.systems,
            "attributes": list(ATTRIBUTES),
            "cells": [c.to_dict() for c in self.cells],
            "unexpected": self.unexpected_lines(),
            "errors": list(self.errors),
            "unused_allowances": list(self.unused_allowances),
            "summary": self.summary(),
        }

    def to_json(self) -> str:
        """Return the report as JSON (sorted keys, two-space indent, newline at the end)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def to_markdown(self) -> str:
        """Return the report as Markdown: a system x attribute table, then every difference and error."""
        from infracore_verify.smoke.drift_report import render_markdown  # the renderer imports this module

        return render_markdown(self)
