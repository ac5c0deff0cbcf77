"""Synthetic contract sets for the static-gate benchmark: the shipped contracts with an N-gate registry.

`generate(root, n)` copies the shipped `contracts/` directory to `root/contracts` (suite layout) and
replaces the three gate contracts:

- `gate.registry.yaml`: every shipped gate kept as it is (the native gates, the live gates D55, D315 and
  D907, and D3, retired), plus `n - <shipped active>` active invariant gates `D1000, D1001, ...` named
  `synthetic-lock-<i>`, some of them composites of two earlier synthetic gates, and one retired synthetic
  gate after every `RETIRED_EVERY` active ones, so the registry holds exactly `n` active gates;
  `gate_count` matches;
- `gate.execution.topology.yaml`: the shipped domains plus `SYNTHETIC_DOMAINS` more, each active gate
  assigned exactly once (round robin, every fifth synthetic gate with a secondary domain), a core set of
  `CORE_SIZE` gates (the shipped core gates first, then synthetic instant gates) with a matching
  `core_count_limit`, and a release sequence naming every domain;
- `gate.domain.profiles.yaml`: one profile per topology domain listing the gates assigned to it.

Synthetic gates point their `check_script` at a few small shared scripts created under
`root/surfaces/verify/` (executable, with a `# TRIAGE:` line), so D85 finds an implementation for each.
Every other contract is the shipped one, so every static (native) gate can run and should pass.

Run as a script to write a set for inspection: `python bench/synthetic.py 400 /tmp/syn400`.
"""

from __future__ import annotations

import argparse
import shutil
import stat
from pathlib import Path
from typing import Any

import yaml

from infracore_verify.contracts.sets import BUNDLED_CONTRACTS
from infracore_verify.gates.classify import DEFAULT_KEYWORDS

FIRST_ID = 1000
"""Number of the first synthetic gate id (D1000); the shipped ids are all below it."""
CORE_SIZE = 20
"""Size of the synthetic core (fast) set: the shipped core gates, then synthetic instant gates."""
SYNTHETIC_DOMAINS = 9
"""Domains added to the shipped core, verify and infra (fixed, so cost is measured against gate count)."""
RETIRED_EVERY = 50
"""One retired synthetic gate follows every this many active synthetic gates."""
COMPOSITE_EVERY = 100
"""Every this many synthetic gates, one is a composite of the two gates before it."""
SCRIPTS = 4
"""Shared check scripts the synthetic gates point at."""
SCRIPT_DIR = "surfaces/verify"
DATE = "2026-11-26"
SEVERITIES = ("low", "medium", "high")
RINGS = ("standard", "deep")
CATEGORIES = ("governance", "infra-hygiene", "contracts", "recovery")
SYSTEMS = ("cloudflare", "vaultwarden", "infisical", "authentik")

_Dumper: type[yaml.SafeDumper] | type[yaml.CSafeDumper]
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _dump(path: Path, header: str, data: dict[str, Any]) -> None:
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=120, default_flow_style=False)
    path.write_text(f"# {header}\n---\n{body}", encoding="utf-8")


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a mapping")
    return data


def _write_scripts(root: Path) -> list[str]:
    directory = root / SCRIPT_DIR
    directory.mkdir(parents=True, exist_ok=True)
    scripts = []
    for k in range(SCRIPTS):
        relative = f"{SCRIPT_DIR}/synthetic-ok-{k}.sh"
        path = root / relative
        path.write_text(
            "#!/usr/bin/env bash\n"
            f"# Synthetic benchmark check script {k}: always passes.\n"
            "# TRIAGE: nothing to fix; this script belongs to a generated benchmark contract set.\n"
            "exit 0\n",
            encoding="utf-8",
        )
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        scripts.append(relative)
    return scripts


def _check_words(text: str) -> str:
    lowered = text.lower()
    hits = [k for k in DEFAULT_KEYWORDS if k in lowered]
    if hits:
        raise ValueError(f"synthetic text {text!r} contains freshness keywords {hits}")
    return text


def _synthetic_gate(i: int, gate_id: str, scripts: list[str], core: bool, parts: list[str]) -> dict[str, Any]:
    gate: dict[str, Any] = {
        "id": gate_id,
        "name": _check_words(f"synthetic-lock-{i}"),
        "description": _check_words(f"Synthetic invariant number {i} for the static gate benchmark."),
        "category": CATEGORIES[i % len(CATEGORIES)],
        "gate_class": "invariant",
        "severity": SEVERITIES[i % len(SEVERITIES)],
        "ring": "instant" if core else RINGS[i % len(RINGS)],
    }
    if parts:
        gate["composite_of"] = parts
    else:
        gate["check_script"] = scripts[i % len(scripts)]
    if i % 7 == 0:
        gate["systems"] = [SYSTEMS[i % len(SYSTEMS)]]
    gate["fix_hint"] = "Nothing to fix; generated for the benchmark."
    return gate


def _retired_gate(i: int, gate_id: str) -> dict[str, Any]:
    return {
        "id": gate_id,
        "name": _check_words(f"synthetic-retired-lock-{i}"),
        "description": _check_words(f"Retired synthetic slot number {i}, kept so the id is never reused."),
        "category": "governance",
        "gate_class": "invariant",
        "severity": "none",
        "ring": "deep",
        "retired": True,
        "fix_hint": "Nothing to fix; the gate is retired.",
    }


def generate(root: Path, n: int) -> Path:
    """Write a synthetic contract set with `n` active gates under `root`; return its contracts directory."""
    contracts = root / "contracts"
    if contracts.exists():
        raise FileExistsError(f"{contracts} already exists")
    shutil.copytree(BUNDLED_CONTRACTS, contracts)
    scripts = _write_scripts(root)

    registry = _load(contracts / "gate.registry.yaml")
    topology = _load(contracts / "gate.execution.topology.yaml")
    profiles = _load(contracts / "gate.domain.profiles.yaml")

    shipped: list[dict[str, Any]] = list(registry["gates"])
    shipped_active = [str(g["id"]) for g in shipped if g.get("retired") is not True]
    shipped_core = [str(g) for g in topology["core_mode"]["core_gate_ids"]]
    synthetic_count = n - len(shipped_active)
    extra_core = CORE_SIZE - len(shipped_core)
    if extra_core < 0:
        raise ValueError(f"the shipped core set has {len(shipped_core)} gates, more than CORE_SIZE={CORE_SIZE}")
    if synthetic_count < extra_core:
        raise ValueError(
            f"n={n} is too small: {len(shipped_active)} shipped active gates plus {extra_core} synthetic core gates"
        )

    gates = list(shipped)
    active_ids: list[str] = []
    number = FIRST_ID
    for i in range(synthetic_count):
        gate_id = f"D{number}"
        number += 1
        parts = active_ids[-2:] if i % COMPOSITE_EVERY == COMPOSITE_EVERY - 1 and i >= extra_core else []
        gates.append(_synthetic_gate(i, gate_id, scripts, i < extra_core, parts))
        active_ids.append(gate_id)
        if i % RETIRED_EVERY == RETIRED_EVERY - 1:
            gates.append(_retired_gate(i, f"D{number}"))
            number += 1
    retired = sum(1 for g in gates if g.get("retired") is True)
    registry["gate_count"] = {"total": len(gates), "active": len(gates) - retired, "retired": retired}
    registry["gates"] = gates
    assert registry["gate_count"]["active"] == n, registry["gate_count"]
    _dump(contracts / "gate.registry.yaml", f"Synthetic gate registry: {n} active gates (benchmark).", registry)

    shipped_domains: list[dict[str, Any]] = list(topology["domain_metadata"])
    new_domains = [f"synthetic-{d:02d}" for d in range(1, SYNTHETIC_DOMAINS + 1)]
    domain_ids = [str(d["domain_id"]) for d in shipped_domains] + new_domains
    metadata = shipped_domains + [
        {
            "domain_id": domain,
            "description": f"Synthetic benchmark domain {domain}.",
            "criticality": "standard",
            "depends_on": ["core"],
            "capability_prefixes": [f"{domain}."],
            "path_triggers": [f"synthetic/{domain}/"],
            "requires_runtime_sentinel": False,
            "added_date": DATE,
        }
        for domain in new_domains
    ]
    assignments: list[dict[str, Any]] = list(topology["gate_assignments"])
    members: dict[str, list[str]] = {d: [] for d in domain_ids}
    for row in assignments:
        members[str(row["primary_domain"])].append(str(row["gate_id"]))
    for i, gate_id in enumerate(active_ids):
        primary = domain_ids[i % len(domain_ids)]
        secondary = [domain_ids[(i + 1) % len(domain_ids)]] if i % 5 == 0 else []
        assignments.append(
            {"gate_id": gate_id, "primary_domain": primary, "secondary_domains": secondary, "family": "synthetic"}
        )
        members[primary].append(gate_id)
    core_ids = shipped_core + active_ids[:extra_core]
    assert len(core_ids) == CORE_SIZE, core_ids
    topology["core_mode"] = {"core_gate_ids": core_ids, "core_count_limit": len(core_ids)}
    topology["domain_metadata"] = metadata
    topology["gate_assignments"] = assignments
    topology["release_sequence"] = domain_ids
    _dump(contracts / "gate.execution.topology.yaml", f"Synthetic topology for {n} active gates.", topology)

    domains: dict[str, Any] = dict(profiles["domains"])
    for domain in new_domains:
        domains[domain] = {
            "description": f"Synthetic benchmark domain {domain}.",
            "gate_ids": members[domain],
            "capability_prefixes": [f"{domain}."],
            "path_triggers": [f"synthetic/{domain}/"],
        }
    for domain in ("core", "verify", "infra"):
        domains[domain]["gate_ids"] = members[domain]
    profiles["domains"] = domains
    _dump(contracts / "gate.domain.profiles.yaml", f"Synthetic domain profiles for {n} active gates.", profiles)
    return contracts


def main() -> int:
    """Write one synthetic set (for inspection or manual runs)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("gates", type=int, help="Number of active gates")
    parser.add_argument("root", type=Path, help="Directory to create the set in (contracts/ and surfaces/)")
    args = parser.parse_args()
    print(generate(args.root, args.gates))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
