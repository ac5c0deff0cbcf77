"""The real ops repository's shapes that tripped the ported gates (issue 11 item 2), on an ops-shaped fixture.

`real_shapes(root)` takes a repository from `tests/ops_repo.py` and gives it what the real one has: a
capability defined twice (`coordinator.lane.closeout`, in the registry and in the map, the last copy
differing), a map entry with `plugin: ~` / `script: ~`, gaps of type `missing-process`, an id `GAP-PEK-001`
without `discovered_at`, a fixed high gap without `regression_lock_id`, and a registry without any of the
suite's own gates (D900 and up).
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import yaml

CAPABILITIES = """\
  coordinator.lane.closeout:
    description: "Close out a coordinator lane (first copy, hidden by the second)."
    command: "./ops/plugins/ops/bin/coordinator-lane-closeout"
    safety: mutating
    approval: manual
    outputs: [stdout]
  infra.docker_ps:
    description: "List the containers (a bare command, no plugin script)."
    command: "docker ps"
    safety: read-only
    approval: auto
    outputs: [stdout]
  coordinator.lane.closeout:
    description: "Close out a coordinator lane."
    command: "./ops/plugins/ops/bin/coordinator-lane-closeout"
    safety: read-only
    approval: auto
    outputs: [stdout]
"""
CAPABILITY_MAP = """\
  coordinator.lane.closeout: {plugin: ops, script: coordinator-lane-closeout, safety: mutating}
  infra.docker_ps:
    plugin: ~
    script: ~
    safety: read-only
    note: "bare 'docker ps' command (no plugin script)"
  coordinator.lane.closeout: {plugin: ops, script: coordinator-lane-closeout, safety: read-only}
"""
GAPS = """\
  - id: GAP-OP-1400
    discovered_by: "LOOP-FIXTURE-20260220"
    discovered_at: "2026-02-20"
    type: missing-process
    doc: null
    description: |
      No process closes out a coordinator lane.
    severity: medium
    status: fixed
    fixed_in: "LOOP-FIXTURE-20260220"
  - id: GAP-PEK-001
    discovered_by: "W38-deferred-tracking-20260224"
    created_at: "2026-02-24"
    type: missing-entry
    doc: "Platform Extension Kit bootstrap capability lane"
    parent_loop: "LOOP-AOF-NOISE-BURNDOWN-20260226"
    description: |
      Bootstrap capabilities are not yet implemented.
    severity: medium
    status: closed
    fixed_in: "LOOP-AOF-NOISE-BURNDOWN-20260226"
  - id: GAP-OP-1401
    discovered_by: "LOOP-FIXTURE-20260221"
    discovered_at: "2026-02-21"
    type: runtime-bug
    doc: "surfaces/verify/drift-gate.sh"
    description: "A fixed high gap that names no regression lock."
    severity: high
    status: fixed
    fixed_in: "LOOP-FIXTURE-20260221"
"""


def _append(path: Path, text: str) -> None:
    body = path.read_text(encoding="utf-8")
    path.write_text(body.rstrip("\n") + "\n" + text, encoding="utf-8")


def _edit(path: Path, change: Any) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def without_suite_gates(root: Path) -> None:
    """Remove every suite gate (D900 and up) from the registry, topology and profiles, as in a real ops repository."""
    bindings = root / "ops" / "bindings"
    used: set[str] = set()

    def suite(gate_id: Any) -> bool:
        return str(gate_id).startswith("D") and int(str(gate_id)[1:]) >= 900

    def registry(data: dict[str, Any]) -> None:
        data["gates"] = [g for g in data["gates"] if not suite(g["id"])]
        retired = sum(1 for g in data["gates"] if g.get("retired") is True)
        data["gate_count"] = {"total": len(data["gates"]), "active": len(data["gates"]) - retired, "retired": retired}

    def topology(data: dict[str, Any]) -> None:
        core = [g for g in data["core_mode"]["core_gate_ids"] if not suite(g)]
        data["core_mode"] = {**data["core_mode"], "core_gate_ids": core, "core_count_limit": len(core)}
        data["gate_assignments"] = [a for a in data["gate_assignments"] if not suite(a["gate_id"])]
        # A domain only the suite's gates had (the shipped `verify`) goes too, as an ops repository has none.
        used.update(a["primary_domain"] for a in data["gate_assignments"])
        used.update(d for a in data["gate_assignments"] for d in a.get("secondary_domains") or [])
        data["domain_metadata"] = [d for d in data["domain_metadata"] if d["domain_id"] in used]
        data["release_sequence"] = [d for d in data["release_sequence"] if d in used]

    def profiles(data: dict[str, Any]) -> None:
        if isinstance(data.get("domains"), dict):
            data["domains"] = {k: v for k, v in data["domains"].items() if k in used}
        rows = data["domains"].values() if isinstance(data.get("domains"), dict) else data.get("profiles") or []
        for row in rows:
            row["gate_ids"] = [g for g in row.get("gate_ids") or [] if not suite(g)]

    _edit(bindings / "gate.registry.yaml", registry)
    _edit(bindings / "gate.execution.topology.yaml", topology)
    for name in ("gate.domain.profiles.yaml", "gate.agent.profiles.yaml"):
        if (bindings / name).is_file():
            _edit(bindings / name, profiles)


def real_shapes(root: Path) -> Path:
    """Give an ops-shaped repository the real shapes listed in the module docstring; return root."""
    _append(root / "ops" / "capabilities.yaml", CAPABILITIES)
    _append(root / "ops" / "bindings" / "capability_map.yaml", CAPABILITY_MAP)
    _append(root / "ops" / "bindings" / "operational.gaps.yaml", GAPS)
    script = root / "ops" / "plugins" / "ops" / "bin" / "coordinator-lane-closeout"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text("#!/usr/bin/env bash\necho closed\n", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    without_suite_gates(root)
    return root
