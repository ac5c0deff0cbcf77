"""Ported ops gates on orchestration wiring: D331 orchestrator closeout, D349 prompt lineage, D350 experiment compare.

D331's static steps are native; its git harness (an integration test of the repository's wave.sh) still
runs as a subprocess, and a missing git is a gate bug ("tool git missing"), not a FAIL. D349's EXEC
receipt emitter runs unguarded in the ops script: where it would reject its fixed arguments the port fails
as a gate bug naming it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import yaml

from infracore_verify.contracts import loader
from infracore_verify.contracts.findings import Finding
from infracore_verify.gates.checks.base import ContractView, native_gate
from infracore_verify.gates.checks.ops_common import (
    MISSING,
    GateBugError,
    OpsRepo,
    as_items,
    flag,
    get,
    repo,
    yq_length,
    yq_text,
    yq_truthy,
)

CAPS = "ops/capabilities.yaml"
MAP = "ops/bindings/capability_map.yaml"
DISPATCH = "ops/bindings/routing.dispatch.yaml"
MANIFEST = "ops/plugins/MANIFEST.yaml"
PACKET_CONTRACT = "ops/bindings/orchestration.packet.contract.yaml"
CLOSEOUT = "ops/plugins/ops/bin/coordinator-lane-closeout"
WAVE = "ops/commands/wave.sh"
HARNESS = "surfaces/verify/lib/wave_hardening_regression.py"
HARNESS_TIMEOUT_SECONDS = 300
CLOSEOUT_MARKERS = (
    "verify_fast", "friction_reconcile", "loops_status", "gaps_status", "proposals_status", "friction_queue_status",
    "worktree_cleanup", "friction.reconcile -- --loop-id", "verify.run -- fast", "worktree.lifecycle.cleanup -- --mode",
)  # fmt: skip
WAVE_MARKERS = (
    'dispatch_pushability_preflight "$sf" "$lane"',
    '"remote", "get-url", remote',
    '"push", "--dry-run", remote',
    "control_lane_override",
    "force-close denied while dispatches are pending without stub evidence",
)


def _text(r: OpsRepo, rel: str) -> str:
    return r.path(rel).read_text(encoding="utf-8", errors="replace")


def _manifest_lists(r: OpsRepo, field: str, value: str) -> bool:
    """Return True when MANIFEST's `evidence` plugin lists `value` under `field` (yq select, any match)."""
    doc = r.load(MANIFEST)
    return any(
        isinstance(p, dict) and p.get("name") == "evidence" and value in as_items(p.get(field))
        for p in as_items(get(doc.data, "plugins"))
    )


# --- D331 ---------------------------------------------------------------------------------------------


@native_gate("D331", reads=())
def check_orchestrator_closeout(c: ContractView) -> Iterator[Finding]:
    """Checks orchestrator packets and closeout wiring, then runs the wave.sh regression harness (ops D331)."""
    r = repo(c)
    if (missing := r.first_missing((PACKET_CONTRACT, CAPS, MAP, DISPATCH, MANIFEST))) is not None:
        yield missing
        return
    if not (r.path(CLOSEOUT).is_file() and r.executable(CLOSEOUT)):
        yield r.file_finding(CLOSEOUT, f"missing executable: {CLOSEOUT}", "restore it and make it executable")
        return
    if (missing := r.first_missing((WAVE, HARNESS))) is not None:
        yield missing
        return
    static = list(_wiring(r)) or list(_contract_and_packets(r))
    if static:
        yield from static
        return
    yield from _harness(r)


def _wiring(r: OpsRepo) -> Iterator[Finding]:
    """Steps 2-4: capability wiring, closeout and wave.sh markers, the contract's required field lists."""
    line_key = re.compile(r"^\s*coordinator.lane.closeout:", re.MULTILINE)
    for rel in (CAPS, MAP, DISPATCH):
        if not line_key.search(_text(r, rel)):
            yield r.file_finding(rel, f"{rel} missing coordinator.lane.closeout", "wire the capability")
            return
    if not re.search(r"coordinator.lane.closeout", _text(r, MANIFEST)):
        yield r.file_finding(MANIFEST, f"{MANIFEST} missing coordinator.lane.closeout", "list it in the MANIFEST")
        return
    for rel, markers in ((CLOSEOUT, CLOSEOUT_MARKERS), (WAVE, WAVE_MARKERS)):
        text = _text(r, rel)
        for marker in markers:
            if marker not in text:
                yield r.file_finding(rel, f"{rel} missing required marker: {marker}", "restore the closeout control")
                return
    doc = r.load(PACKET_CONTRACT)
    if doc.errors:
        yield from doc.errors
        return
    required = [yq_text(v) for v in as_items(get(doc.data, "required_fields"))]
    for name in ("cross_repo_pushability_gate", "lane_outcomes", "stub_matrix", "plan_transition"):
        if name not in required:
            yield doc.finding(("required_fields",), f"contract required_fields missing {name}", f"add {name}")
            return
    if "run_key" not in [
        yq_text(v) for v in as_items(get(doc.data, "field_schemas", "verification_sequence", "items", "required"))
    ]:
        yield doc.finding(
            ("field_schemas",), "contract verification_sequence items must require run_key", "add run_key"
        )


def _names(value: Any) -> list[str]:
    return [str(x).strip() for x in value if str(x).strip()] if isinstance(value, list) else []


def _contract_and_packets(r: OpsRepo) -> Iterator[Finding]:
    """Step 5: the contract's isolation rules and every orchestrator_subagents packet."""
    doc = r.load(PACKET_CONTRACT)
    data = doc.data if isinstance(doc.data, dict) else {}
    required, closeout = _names(data.get("required_fields")), _names(data.get("closeout_fields"))
    items: list[str] = []
    if len(required) < 5 or len(closeout) < 3:
        items.append(
            f"contract needs >=5 required_fields and >=3 closeout_fields (got {len(required)}/{len(closeout)})"
        )
    if get(data, "isolation", "worktree_rule") != "one_per_subagent":
        items.append("contract isolation.worktree_rule must be one_per_subagent")
    if get(data, "isolation", "collision_guard", "enforce") is not True:
        items.append("contract isolation.collision_guard.enforce must be true")
    template = get(data, "artifact", "template")
    if template not in (MISSING, None, "") and not (r.root / str(template)).exists():
        items.append(f"contract artifact.template does not exist: {template}")
    base = r.path("mailroom/state/orchestration")
    for loop in sorted(p for p in base.glob("LOOP-*") if p.is_dir()) if base.is_dir() else []:
        packet = loop / "packet.yaml"
        rel = r.display(packet)
        if not packet.is_file():
            items.append(f"{rel}: missing packet.yaml")
            continue
        try:
            # A packet may hold several documents; the ops snippet uses the first mapping (safe_load_all).
            docs = list(yaml.load_all(packet.read_text(encoding="utf-8"), Loader=loader._Loader))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            items.append(f"{packet}: yaml_parse_error={str(exc).splitlines()[0]}")
            continue
        packet_data = next((d for d in docs if isinstance(d, dict)), {})
        if packet_data.get("execution_mode") == "orchestrator_subagents":
            items += _packet_items(rel, packet_data, required + closeout)
    if items:
        yield doc.finding(
            (), f"{len(items)} orchestrator packet contract violation(s)", "fix the packets or the contract"
        )
        yield from (r.file_finding(PACKET_CONTRACT, f"  - {item}") for item in items)


def _packet_items(rel: str, packet: dict[Any, Any], fields: list[str]) -> list[str]:
    """Return one packet's violations."""
    out = [f"{rel}::missing_field::{f}" for f in fields if packet.get(f) is None or not str(packet.get(f)).strip()]
    sequence = packet.get("verification_sequence")
    if not isinstance(sequence, list) or not sequence:
        out.append(f"{rel}::verification_sequence must be a non-empty list")
    else:
        for i, step in enumerate(sequence):
            if not isinstance(step, dict) or not str(step.get("run_key") or "").strip():
                out.append(f"{rel}::verification_sequence[{i}] missing run_key")
    lanes = packet.get("lane_outcomes")
    if not isinstance(lanes, list):
        out.append(f"{rel}::lane_outcomes must be a list")
    else:
        for i, lane in enumerate(lanes):
            if isinstance(lane, dict) and lane.get("lane_status") == "PENDING_CLOSEOUT":
                out.append(f"{rel}::lane {lane.get('lane_id') or f'idx-{i}'} is PENDING_CLOSEOUT")
    return out


def _harness(r: OpsRepo) -> Iterator[Finding]:
    """Step 6: run the repository's wave.sh regression harness; a missing git or bash is a gate bug."""
    for tool in ("git", "bash"):
        if shutil.which(tool) is None:
            raise GateBugError(f"tool {tool} missing or incompatible (found: none); D331's wave.sh harness needs it")
    env = {**os.environ, "SPINE_ROOT": str(r.root)}
    try:
        proc = subprocess.run(
            [sys.executable, str(r.path(HARNESS)), str(r.root)],
            cwd=r.root, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=HARNESS_TIMEOUT_SECONDS, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise GateBugError(f"{HARNESS} did not finish within {HARNESS_TIMEOUT_SECONDS}s") from None
    if proc.returncode != 0:
        tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-5:])
        yield r.file_finding(
            HARNESS, f"wave.sh regression harness failed (exit {proc.returncode}): {tail}", "run the harness by hand"
        )


# --- D349 ---------------------------------------------------------------------------------------------

PROMPTS = "ops/bindings/prompt.registry.yaml"
RECEIPT_SCHEMA = "ops/bindings/orchestration.exec_receipt.schema.json"
EMITTER = "ops/plugins/evidence/bin/receipts-exec-emit"
PROMPT_STATUS = "ops/plugins/evidence/bin/prompt-registry-status"
SAMPLE = {"lane": "control", "status": "done", "resolution": "defaults"}
SAMPLE_RUN_KEY = "CAP-20260305-010101__prompt.registry.status__Rtest0001"


def _yq_checks(r: OpsRepo, checks: Sequence[tuple[str, tuple[str, ...], str]]) -> Iterator[Finding]:
    """Yield the first failing `yq -e <path>` check (a file that does not parse fails it too)."""
    for rel, keys, message in checks:
        doc = r.load(rel, reuse=True)
        if doc.errors or not yq_truthy(get(doc.data, *keys)):
            why = f" ({doc.errors[0].render()})" if doc.errors else ""
            yield r.file_finding(rel, message + why, "wire it")
            return


@native_gate("D349", reads=())
def check_prompt_lineage(c: ContractView) -> Iterator[Finding]:
    """Checks the prompt registry, its capability triad, and that spine.init resolves a prompt lineage (ops D349)."""
    r = repo(c)
    if (missing := r.first_missing((PROMPTS, CAPS, MAP, DISPATCH, MANIFEST, RECEIPT_SCHEMA))) is not None:
        yield missing
        return
    for rel, what in ((EMITTER, "emitter"), (PROMPT_STATUS, "prompt status")):
        if not r.executable(rel):
            yield r.file_finding(rel, f"missing {what} executable: {rel}", "restore it and make it executable")
            return
    cap = "prompt.registry.status"
    checks = [
        (PROMPTS, ("defaults", "prompt_set_id"), "prompt registry missing defaults.prompt_set_id"),
        (PROMPTS, ("defaults", "version"), "prompt registry missing defaults.version"),
        (CAPS, ("capabilities", cap), f"capabilities.yaml missing {cap}"),
        (MAP, ("capabilities", cap), f"capability_map.yaml missing {cap}"),
        (DISPATCH, ("dispatch", cap), f"routing.dispatch.yaml missing {cap}"),
    ]
    problems = list(_yq_checks(r, checks[:2]))
    if not problems and yq_length(get(r.load(PROMPTS).data, "defaults", "source_refs")) == 0:
        problems = [
            r.file_finding(PROMPTS, "prompt registry defaults.source_refs must be non-empty", "list the source refs")
        ]
    problems = problems or list(_yq_checks(r, checks[2:]))
    if not problems and not _manifest_lists(r, "capabilities", cap):
        problems = [r.file_finding(MANIFEST, f"MANIFEST evidence plugin missing {cap} capability", "list it")]
    if not problems and not _manifest_lists(r, "scripts", "bin/prompt-registry-status"):
        problems = [
            r.file_finding(MANIFEST, "MANIFEST evidence plugin missing prompt-registry-status script", "list it")
        ]
    if not problems and not _lineage_resolves(r.load(PROMPTS).data, "spine.init"):
        problems = [
            r.file_finding(
                PROMPTS,
                "prompt.registry.status failed for spine.init",
                "give spine.init a prompt_set_id, version and source_refs",
            )
        ]
    if problems:
        yield from problems
        return
    _emitter_accepts(r)


def _lineage_resolves(registry: Any, capability: str) -> bool:
    """Return True when prompt-registry-status would exit 0 for the capability."""
    defaults = get(registry, "defaults")
    defaults = defaults if isinstance(defaults, dict) else {}
    override = get(registry, "capability_overrides", capability)
    chosen = override if isinstance(override, dict) and override else {}

    def field(name: str) -> Any:
        value = chosen.get(name)
        return value if value not in (None, "") else defaults.get(name)

    refs = chosen["source_refs"] if "source_refs" in chosen else defaults.get("source_refs")
    if not str(field("prompt_set_id") or "").strip() or not str(field("version") or "").strip():
        return False
    return bool(refs) or not flag(get(registry, "resolution", "require_source_refs"))


def _emitter_accepts(r: OpsRepo) -> None:
    """Raise GateBugError when receipts-exec-emit would reject D349's fixed arguments against the schema."""
    path = r.path(RECEIPT_SCHEMA)
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise GateBugError(
            f"helper {EMITTER} cannot read {RECEIPT_SCHEMA}, so D349 prints no verdict",
            [r.file_finding(path, f"invalid JSON: {exc}", "fix the schema")],
        ) from None
    problems: list[Finding] = []
    for name, schema_part in _properties(schema):
        enum = schema_part.get("enum")
        if name in SAMPLE and isinstance(enum, list) and SAMPLE[name] not in enum:
            problems.append(r.file_finding(path, f"{name} enum {enum} lacks '{SAMPLE[name]}'", f"add '{SAMPLE[name]}'"))
        pattern = (
            (schema_part.get("items") or {}).get("pattern")
            if name == "run_keys"
            else schema_part.get("pattern")
            if name == "run_key"
            else None
        )
        if isinstance(pattern, str) and not re.search(pattern, SAMPLE_RUN_KEY):
            problems.append(
                r.file_finding(path, f"{name} pattern {pattern} rejects {SAMPLE_RUN_KEY}", "fix the pattern")
            )
    if problems:
        raise GateBugError(f"helper {EMITTER} would reject D349's fixed arguments, so D349 prints no verdict", problems)


def _properties(schema: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (property name, subschema) for every `properties` entry anywhere in a JSON Schema."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for name, sub in (node.get("properties") or {}).items() if isinstance(node.get("properties"), dict) else []:
                if isinstance(sub, dict):
                    yield name, sub
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


# --- D350 ---------------------------------------------------------------------------------------------

EXPERIMENT = "ops/bindings/spine.experiment.contract.yaml"
RECOVERY = "ops/bindings/recovery.actions.yaml"
COMPARE = "ops/plugins/evidence/bin/spine-experiment-compare"
HISTORY = "ops/plugins/verify/state/verify-failure-class-history.ndjson"
WINDOWS = (("2026-03-01", "2026-03-02"), ("2026-03-04", "2026-03-05"))


@native_gate("D350", reads=())
def check_experiment_compare(c: ContractView) -> Iterator[Finding]:
    """Checks spine.experiment.compare's contract, capability triad and recovery wiring, and its payload (ops D350)."""
    r = repo(c)
    cap = "spine.experiment.compare"
    if (missing := r.first_missing((EXPERIMENT, CAPS, MAP, DISPATCH, MANIFEST, RECOVERY))) is not None:
        yield missing
        return
    if not r.executable(COMPARE):
        yield r.file_finding(COMPARE, f"missing executable: {COMPARE}", "restore it and make it executable")
        return
    contract = r.load(EXPERIMENT)
    problems: list[Finding] = list(contract.errors)
    if not problems and get(contract.data, "authority", "capability") != cap:
        problems = [r.file_finding(EXPERIMENT, f"contract authority.capability must be {cap}", "fix the contract")]
    if not problems and get(contract.data, "authority", "script") != COMPARE:
        problems = [r.file_finding(EXPERIMENT, f"contract authority.script must be {COMPARE}", "fix the contract")]
    checks = [
        (CAPS, ("capabilities", cap), f"capabilities.yaml missing {cap}"),
        (MAP, ("capabilities", cap), f"capability_map.yaml missing {cap}"),
        (DISPATCH, ("dispatch", cap), f"routing.dispatch.yaml missing {cap}"),
    ]
    problems = problems or list(_yq_checks(r, checks))
    if not problems and not _manifest_lists(r, "capabilities", cap):
        problems = [r.file_finding(MANIFEST, f"MANIFEST evidence plugin missing {cap} capability", "list it")]
    if not problems and not _manifest_lists(r, "scripts", "bin/spine-experiment-compare"):
        problems = [
            r.file_finding(MANIFEST, "MANIFEST evidence plugin missing spine-experiment-compare script", "list it")
        ]
    if not problems and not _recovery_wired(r, cap):
        problems = [
            r.file_finding(
                RECOVERY, "recovery action recover-spine-experiment-compare-d350 is not wired to D350", "fix the action"
            )
        ]
    if problems:
        yield from problems
        return
    yield from _compare(r)


def _recovery_wired(r: OpsRepo, cap: str) -> bool:
    doc = r.load(RECOVERY, reuse=True)
    return any(
        isinstance(a, dict)
        and a.get("id") == "recover-spine-experiment-compare-d350"
        and "D350" in as_items(get(a, "trigger", "gate_ids"))
        and get(a, "recovery", "type") == "capability_retry"
        and get(a, "recovery", "capability") == cap
        for a in as_items(get(doc.data, "actions"))
    )


def _utc(raw: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(raw or "").strip().replace("Z", "+00:00")).astimezone(dt.UTC)
    except ValueError:
        return None


def _compare(r: OpsRepo) -> Iterator[Finding]:
    """Yield why spine-experiment-compare would crash or give a payload the gate rejects."""
    history = r.path(HISTORY)
    if not history.is_file():
        return
    totals = [0 for _ in WINDOWS]
    bounds = [
        (dt.datetime.fromisoformat(f"{a}T00:00:00+00:00"), dt.datetime.fromisoformat(f"{b}T00:00:00+00:00"))
        for a, b in WINDOWS
    ]
    for number, line in enumerate(history.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        try:
            row = json.loads(line) if line.strip() else None
        except ValueError:
            continue
        stamp = _utc(row.get("timestamp_utc")) if isinstance(row, dict) and row.get("timestamp_utc") else None
        if stamp is None or not isinstance(row, dict):
            continue
        result = row["result"] if isinstance(row.get("result"), dict) else {}
        classes = row["failure_class"] if isinstance(row.get("failure_class"), dict) else {}
        try:
            total = int(result.get("total") or 0)
            int(result.get("pass") or 0), int(result.get("fail") or 0)
            [len(classes.get(k) or []) for k in ("deterministic", "freshness", "gate_bug")]
        except (TypeError, ValueError) as exc:
            yield r.file_finding(
                history,
                f"spine-experiment-compare failed to execute: {type(exc).__name__}: {exc}",
                "fix or drop the row",
                number,
            )
            return
        for i, (start, end) in enumerate(bounds):
            totals[i] += total if start <= stamp < end else 0
    for (name, _), total in zip((("baseline", 0), ("candidate", 1)), totals, strict=True):
        if total < 0:
            yield r.file_finding(
                history,
                f"spine-experiment-compare payload invalid: windows.{name}.verify.gate_total is {total}",
                "fix the history rows",
            )
