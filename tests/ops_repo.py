"""Builds ops-repository-shaped fixtures: `ops/bindings/`, `ops/capabilities.yaml`, a tree and gate scripts.

The contracts are the shipped ones moved into the ops layout, plus extra registry entries: the inline gates
of `drift-gate.sh` (D1, D2, D4-D12), and whatever script gates a test adds (a slow one, a composite with a
verbose-only part). The tree passes every inline gate; a test breaks what it wants to see fail.
`surfaces/verify/drift-gate.sh` exists, as in the ops repository, but only records that it ran: the suite
must never run it.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from infracore_verify.contracts.sets import BUNDLED_CONTRACTS, FILES

DRIFT_GATE = "surfaces/verify/drift-gate.sh"
DRIFT_GATE_RAN = "drift-gate-ran.marker"
"""Written next to drift-gate.sh if anything runs it (tests assert it never appears)."""
INLINE_IDS = ("D1", "D2", "D4", "D5", "D6", "D7", "D8", "D9", "D10", "D11", "D12")
RECEIPT = "# Session receipt\n\nRun ID: {sid}\nGenerated: 2026-12-01\nStatus: ok\nModel: m\nInputs: a\nOutputs: b\n"


@dataclass(frozen=True)
class ExtraGate:
    """A registry entry a fixture adds: inline (no script of its own) or a script gate with its body."""

    id: str
    name: str
    ring: str = "deep"
    gate_class: str = "invariant"
    domain: str = "core"
    script: str | None = None
    """The script body (bash); None for an inline gate, which points at drift-gate.sh."""
    fields: dict[str, Any] = field(default_factory=dict)


INLINE_GATES = tuple(ExtraGate(g, f"inline-drift-check-{g[1:]}") for g in INLINE_IDS)


def _write(path: Path, text: str, executable: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if executable:
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def script_path(gate: ExtraGate) -> str:
    """Return the repository-relative check_script of a gate."""
    return DRIFT_GATE if gate.script is None else f"surfaces/verify/{gate.id.lower()}-{gate.name}.sh"


def _entry(gate: ExtraGate) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": gate.id,
        "name": gate.name,
        "description": f"Fixture gate {gate.id}.",
        "category": "governance",
        "gate_class": gate.gate_class,
        "severity": "medium",
        "ring": gate.ring,
        "check_script": script_path(gate),
        "fix_hint": f"Fix what {gate.id} names.",
    }
    if gate.script is None:
        entry["inline"] = True
    entry.update(gate.fields)
    return entry


def _edit_yaml(path: Path, mutate: Any) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    mutate(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _register(bindings: Path, gates: Iterable[ExtraGate]) -> None:
    gates = list(gates)

    def registry(data: dict[str, Any]) -> None:
        data["gates"] += [_entry(g) for g in gates]
        retired = sum(1 for g in data["gates"] if g.get("retired") is True)
        data["gate_count"] = {"total": len(data["gates"]), "active": len(data["gates"]) - retired, "retired": retired}

    def topology(data: dict[str, Any]) -> None:
        data["gate_assignments"] += [{"gate_id": g.id, "primary_domain": g.domain} for g in gates]

    _edit_yaml(bindings / "gate.registry.yaml", registry)
    _edit_yaml(bindings / "gate.execution.topology.yaml", topology)


def _tree(root: Path) -> None:
    """Lay out a tree on which every inline gate passes."""
    _write(root / "bin" / "ops", "#!/usr/bin/env bash\n# The ops entry point.\necho ops\n", executable=True)
    _write(root / "docs" / "core" / "CORE_LOCK.md", "# Core lock\n")
    (root / "mailroom" / "logs").mkdir(parents=True)
    sessions = root / "receipts" / "sessions"
    for number in range(1, 7):
        session = sessions / f"SES-{number}"
        _write(session / "receipt.md", RECEIPT.format(sid=f"SES-{number}"))
        os.utime(session, (1_700_000_000 + number, 1_700_000_000 + number))
    _write(
        root / "ops" / "plugins" / "secrets" / "bin" / "secrets-exec",
        '#!/usr/bin/env bash\nset -euo pipefail\n# Hands the token to the command, never to the terminal.\nprintf \'%s\' "$INFISICAL_TOKEN" | "$@"\n',
        executable=True,
    )
    _write(root / "ops" / "tools" / "report.py", 'import sys\n\nprint("report", len(sys.argv))\n')
    _write(
        root / DRIFT_GATE,
        f'#!/usr/bin/env bash\n# TRIAGE: never run by the suite.\ntouch "$(dirname "$0")/{DRIFT_GATE_RAN}"\nexit 97\n',
        executable=True,
    )


def _capability_scripts(root: Path) -> None:
    """Give every capability_map entry its plugin script, and the baseline its smoke runner (D67, D320)."""
    data = yaml.safe_load((root / "ops" / "bindings" / "capability_map.yaml").read_text(encoding="utf-8"))
    for entry in (data.get("capabilities") or {}).values():
        if isinstance(entry, dict) and entry.get("plugin") and entry.get("script"):
            path = root / "ops" / "plugins" / str(entry["plugin"]) / "bin" / str(entry["script"])
            _write(path, "#!/usr/bin/env bash\nset -euo pipefail\necho ok\n", executable=True)
    _write(root / "ops" / "runtime" / "infra-core-smoke.sh", "#!/usr/bin/env bash\necho smoke\n", executable=True)


def _registry_scripts(root: Path) -> None:
    """Give every registered gate a check_script, as the ops repository does (its D85 asks for one per gate).

    The stubs never run: the suite runs these gates natively (or as live composites).
    """

    def scripts(data: dict[str, Any]) -> None:
        for entry in data["gates"]:
            if entry.get("retired") or entry.get("inline") or entry.get("check_script"):
                continue
            entry["check_script"] = f"surfaces/verify/{str(entry['id']).lower()}-{entry['name']}.sh"
            _write(root / entry["check_script"], "#!/usr/bin/env bash\n# TRIAGE: see the gate.\nexit 99\n", True)

    _edit_yaml(root / "ops" / "bindings" / "gate.registry.yaml", scripts)


def make_ops_repo(root: Path, gates: Iterable[ExtraGate] = INLINE_GATES) -> Path:
    """Write an ops-shaped repository at `root` (the shipped contracts in ops/bindings, plus `gates`); return root."""
    bindings = root / "ops" / "bindings"
    bindings.mkdir(parents=True)
    for name, (file_name, _) in FILES.items():
        source = BUNDLED_CONTRACTS / file_name
        if source.is_file():
            target = root / "ops" / "capabilities.yaml" if name == "capabilities" else bindings / file_name
            shutil.copy(source, target)
    _tree(root)
    _capability_scripts(root)
    _registry_scripts(root)
    gates = list(gates)
    _register(bindings, gates)
    for gate in gates:
        if gate.script is not None:
            body = f"#!/usr/bin/env bash\nset -euo pipefail\n# TRIAGE: fixture gate {gate.id}.\n{gate.script}\n"
            _write(root / script_path(gate), body, executable=True)
    return root
