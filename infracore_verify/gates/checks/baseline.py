"""Infra-core gates: D320 baseline contract lock, D149 service parity, D902 system presence."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from infracore_verify.contracts.findings import Finding, did_you_mean
from infracore_verify.contracts.loader import Document, Key, load_document
from infracore_verify.contracts.model import RECOVERY_TYPES, SYSTEMS, Registry, as_list, mapping
from infracore_verify.gates.checks.base import ContractView, native_gate
from infracore_verify.gates.checks.recovery import LEGACY_FIX, actions, retry_problems

SMOKE_RUNNER = "ops/runtime/infra-core-smoke.sh"


def systems(data: Any) -> dict[str, Any]:
    """Return the `systems` mapping of the baseline contract."""
    value = data.get("systems") if isinstance(data, dict) else None
    return value if isinstance(value, dict) else {}


@native_gate("D320", reads=("baseline", "recovery", "slo", "registry"))
def check_baseline_contract(c: ContractView) -> Iterator[Finding]:
    """Checks the infra-core baseline: four systems, authority, recovery wiring with type parity, auth posture."""
    doc, rec_doc = c["baseline"], c["recovery"]
    by_id = {str(a.get("id")): (i, a) for i, a in reversed(list(enumerate(actions(rec_doc))))}
    registry = c.registry
    yield from _legacy_actions(rec_doc)
    all_systems = systems(doc.data)
    for name in SYSTEMS:
        entry = all_systems.get(name)
        if not isinstance(entry, dict):
            yield doc.finding(
                ("systems",), f"system '{name}' is missing", f"add systems.{name} to the baseline contract"
            )
            continue
        yield from _system_ownership(doc, name, entry)
        yield from _self_heal(doc, rec_doc, name, entry, by_id, registry)
    yield from _required_service_count(c["slo"])
    yield from _smoke_runner(c)


def _legacy_actions(rec_doc: Document) -> Iterator[Finding]:
    """Recovery actions that still use the unsupported legacy type `capability_rerun`."""
    for i, action in enumerate(actions(rec_doc)):
        if (action.get("recovery") or {}).get("type") == "capability_rerun":
            yield rec_doc.finding(
                ("actions", i, "recovery", "type"),
                f"unsupported legacy recovery type 'capability_rerun' in action '{action.get('id')}'",
                LEGACY_FIX,
            )


def _system_ownership(doc: Document, name: str, entry: dict[str, Any]) -> Iterator[Finding]:
    """A system's authority and auth posture."""
    where: Key = ("systems", name)
    authority = str(entry.get("authority") or "").strip()
    if not authority or authority == "null":
        yield doc.finding(
            where, f"{name}: authority is empty", "set authority (who owns this system, e.g. '@operator')"
        )
    posture = entry.get("auth_posture")
    if not isinstance(posture, dict) or not posture:
        yield doc.finding(
            (*where, "auth_posture") if "auth_posture" in entry else where,
            f"{name}: auth_posture must be a non-empty mapping",
            "describe preferred_mode and contract_rule as keys",
        )


def _self_heal(
    doc: Document,
    rec_doc: Document,
    name: str,
    entry: dict[str, Any],
    by_id: dict[str, tuple[int, dict[str, Any]]],
    registry: Registry,
) -> Iterator[Finding]:
    """A system's self_heal block, then its binding to the recovery action it names."""
    heal = mapping(entry.get("self_heal"))
    hw: Key = ("systems", name, "self_heal")
    action_id = str(heal.get("recovery_action_id") or "")
    yield from _self_heal_fields(doc, name, heal, registry)
    if not action_id:
        return
    if action_id not in by_id:
        yield doc.finding(
            (*hw, "recovery_action_id"),
            f"{name}: recovery action '{action_id}' does not exist in recovery.actions.yaml{did_you_mean(action_id, by_id)}",
            "add the action or fix the id",
        )
        return
    index, action = by_id[action_id]
    yield from _self_heal_binding(doc, rec_doc, name, heal, index, action)


def _self_heal_fields(doc: Document, name: str, heal: dict[str, Any], registry: Registry) -> Iterator[Finding]:
    """The self_heal block on its own: an action id, a supported recovery type, registered trigger gates."""
    hw: Key = ("systems", name, "self_heal")
    rtype = str(heal.get("recovery_type") or "")
    if not str(heal.get("recovery_action_id") or ""):
        yield doc.finding(
            hw,
            f"{name}: self_heal.recovery_action_id is not set",
            "name the action in recovery.actions.yaml",
        )
    if rtype == "capability_rerun":
        yield doc.finding(
            (*hw, "recovery_type"),
            f"{name}: unsupported legacy recovery type 'capability_rerun'",
            LEGACY_FIX,
        )
    elif rtype not in RECOVERY_TYPES:
        yield doc.finding(
            (*hw, "recovery_type") if rtype else hw,
            f"{name}: recovery_type '{rtype}' is not supported{did_you_mean(rtype, RECOVERY_TYPES)}",
            "use one of: " + ", ".join(RECOVERY_TYPES),
        )
    for j, gate_id in enumerate(str(g) for g in as_list(heal.get("trigger_gate_ids"))):
        if gate_id not in registry.by_id:
            yield doc.finding(
                (*hw, "trigger_gate_ids", j),
                f"{name}: trigger gate '{gate_id}' is not registered{did_you_mean(gate_id, registry.by_id)}",
                "register it or fix the id",
            )


def _self_heal_binding(
    doc: Document, rec_doc: Document, name: str, heal: dict[str, Any], index: int, action: dict[str, Any]
) -> Iterator[Finding]:
    """The self_heal block against its recovery action: type parity, retry numbers, triggers, failure class."""
    hw: Key = ("systems", name, "self_heal")
    action_id = str(heal.get("recovery_action_id") or "")
    rtype = str(heal.get("recovery_type") or "")
    recovery = mapping(action.get("recovery"))
    bound_type = str(recovery.get("type") or "")
    if rtype and bound_type and rtype != bound_type:
        yield doc.finding(
            (*hw, "recovery_type"),
            f"{name}: contract/binding recovery type mismatch (contract '{rtype}', action '{action_id}' has '{bound_type}')",
            "make recovery_type equal the action's recovery.type",
        )
    if bound_type == "capability_retry":
        for field, message, fix in retry_problems(recovery):
            yield rec_doc.finding(("actions", index, "recovery", field), f"{name}: {message}", fix)
    yield from _self_heal_triggers(doc, rec_doc, name, heal, index, action)
    trigger = mapping(action.get("trigger"))
    contract_class = heal.get("failure_class") or "deterministic"
    bound_class = trigger.get("failure_class") or "deterministic"
    if contract_class != bound_class:
        yield doc.finding(
            (*hw, "failure_class"),
            f"{name}: failure_class '{contract_class}' differs from action '{action_id}' ('{bound_class}')",
            "make the two failure classes agree",
        )


def _self_heal_triggers(
    doc: Document, rec_doc: Document, name: str, heal: dict[str, Any], index: int, action: dict[str, Any]
) -> Iterator[Finding]:
    """The bound action has explicit trigger gates, and they include the system's trigger gates."""
    action_id = str(heal.get("recovery_action_id") or "")
    triggers = [str(g) for g in as_list(heal.get("trigger_gate_ids"))]
    bound_ids = [str(g) for g in as_list(mapping(action.get("trigger")).get("gate_ids"))]
    if not bound_ids:
        yield rec_doc.finding(
            ("actions", index, "trigger"),
            f"{name}: action '{action_id}' has no trigger gate ids (the ops dispatcher treats that as every gate)",
            f"set trigger.gate_ids: [{', '.join(triggers) or 'D...'}]",
        )
    for gate_id in triggers:
        if bound_ids and gate_id not in bound_ids:
            yield doc.finding(
                ("systems", name, "self_heal", "trigger_gate_ids"),
                f"{name}: trigger gate '{gate_id}' is not a trigger of action '{action_id}' (its triggers: {', '.join(bound_ids)})",
                "make self_heal.trigger_gate_ids and the action's trigger.gate_ids agree",
            )


def _required_service_count(slo: Document) -> Iterator[Finding]:
    """The SLO names at least the four infra-core services."""
    required = as_list((slo.data.get("target") or {}).get("required_service_ids"))
    if len(required) < 4:
        yield slo.finding(
            ("target", "required_service_ids"),
            f"the SLO lists {len(required)} required services, fewer than 4",
            "list the infra-core services (caddy, authentik, vaultwarden, infisical, cloudflared)",
        )


def _smoke_runner(c: ContractView) -> Iterator[Finding]:
    """In the ops layout, the smoke runner exists and is executable."""
    if c.contracts.layout == "ops":
        runner = c.contracts.root / SMOKE_RUNNER
        if not runner.is_file() or not os.access(runner, os.X_OK):
            yield Finding(
                c.contracts.display(runner),
                0,
                "",
                "the smoke runner is missing or not executable",
                f"chmod +x {SMOKE_RUNNER}",
            )


def _expect_ok(expect: Any) -> bool:
    codes = [expect] if isinstance(expect, int) and not isinstance(expect, bool) else str(expect).split(",")
    return all(re.fullmatch(r"\s*[1-5]\d\d\s*", str(code)) for code in codes)


@native_gate("D149", reads=("slo", "health"))
def check_service_parity(c: ContractView) -> Iterator[Finding]:
    """Checks that every SLO service has one enabled health endpoint on the target host with a URL and code."""
    slo, health = c["slo"], c["health"]
    target = slo.data.get("target") or {}
    host = str(target.get("host") or "")
    if not host:
        yield slo.finding(("target",), "target.host is not set", "set target.host (e.g. infra-core)")
    required = [str(s) for s in as_list(target.get("required_service_ids"))]
    optional = [str(s) for s in as_list(target.get("optional_service_ids"))]
    if not required:
        yield slo.finding(("target",), "required_service_ids is empty", "list the services the SLO covers")
    for key, ids in (("required_service_ids", required), ("optional_service_ids", optional)):
        for service, count in Counter(ids).items():
            if count > 1:
                yield slo.finding(
                    ("target", key), f"service '{service}' is listed {count} times", "list each service once"
                )
    endpoints, duplicates = _endpoint_index(health)
    yield from duplicates
    for kind, ids in (("required", required), ("optional", optional)):
        for service in dict.fromkeys(ids):
            if service not in endpoints:
                yield slo.finding(
                    ("target", f"{kind}_service_ids"),
                    f"{kind} service '{service}' has no endpoint in services.health.yaml{did_you_mean(service, endpoints)}",
                    f"add an endpoint with id: {service}",
                )
                continue
            yield from _service_endpoint(health, kind, service, endpoints[service], host)
    yield from _service_registry_hosts(c, host, required)


def _endpoint_index(health: Document) -> tuple[dict[str, int], list[Finding]]:
    """Return endpoint id -> index of its first entry, and a finding for each id defined again."""
    endpoints: dict[str, int] = {}
    duplicates: list[Finding] = []
    for i, endpoint in enumerate(as_list(health.data.get("endpoints"))):
        endpoint_id = str((endpoint or {}).get("id", ""))
        if endpoint_id in endpoints:
            duplicates.append(
                health.finding(
                    ("endpoints", i, "id"),
                    f"endpoint id '{endpoint_id}' is defined twice (first at line {health.line(('endpoints', endpoints[endpoint_id]))}, which wins)",
                    "remove or rename the second entry",
                )
            )
        else:
            endpoints[endpoint_id] = i
    return endpoints, duplicates


def _service_endpoint(health: Document, kind: str, service: str, index: int, host: str) -> Iterator[Finding]:
    """One SLO service's health endpoint: on the target host, enabled when required, an http(s) URL, a status."""
    endpoint = as_list(health.data.get("endpoints"))[index]
    where = ("endpoints", index)
    if host and endpoint.get("host") != host:
        yield health.finding(
            (*where, "host"),
            f"endpoint '{service}' runs on host {endpoint.get('host')!r}, but the SLO target host is '{host}'",
            f"set host: {host}",
        )
    if kind == "required" and endpoint.get("enabled", True) is not True:
        yield health.finding(
            (*where, "enabled"),
            f"required service '{service}' is disabled (enabled: {json.dumps(endpoint.get('enabled'))})",
            "enable it, or move it to optional_service_ids",
        )
    url = str(endpoint.get("url") or "")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        yield health.finding(
            (*where, "url") if url else where,
            f"endpoint '{service}' has no http(s) URL ({url!r})",
            "set url: http://<host>:<port>/<path>",
        )
    if not _expect_ok(endpoint.get("expect", 200)):
        yield health.finding(
            (*where, "expect"),
            f"endpoint '{service}' expects {endpoint.get('expect')!r}, not an HTTP status or comma list of them",
            'write e.g. 200 or "401,403"',
        )


def _service_registry_hosts(c: ContractView, host: str, required: list[str]) -> Iterator[Finding]:
    """In a checkout with docs/governance/SERVICE_REGISTRY.yaml, the required services are on the target host."""
    registry_file = c.contracts.root / "docs" / "governance" / "SERVICE_REGISTRY.yaml"
    if host and registry_file.is_file():
        service_doc = load_document("service_registry", registry_file, c.contracts.display(registry_file), None)
        services = service_doc.data.get("services") if isinstance(service_doc.data, dict) else None
        yield from service_doc.errors
        for service in required:
            entry = (services or {}).get(service)
            if isinstance(entry, dict) and entry.get("host") != host:
                yield service_doc.finding(
                    ("services", service, "host"),
                    f"service '{service}' is on host {entry.get('host')!r} in the service registry, not '{host}'",
                    f"set host: {host}",
                )


@native_gate("D902", reads=("baseline", "registry", "capabilities"))
def check_system_presence(c: ContractView) -> Iterator[Finding]:
    """Checks that each baseline system has a gate and a smoke capability, and that its smoke capabilities exist."""
    doc = c["baseline"]
    caps = c["capabilities"].data.get("capabilities") or {}
    registry = c.registry
    for name, entry in systems(doc.data).items():
        if not isinstance(entry, dict):
            continue
        where = ("systems", name)
        heal = mapping(entry.get("self_heal"))
        triggers = {str(g) for g in as_list(heal.get("trigger_gate_ids"))}
        gates = [g.id for g in registry.active if name in g.systems or g.id in triggers]
        if not gates:
            yield doc.finding(
                where,
                f"system '{name}' has no gate",
                f"add '{name}' to the systems list of a gate in gate.registry.yaml (or a trigger gate to self_heal)",
            )
        lifecycle = mapping(entry.get("lifecycle_requirements"))
        smoke = [str(s) for s in as_list(lifecycle.get("smoke_capabilities"))]
        if not smoke:
            yield doc.finding(
                (*where, "lifecycle_requirements"),
                f"system '{name}' lists no smoke capability",
                "list at least one in lifecycle_requirements.smoke_capabilities",
            )
        for i, capability in enumerate(smoke):
            if capability not in caps:
                yield doc.finding(
                    (*where, "lifecycle_requirements", "smoke_capabilities", i),
                    f"smoke capability '{capability}' of {name} is not declared in capabilities.yaml{did_you_mean(capability, caps)}",
                    "declare it in capabilities.yaml or fix the name",
                )
