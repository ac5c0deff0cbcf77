"""The drift matrix: what the contracts say against what a capture saw, per system and attribute (pure).

`drift_matrix(contracts, baseline)` compares a capture (`smoke/capture.py`, or a baseline file read back) with
the contract set. Rows are the systems, columns the attributes; every cell lists

    missing   in the contracts, not live
    extra     live, not in the contracts
    changed   the same key with a different value (`key (expected -> live)`)

| system | attribute | compared with | kind |
| --- | --- | --- | --- |
| every baseline system | presence | `infra.core.baseline.contract.yaml` systems vs the captured systems | exact |
| cloudflare | zones | inventory `zones[].name` | exact |
| cloudflare | tunnels | inventory `tunnels[].name`; changed: a different tunnel id | exact |
| cloudflare | ingress | inventory `tunnels[].ingress[].hostname`, for tunnels present on both sides and managed remotely (a locally managed tunnel's ingress is not readable from the API: noted, not compared); `host (tunnel name)` | exact |
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

Layout: this module holds the comparison; the cells, the matrix and `Expected` are in `drift_model.py`, the
Markdown renderer and `write_report` in `drift_report.py` (all re-exported here).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from infracore_verify.contracts.model import SYSTEMS, as_list, mapping
from infracore_verify.contracts.sets import Contracts
from infracore_verify.smoke.drift_model import (
    ATTRIBUTES,
    FORMAT,
    SYSTEM_ATTRIBUTES,
    TUNNEL_TARGET,
    Allowance,
    Change,
    DriftCell,
    DriftContractError,
    DriftMatrix,
    Expected,
)
from infracore_verify.smoke.drift_report import render_markdown, write_report

__all__ = [
    "ATTRIBUTES",
    "FORMAT",
    "SYSTEM_ATTRIBUTES",
    "TUNNEL_TARGET",
    "Allowance",
    "Change",
    "DriftCell",
    "DriftContractError",
    "DriftMatrix",
    "Expected",
    "drift_matrix",
    "error_text",
    "render_markdown",
    "write_report",
]

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
        local: list[str] = []
        for tunnel in inv_tunnels:
            name = str(tunnel.get("name"))
            live = mapping(live_tunnels.get(name))
            if not live:
                continue  # a missing tunnel is reported once, under tunnels
            if "ingress" not in live and live.get("ingress_source") in ("local", "unknown"):
                local.append(name)  # cloudflared's own file holds the ingress: not readable, not drift
                continue
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
        note = f"; managed locally, not readable from the API: {', '.join(local)}" if local else ""
        self.add("cloudflare", "ingress", missing=missing, extra=extra, live=f"{rules} hostnames{note}")

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
