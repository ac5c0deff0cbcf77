"""The drift matrix: what the contracts say against what a capture saw, per system and attribute (pure).

`drift_matrix(contracts, baseline)` compares a capture (`fixtures/capture.py`, or a baseline file read back) with
the contract set. Rows are the systems, columns the attributes; every cell lists

    missing   in the contracts, not live
    extra     live, not in the contracts
    changed   the same key with a different value (`key (expected -> live)`)

| system | attribute | compared with | kind |
| --- | --- | --- | --- |
| every baseline system | presence | `infra.core.baseline.contract.yaml` systems vs the captured systems | exact |
| cloudflare | zones | inventory `zones[].name` | exact |
| cloudflare | tunnels | inventory `tunnels[].name`; changed: a different tunnel id | exact |
| cloudflare | ingress | inventory `tunnels[].ingress[].hostname`, for tunnels present on both sides; `host (tunnel name)` | exact |
| cloudflare | registrar | inventory `zones[].registrar`; changed: a zone whose registration differs from its flag; extra: registered domains the inventory does not list | exact |
| cloudflare | dns | every inventory ingress hostname has `CNAME <host> <tunnel id>.cfargotunnel.com` in its zone (other records are not drift) | required |
| infisical | secret_keys | the environment's `{secret: /folder/KEY}` references under the captured scope (other keys are not drift) | required |
| vaultwarden, authentik | versions | nothing declares versions: observed only | observed |
| infisical | status | observed only | observed |
| authentik | outposts | observed only | observed |

A cell is `ok`, `drift`, `observed` (nothing to compare with), `error` (the capture could not read it; not
compared) or absent (the attribute does not apply to the system; `n/a` in the table). `DriftMatrix.unreadable()`
lists the error cells the contracts declare something for (presence, every Cloudflare attribute, Infisical secret
keys when the environment references secrets): a comparison that could not be made, as opposed to an observation.

Expected drift (extension of `cloudflare.inventory.yaml`): an optional top-level `expected_drift` list of
`{system, attribute, missing?: [...], extra?: [...], changed?: [keys], reason?}`; names are fnmatch patterns
(`extra-*.sandbox.invalid`). A difference it covers is shown as allowed and does not count as unexpected;
entries that cover nothing are listed as unused.

Renderers: `DriftMatrix.to_markdown()` (a system x attribute table, then every difference), `to_json()`;
`write_report(matrix, directory, run_key)` writes `<run_key>.drift.json` and `<run_key>.drift.md` (beside the
receipt `<run_key>.json`); it also takes the probe's `details["drift"]` mapping.

Exceptions: `DriftContractError` (a contract the comparison needs does not load).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from infracore_verify.contracts.model import SYSTEMS, as_list, mapping
from infracore_verify.contracts.sets import Contracts
from infracore_verify.redact import REDACTOR

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
        columns = [a for a in ATTRIBUTES if any(c.attribute == a for c in self.cells)]
        target = f"{self.environment or 'unknown'}" + (" (sandbox)" if self.sandbox else "")
        out = [
            "# Drift matrix",
            "",
            f"environment: {target}; captured_at: {self.captured_at or 'unknown'}",
            f"result: {self.summary()}",
            "",
            "| system | " + " | ".join(columns) + " |",
            "| --- | " + " | ".join("---" for _ in columns) + " |",
        ]
        for system in self.systems:
            row = [_cell_text(self.cell(system, a)) for a in columns]
            out.append(f"| {_md(system)} | " + " | ".join(row) + " |")
        out += [
            "",
            "Legend: -N missing (in the contracts, not live), +N extra (live only), ~N changed; "
            "(allowed) = covered by expected_drift; n/a = does not apply.",
            "",
        ]
        out.append("## Unexpected differences")
        out += [f"- {_md(line)}" for line in self.unexpected_lines()] or ["none"]
        allowed = [line for cell in self.drifting() for line in _allowed_lines(cell)]
        if allowed:
            out += ["", "## Allowed differences (expected_drift)"] + [f"- {_md(line)}" for line in allowed]
        if self.unused_allowances:
            out += ["", "## expected_drift entries that cover nothing"]
            out += [f"- {_md(line)}" for line in self.unused_allowances]
        if self.errors:
            out += ["", "## Not readable (not compared)"] + [f"- {_md(line)}" for line in self.errors]
        return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _cell_text(cell: DriftCell | None) -> str:
    if cell is None:
        return "n/a"
    if cell.status == "error":
        return "error"
    if cell.status == "observed":
        return _md(f"observed: {cell.live}" if cell.live else "observed")
    if not cell.has_drift:
        return _md(f"ok ({cell.live})" if cell.live else "ok")
    parts = []
    for sign, names, allowed in (("-", cell.missing, cell.allowed_missing), ("+", cell.extra, cell.allowed_extra)):
        if names:
            shown = [f"{n} (allowed)" if n in allowed else n for n in names]
            parts.append(f"{sign}{len(names)} {', '.join(shown)}")
    if cell.changed:
        shown = [f"{c} (allowed)" if c.key in cell.allowed_changed else str(c) for c in cell.changed]
        parts.append(f"~{len(cell.changed)} {', '.join(shown)}")
    return _md("; ".join(parts))


def _allowed_lines(cell: DriftCell) -> list[str]:
    out = []
    if cell.allowed_missing:
        out.append(f"{cell.name} missing: {', '.join(cell.allowed_missing)}")
    if cell.allowed_extra:
        out.append(f"{cell.name} extra: {', '.join(cell.allowed_extra)}")
    if cell.allowed_changed:
        out.append(f"{cell.name} changed: {', '.join(cell.allowed_changed)}")
    return out


# --- the comparison ---------------------------------------------------------------------------------------


def _names(items: Iterable[Any], key: str = "name") -> list[str]:
    return [str(mapping(i).get(key)) for i in items if mapping(i).get(key)]


def _diff(expected: Iterable[str], live: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    want, have = set(expected), set(live)
    return tuple(sorted(want - have)), tuple(sorted(have - want))


def _record(text: str) -> tuple[str, str, str]:
    """Split a captured record `TYPE name content` (content may hold spaces)."""
    rtype, name, content = [*text.split(" ", 2), "", ""][:3]
    return rtype, name, content


def _zone_of(host: str, zones: Iterable[str]) -> str | None:
    """Return the longest zone that `host` is or lies below, or None."""
    matches = [z for z in zones if host == z or host.endswith("." + z)]
    return max(matches, key=len) if matches else None


def error_text(error: Mapping[str, Any]) -> str:
    """Return a capture error as one line: the message (prefixed by the call unless it names it) and the class."""
    call, message = str(error.get("call") or ""), str(error.get("message") or "")
    head = call.split(" (")[0]
    text = message if head and head in message else f"{call}: {message}"
    return f"{text} [class {error.get('class')}]"


class _Builder:
    """Builds the cells of one comparison."""

    def __init__(self, expected: Expected, capture: Mapping[str, Any]) -> None:
        self.expected = expected
        self.capture = capture
        self.live_systems = mapping(capture.get("systems"))
        self.error_items = [mapping(e) for e in as_list(capture.get("errors"))]
        self.cells: list[DriftCell] = []

    def errors_of(self, system: str, attribute: str) -> tuple[str, ...]:
        return tuple(
            error_text(e) for e in self.error_items if e.get("system") == system and e.get("attribute") == attribute
        )

    def add(
        self,
        system: str,
        attribute: str,
        *,
        missing: Iterable[str] = (),
        extra: Iterable[str] = (),
        changed: Iterable[Change] = (),
        live: str = "",
    ) -> None:
        missing, extra, changed = tuple(missing), tuple(extra), tuple(sorted(changed, key=lambda c: c.key))
        status = "drift" if missing or extra or changed else "ok"
        self.cells.append(DriftCell(system, attribute, status, missing, extra, changed, live=live))

    def error(self, system: str, attribute: str, reason: str = "") -> None:
        errors = self.errors_of(system, attribute) or (reason or "not in the capture",)
        self.cells.append(
            DriftCell(system, attribute, "error", errors=errors, declared=self.declares(system, attribute))
        )

    def observed(self, system: str, attribute: str, live: str) -> None:
        self.cells.append(DriftCell(system, attribute, "observed", live=live, declared=False))

    def declares(self, system: str, attribute: str) -> bool:
        """Return True when the contracts hold an expectation for the cell."""
        if attribute == "presence" or system == "cloudflare":
            return True
        return (system, attribute) == ("infisical", "secret_keys") and bool(self.expected.secret_refs)

    def readable(self, system: str, attribute: str, *keys: str, reason: str = "") -> dict[str, Any] | None:
        """Return the system's capture when the attribute was read completely, else add an error cell."""
        data = self.live_systems.get(system)
        if not isinstance(data, dict) or self.errors_of(system, attribute) or any(k not in data for k in keys):
            self.error(system, attribute, reason)
            return None
        return data

    # -- rows -------------------------------------------------------------------------------------------

    def build(self) -> list[DriftCell]:
        rows = list(dict.fromkeys([*self.expected.systems, *(str(s) for s in self.live_systems)]))
        rows.sort(key=lambda s: (SYSTEMS.index(s) if s in SYSTEMS else len(SYSTEMS), s))
        for system in rows:
            self.presence(system)
            if system not in self.live_systems:
                for attribute in SYSTEM_ATTRIBUTES.get(system, ("presence",))[1:]:
                    self.error(system, attribute, "the system was not captured")
                continue
            rows_of = {
                "cloudflare": self.row_cloudflare,
                "vaultwarden": self.row_vaultwarden,
                "infisical": self.row_infisical,
                "authentik": self.row_authentik,
            }
            if system in rows_of:
                rows_of[system]()
        return self.cells

    def presence(self, system: str) -> None:
        declared, live = system in self.expected.systems, system in self.live_systems
        if not live and self.errors_of(system, "presence"):
            self.error(system, "presence")
        elif declared and not live:
            self.add(system, "presence", missing=[system])
        elif live and not declared:
            self.add(system, "presence", extra=[system])
        else:
            self.add(system, "presence", live="captured")

    def row_cloudflare(self) -> None:
        inventory = self.expected.inventory
        inv_zones = [mapping(z) for z in as_list(inventory.get("zones"))]
        inv_tunnels = [mapping(t) for t in as_list(inventory.get("tunnels"))]
        cf = self.readable("cloudflare", "zones", "zones")
        live_zones: list[str] | None = None
        if cf is not None:
            live_zones = [str(z) for z in as_list(cf.get("zones"))]
            missing, extra = _diff(_names(inv_zones), live_zones)
            self.add("cloudflare", "zones", missing=missing, extra=extra, live=f"{len(live_zones)} live")
        cf = self.readable("cloudflare", "tunnels", "tunnels")
        live_tunnels: dict[str, Any] = mapping(cf.get("tunnels")) if cf is not None else {}
        if cf is not None:
            missing, extra = _diff(_names(inv_tunnels), live_tunnels)
            changed = [
                Change(str(t["name"]), f"id {t.get('id')}", f"id {mapping(live_tunnels[t['name']]).get('id')}")
                for t in inv_tunnels
                if t.get("name") in live_tunnels
                and t.get("id")
                and str(t.get("id")) != str(mapping(live_tunnels[t["name"]]).get("id"))
            ]
            self.add(
                "cloudflare", "tunnels", missing=missing, extra=extra, changed=changed, live=f"{len(live_tunnels)} live"
            )
        self.ingress(inv_tunnels, live_tunnels if cf is not None else None)
        self.registrar(inv_zones, live_zones)
        self.dns(inv_zones, inv_tunnels)

    def ingress(self, inv_tunnels: list[dict[str, Any]], live_tunnels: dict[str, Any] | None) -> None:
        if live_tunnels is None or self.errors_of("cloudflare", "ingress"):
            self.error("cloudflare", "ingress", "the tunnels were not captured")
            return
        missing: list[str] = []
        extra: list[str] = []
        rules = 0
        for tunnel in inv_tunnels:
            name = str(tunnel.get("name"))
            live = mapping(live_tunnels.get(name))
            if not live:
                continue  # a missing tunnel is reported once, under tunnels
            if "ingress" not in live:
                self.error("cloudflare", "ingress", f"the ingress of tunnel {name} was not captured")
                return
            hosts = [str(h) for h in as_list(live.get("ingress"))]
            rules += len(hosts)
            want = [
                str(mapping(r).get("hostname")) for r in as_list(tunnel.get("ingress")) if mapping(r).get("hostname")
            ]
            gone, added = _diff(want, hosts)
            missing += [f"{h} (tunnel {name})" for h in gone]
            extra += [f"{h} (tunnel {name})" for h in added]
        self.add("cloudflare", "ingress", missing=missing, extra=extra, live=f"{rules} hostnames")

    def registrar(self, inv_zones: list[dict[str, Any]], live_zones: list[str] | None) -> None:
        cf = self.readable("cloudflare", "registrar", "registrar")
        if cf is None:
            return
        held = {str(d) for d in as_list(cf.get("registrar"))}
        zones_live = set(live_zones or [])
        missing: list[str] = []
        changed: list[Change] = []
        for zone in inv_zones:
            name, flag = str(zone.get("name")), zone.get("registrar") is True
            if flag == (name in held):
                continue
            if flag and live_zones is not None and name not in zones_live:
                missing.append(name)
            else:
                word = {True: "registered", False: "not registered"}
                changed.append(Change(name, word[flag], word[name in held]))
        extra = sorted(held - set(_names(inv_zones)))
        self.add(
            "cloudflare",
            "registrar",
            missing=sorted(missing),
            extra=extra,
            changed=changed,
            live=f"{len(held)} registered",
        )

    def dns(self, inv_zones: list[dict[str, Any]], inv_tunnels: list[dict[str, Any]]) -> None:
        cf = self.readable("cloudflare", "dns", "dns_records", reason="not captured (it needs the zone listing)")
        if cf is None:
            return
        records = {str(z): [str(r) for r in as_list(rs)] for z, rs in mapping(cf.get("dns_records")).items()}
        zone_names = _names(inv_zones)
        missing: list[str] = []
        changed: list[Change] = []
        for tunnel in inv_tunnels:
            target = TUNNEL_TARGET.format(id=tunnel.get("id"))
            for rule in as_list(tunnel.get("ingress")):
                host = mapping(rule).get("hostname")
                zone = _zone_of(str(host), zone_names) if host else None
                if zone is None or zone not in records:
                    continue  # no inventory zone holds it, or the zone is missing (reported under zones)
                want = f"CNAME {host} {target}"
                if want in records[zone]:
                    continue
                same_name = [(rtype, content) for rtype, name, content in map(_record, records[zone]) if name == host]
                if same_name:
                    live = ", ".join(f"{rtype} {content}" for rtype, content in same_name)
                    changed.append(Change(str(host), f"CNAME {target}", live))
                else:
                    missing.append(want)
        total = sum(len(r) for r in records.values())
        self.add(
            "cloudflare",
            "dns",
            missing=sorted(missing),
            changed=changed,
            live=f"{total} records in {len(records)} zones",
        )

    def row_vaultwarden(self) -> None:
        vw = self.readable("vaultwarden", "versions", "version", "server_version")
        if vw is not None:
            self.observed("vaultwarden", "versions", f"{vw.get('version')} (server {vw.get('server_version')})")

    def row_infisical(self) -> None:
        inf = self.readable("infisical", "status", "status")
        if inf is not None:
            self.observed("infisical", "status", str(inf.get("status")))
        inf = self.readable("infisical", "secret_keys", "secret_keys")
        if inf is None:
            return
        keys = {
            str(folder): {str(k) for k in as_list(names)} for folder, names in mapping(inf.get("secret_keys")).items()
        }
        live = f"{sum(len(k) for k in keys.values())} keys in {len(keys)} folders"
        scope = str(mapping(inf.get("secret_scope")).get("path") or "/").rstrip("/") + "/"
        wanted = [r for r in self.expected.secret_refs if r.startswith(scope) or scope == "/"]
        if not wanted:
            self.observed("infisical", "secret_keys", live)
            return
        missing = []
        for ref in wanted:
            folder, _, key = ref.rstrip("/").rpartition("/")
            if key not in keys.get(folder or "/", set()):
                missing.append(ref)
        self.add("infisical", "secret_keys", missing=sorted(missing), live=live)

    def row_authentik(self) -> None:
        ak = self.readable("authentik", "versions", "version")
        if ak is not None:
            self.observed("authentik", "versions", str(ak.get("version")))
        ak = self.readable("authentik", "outposts", "outposts")
        if ak is not None:
            names = [str(o) for o in as_list(ak.get("outposts"))]
            self.observed("authentik", "outposts", f"{len(names)} ({', '.join(names)})" if names else "0")


def _apply_allowances(cells: list[DriftCell], allowances: list[Allowance]) -> tuple[list[DriftCell], list[str]]:
    used: set[int] = set()
    out: list[DriftCell] = []
    for cell in cells:
        mine = [(i, a) for i, a in enumerate(allowances) if (a.system, a.attribute) == (cell.system, cell.attribute)]
        picked: dict[str, list[str]] = {"missing": [], "extra": [], "changed": []}
        names = {"missing": list(cell.missing), "extra": list(cell.extra), "changed": [c.key for c in cell.changed]}
        for kind, values in names.items():
            for value in values:
                hits = [i for i, a in mine if a.covers(kind, value)]
                if hits:
                    picked[kind].append(value)
                    used.update(hits)
        out.append(
            replace(
                cell,
                allowed_missing=tuple(picked["missing"]),
                allowed_extra=tuple(picked["extra"]),
                allowed_changed=tuple(picked["changed"]),
            )
        )
    unused = [str(a) for i, a in enumerate(allowances) if i not in used]
    return out, unused


def drift_matrix(contracts: Contracts | Expected, baseline: Mapping[str, Any]) -> DriftMatrix:
    """Compare a capture (or a baseline file's data) with the contracts; see the module docstring for the cells."""
    expected = (
        contracts
        if isinstance(contracts, Expected)
        else Expected.from_contracts(contracts, str(baseline.get("environment") or "") or None)
    )
    cells = _Builder(expected, baseline).build()
    cells, unused = _apply_allowances(cells, expected.allowances())
    errors = tuple(
        f"{e.get('system')}.{e.get('attribute')}: {error_text(e)}"
        for e in (mapping(x) for x in as_list(baseline.get("errors")))
    )
    return DriftMatrix(
        tuple(cells),
        str(baseline.get("environment") or ""),
        baseline.get("sandbox") is True,
        str(baseline.get("captured_at") or ""),
        errors,
        tuple(unused),
    )


def write_report(matrix: DriftMatrix | Mapping[str, str], directory: Path, run_key: str) -> Path:
    """Write `<run_key>.drift.json` and `<run_key>.drift.md` into `directory` (registered secrets masked).

    `matrix` is a DriftMatrix, or the probe's `details["drift"]` mapping (`json` and `markdown` texts), which
    can travel from an xdist worker to the controller that writes the receipt. Returns the JSON file's path.
    """
    if isinstance(matrix, DriftMatrix):
        json_text, markdown = matrix.to_json(), matrix.to_markdown()
    else:
        json_text, markdown = str(matrix["json"]), str(matrix["markdown"])
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / f"{run_key}.drift.json"
    json_path.write_text(REDACTOR.mask(json_text), encoding="utf-8")
    (directory / f"{run_key}.drift.md").write_text(REDACTOR.mask(markdown), encoding="utf-8")
    return json_path
