"""Contract hygiene gates: D900 schema validity, D903 gap links, D906 environment targets."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from infracore_verify.contracts.findings import SENSITIVE_KEY, Finding, did_you_mean
from infracore_verify.contracts.loader import Document
from infracore_verify.contracts.model import as_list
from infracore_verify.contracts.urls import display_url, has_userinfo
from infracore_verify.gates.checks.base import ALL_CONTRACTS, ContractView, native_gate

OPEN_GAP_STATES = ("open", "accepted")
LOOPBACK_NAMES = ("localhost",)
PUBLIC_VENDOR_HOSTS = ("api.cloudflare.com",)
"""SaaS API hosts that are the same for every operator, so an example may name them."""


@native_gate("D900", reads=ALL_CONTRACTS)
def check_contract_schemas(c: ContractView) -> Iterator[Finding]:
    """Checks that every contract file parses and validates against its JSON Schema."""
    # The engine loads every declared contract before calling a gate and fails the gate with the
    # loader's findings (syntax, duplicate keys, schema) when one does not load; nothing is left here.
    return iter(())


@native_gate("D903", reads=("gaps", "registry"))
def check_gap_links(c: ContractView) -> Iterator[Finding]:
    """Checks that every operational gap links registered gates, and open gaps link at least one."""
    doc, registry = c["gaps"], c.registry
    seen: dict[str, int] = {}
    for i, gap in enumerate(as_list(doc.data.get("gaps"))):
        if not isinstance(gap, dict):
            continue
        where = ("gaps", i)
        gap_id = str(gap.get("id", ""))
        if gap_id in seen:
            yield doc.finding(
                (*where, "id"),
                f"gap id '{gap_id}' is used twice (first at line {doc.line(('gaps', seen[gap_id]))})",
                "give each gap its own id",
            )
        seen.setdefault(gap_id, i)
        linked: list[tuple[tuple[str | int, ...], str]] = [
            (("gate_ids", j), str(g)) for j, g in enumerate(as_list(gap.get("gate_ids")))
        ]
        lock = gap.get("regression_lock_id")
        if isinstance(lock, str) and re.fullmatch(r"D\d+", lock):
            linked.append((("regression_lock_id",), lock))
        status = str(gap.get("status", ""))
        if status in OPEN_GAP_STATES and not linked:
            yield doc.finding(
                where,
                f"{status} gap '{gap_id}' links no gate",
                "add gate_ids: [D...] naming the gates it affects",
            )
        for sub, gate_id in linked:
            gate = registry.by_id.get(gate_id)
            if gate is None:
                yield doc.finding(
                    (*where, *sub),
                    f"gap '{gap_id}' links '{gate_id}', which is not a registered gate{did_you_mean(gate_id, registry.by_id)}",
                    "fix the id or register the gate",
                )
            elif gate.retired and status in OPEN_GAP_STATES:
                yield doc.finding(
                    (*where, *sub),
                    f"open gap '{gap_id}' links retired gate '{gate_id}'",
                    "link the gate that replaced it",
                )
        if gap.get("severity") in ("high", "critical") and status in ("fixed", "closed") and not lock:
            yield doc.finding(
                where,
                f"{status} {gap.get('severity')} gap '{gap_id}' has no regression_lock_id",
                "name the gate that keeps it fixed",
            )


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _literal_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_reference(data: dict[Any, Any]) -> bool:
    return len(data) == 1 and next(iter(data)) in ("env", "secret") and isinstance(next(iter(data.values())), str)


def _secret_literals(doc: Document, data: Any, parts: tuple[str | int, ...]) -> Iterator[Finding]:
    if isinstance(data, dict) and _is_reference(data):
        return
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, str) and SENSITIVE_KEY.search(str(key)) and value and not value.startswith("<"):
                yield doc.finding(
                    (*parts, key),
                    f"'{key}' holds a literal value (secrets never live in contracts)",
                    "write {env: VARIABLE} or {secret: /path/KEY} instead",
                )
            else:
                yield from _secret_literals(doc, value, (*parts, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _secret_literals(doc, value, (*parts, i))


def _userinfo_urls(doc: Document, data: Any, parts: tuple[str | int, ...]) -> Iterator[Finding]:
    """Every URL of an environment file: no user name or password before the host (never echoed)."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _userinfo_urls(doc, value, (*parts, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _userinfo_urls(doc, value, (*parts, i))
    elif isinstance(data, str) and "://" in data and has_userinfo(data):
        yield doc.finding(
            parts,
            f"{display_url(data)!r} holds a URL with a user name or password (user:password@ before the host)",
            "remove it from the URL; give credentials under credentials: as {env: VAR} or {secret: /path/KEY}",
        )


@native_gate("D906", reads=("environments",))
def check_environment_targets(c: ContractView) -> Iterator[Finding]:
    """Checks that the sandbox targets only loopback and examples hold placeholders, with no literal secret."""
    for doc in c.environments():
        data = doc.data
        stem = doc.path.stem
        if data.get("name") != stem:
            yield doc.finding(
                ("name",),
                f"name {data.get('name')!r} differs from the file name '{stem}'",
                f"set name: {stem}",
            )
        kind = data.get("kind")
        example = stem.startswith("example")
        yield from _secret_literals(doc, data, ())
        yield from _userinfo_urls(doc, data, ())
        addresses: list[tuple[tuple[str | int, ...], str]] = [
            (("systems", name, "base_url"), str((entry or {}).get("base_url", "")))
            for name, entry in (data.get("systems") or {}).items()
        ]
        addresses += [
            (("hosts", name, "address"), str((entry or {}).get("address", "")))
            for name, entry in (data.get("hosts") or {}).items()
        ]
        for path, value in addresses:
            host = value if path[0] == "hosts" else (urlsplit(value).hostname or "")
            if kind == "sandbox":
                if value != "sandbox" and not _is_loopback(host):
                    yield doc.finding(
                        path,
                        f"the sandbox environment points at {display_url(value)!r}",
                        "use 'sandbox' or a 127.0.0.1 / ::1 address",
                    )
            elif (
                example
                and host
                and not host.startswith("<")
                and host not in PUBLIC_VENDOR_HOSTS
                and (_literal_ip(host) or "." in host)
            ):
                yield doc.finding(
                    path,
                    f"the example environment holds a real-looking address {display_url(value)!r}",
                    "use a placeholder such as <vaultwarden-host>",
                )
