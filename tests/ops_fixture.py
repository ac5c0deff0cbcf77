"""An ops-repository-shaped fixture whose fast profile is the ops repository's 20 fast gates, all passing.

Built from the specification of the ops gates (not from the ops repository's files): the shipped contracts
in the ops layout, the 17 ported gates registered and put in the core (fast) set with D63, D67 and D127,
and every repository and operator-host file those gates read. The operator's host paths
(`/Users/ronnyworks/code/...`) are written below `host`, which the gates read through INFRACORE_HOST_ROOT.

Used by tests/test_ops_gates_*.py and bench/bench_ops.py (which imports it by path).
"""

from __future__ import annotations

import json
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from infracore_verify.contracts.sets import BUNDLED_CONTRACTS
from tests import ops_fixture_files as files

PORTED = (
    "D3", "D126", "D153", "D163", "D164", "D165", "D166", "D297",
    "D330", "D331", "D338", "D339", "D340", "D347", "D348", "D349", "D350",
)  # fmt: skip
FAST = ("D3", "D63", "D67", "D127", *PORTED[1:])
"""The ops repository's fast set at HEAD: 3 gates the suite already had natively, plus the 17 ports."""
WORKBENCH = "/Users/ronnyworks/code/workbench"
AGENT_REPO = "/Users/ronnyworks/code/media-agent"
SCRIPT_NAMES = {gate_id: f"surfaces/verify/{gate_id.lower()}-ported.sh" for gate_id in PORTED}
NEW_CAPABILITIES = ("coordinator.lane.closeout", "prompt.registry.status", "spine.experiment.compare")


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False)


@dataclass
class OpsFixture:
    """An ops-shaped repository (`root`) and the operator host directory (`host`) that its host gates read."""

    root: Path
    host: Path

    def write(self, rel: str, text: str, *, executable: bool = False, host: bool = False) -> Path:
        """Write a file below the root (or, with host=True, at the operator path `rel` below the host)."""
        path = (self.host / rel.lstrip("/")) if host else (self.root / rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if executable:
            path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return path

    def yaml(self, rel: str, data: Any, *, host: bool = False) -> Path:
        """Write YAML data below the root (or the host)."""
        return self.write(rel, _dump(data), host=host)

    def load(self, rel: str) -> Any:
        """Return the YAML data of a repository file."""
        return yaml.safe_load((self.root / rel).read_text(encoding="utf-8"))

    def edit(self, rel: str, change: Any) -> None:
        """Load a repository YAML file, let `change(data)` mutate it, and write it back."""
        data = self.load(rel)
        change(data)
        self.yaml(rel, data)

    def script(self, rel: str, body: str = "exit 0") -> Path:
        """Write an executable bash helper stub (never an ops repository script)."""
        return self.write(rel, f"#!/usr/bin/env bash\n{body}\n", executable=True)


def build(base: Path) -> OpsFixture:
    """Build the fixture below `base` (`base/ops-repo`, `base/host`) and return it."""
    fx = OpsFixture(base / "ops-repo", base / "host")
    bindings = fx.root / "ops" / "bindings"
    bindings.mkdir(parents=True)
    for path in BUNDLED_CONTRACTS.glob("*.yaml"):
        target = fx.root / "ops" / "capabilities.yaml" if path.name == "capabilities.yaml" else bindings / path.name
        shutil.copy(path, target)
    fx.script("ops/runtime/infra-core-smoke.sh")
    _registry(fx)
    _capabilities(fx)
    _entry_and_workbench(fx)
    _runtime(fx)
    files.orchestration(fx)
    files.lineage(fx)
    files.bootstrap(fx)
    return fx


def _registry(fx: OpsFixture) -> None:
    """Register the 17 ports (with check_scripts, as in the ops repository) and make FAST the core set."""
    reg = fx.load("ops/bindings/gate.registry.yaml")
    # The shipped registry keeps D3 as a retired reserved slot; the ops repository's D3 is the entrypoint smoke.
    reg["gates"] = [g for g in reg["gates"] if g["id"] not in PORTED]
    for gate_id in PORTED:
        reg["gates"].append(
            {
                "id": gate_id,
                "name": f"ops-{gate_id.lower()}-lock",
                "category": "process-hygiene",
                "gate_class": "invariant",
                "severity": "high",
                "ring": "standard" if gate_id == "D297" else "instant",
                "description": f"Ported ops gate {gate_id}",
                "check_script": SCRIPT_NAMES[gate_id],
                "fix_hint": "see the ops gate",
            }
        )
        fx.script(SCRIPT_NAMES[gate_id], f"# TRIAGE: never run: the suite runs {gate_id} natively\nexit 99")
    total = len(reg["gates"])
    retired = sum(1 for g in reg["gates"] if g.get("retired"))
    reg["gate_count"] = {"total": total, "active": total - retired, "retired": retired}
    fx.yaml("ops/bindings/gate.registry.yaml", reg)
    topo = fx.load("ops/bindings/gate.execution.topology.yaml")
    topo["gate_assignments"] = [a for a in topo["gate_assignments"] if a["gate_id"] not in PORTED]
    topo["core_mode"]["core_gate_ids"] = list(FAST)
    topo["core_mode"]["core_count_limit"] = len(FAST)
    topo["gate_assignments"] += [
        {"gate_id": g, "primary_domain": "core", "secondary_domains": [], "family": "ops"} for g in PORTED
    ]
    fx.yaml("ops/bindings/gate.execution.topology.yaml", topo)


def _capabilities(fx: OpsFixture) -> None:
    """Add the three capabilities the orchestration gates wire, to the registry, the map and the dispatch."""
    scripts = {
        "coordinator.lane.closeout": ("ops", "ops/plugins/ops/bin/coordinator-lane-closeout"),
        "prompt.registry.status": ("evidence", "ops/plugins/evidence/bin/prompt-registry-status"),
        "spine.experiment.compare": ("evidence", "ops/plugins/evidence/bin/spine-experiment-compare"),
    }
    caps = fx.load("ops/capabilities.yaml")
    cmap = fx.load("ops/bindings/capability_map.yaml")
    for name, (plugin, script) in scripts.items():
        caps["capabilities"][name] = {
            "description": f"{name} (fixture)",
            "command": f"./{script}",
            "safety": "read-only",
            "approval": "auto",
            "outputs": ["stdout"],
            "arg_protocol": "none",
            "lifecycle": "ready",
            "domain": "verify",
            "plane": "fabric",
        }
        cmap["capabilities"][name] = {"plugin": plugin, "script": Path(script).name, "safety": "read-only"}
    fx.yaml("ops/capabilities.yaml", caps)
    fx.yaml("ops/bindings/capability_map.yaml", cmap)
    for entry in cmap["capabilities"].values():
        path = fx.root / "ops" / "plugins" / str(entry["plugin"]) / "bin" / str(entry["script"])
        if not path.exists():
            fx.script(str(path.relative_to(fx.root)))
    fx.yaml("ops/bindings/routing.dispatch.yaml", {"dispatch": {n: {"lane": "control"} for n in scripts}})
    fx.yaml(
        "ops/plugins/MANIFEST.yaml",
        {
            "plugins": [
                {
                    "name": "ops",
                    "scripts": ["bin/coordinator-lane-closeout"],
                    "capabilities": ["coordinator.lane.closeout"],
                },
                {
                    "name": "evidence",
                    "scripts": ["bin/prompt-registry-status", "bin/spine-experiment-compare"],
                    "capabilities": ["prompt.registry.status", "spine.experiment.compare"],
                },
            ]
        },
    )
    fx.script("ops/plugins/evidence/bin/prompt-registry-status")
    fx.script("ops/plugins/evidence/bin/receipts-exec-emit")
    fx.script("ops/plugins/evidence/bin/spine-experiment-compare")


def _entry_and_workbench(fx: OpsFixture) -> None:
    """Files of D3, D126, D153 and D163-D166, in the repository and on the operator's host."""
    fx.script("bin/ops")
    fx.script("ops/plugins/verify/bin/workbench-impl-audit")
    fx.yaml("ops/bindings/fabric.boundary.contract.yaml", {"workbench": {"canonical_repo": WORKBENCH}})
    fx.yaml(
        "ops/bindings/agents.registry.yaml",
        {
            "agents": [
                {
                    "id": "media-agent",
                    "domain": "infra",
                    "implementation_status": "active",
                    "project_binding": {
                        "repo_path": AGENT_REPO,
                        "project_id": "media",
                        "domain": "infra",
                        "agent_id": "media-agent",
                        "gate_pack": "infra",
                        "verify_command": "./bin/ops cap run verify.pack.run infra",
                        "governance_bundle": ["AGENTS.md"],
                        "spine_link_version": 1,
                    },
                },
                {"id": "planned-agent", "implementation_status": "planned", "project_binding": {}},
            ]
        },
    )
    fx.yaml("ops/bindings/gate.agent.profiles.yaml", {"profiles": [{"agent_id": "core-operator", "domains": ["core"]}]})
    fx.yaml(
        "ops/bindings/project.attach.link.policy.yaml",
        {"policy": {"attach_filename": ".spine-link.yaml", "repo_path_must_be_git_root": False}},
    )
    fx.yaml(
        f"{AGENT_REPO}/.spine-link.yaml",
        {"domain": "infra", "agent_id": "media-agent", "gate_pack": "infra"},
        host=True,
    )
    head = {
        "status": "active",
        "owner": "@operator",
        "last_verified": "2026-03-05",
        "scope": "workbench",
        "exceptions": [],
    }
    fx.yaml(
        "ops/bindings/workbench.ssh.attach.contract.yaml",
        {
            **head,
            "workbench_root": WORKBENCH,
            "spine_binding": "ops/bindings/ssh.targets.yaml",
            "workbench_ssh_config": "dotfiles/ssh/config.d/tailscale.conf",
            "attach_file": ".spine-link.yaml",
            "checks": [
                {"id": "attach_file_present"},
                {"id": "attach_source_registry_match", "expected_source_registry": "ops/bindings/agents.registry.yaml"},
                {"id": "spine_id_present_as_primary_host"},
                {"id": "no_untracked_primary_hosts"},
                {"id": "host_user_parity"},
                {"id": "attach_repo_root_only"},
            ],
        },
    )
    fx.yaml(
        "ops/bindings/ssh.targets.yaml",
        {"ssh": {"defaults": {"user": "ops"}, "targets": [{"id": "infra-core", "host": "100.64.0.10"}]}},
    )
    fx.write(
        f"{WORKBENCH}/dotfiles/ssh/config.d/tailscale.conf",
        "Host infra-core ic\n  HostName 100.64.0.10\n  User ops\n",
        host=True,
    )
    fx.yaml(f"{WORKBENCH}/.spine-link.yaml", {"source_registry": "ops/bindings/agents.registry.yaml"}, host=True)
    runbook = "agents/media/docs/RUNBOOK.md"
    fx.yaml(
        "ops/bindings/workbench.ssh.runtime.surface.contract.yaml",
        {
            **head,
            "workbench_root": WORKBENCH,
            "checks": [
                {
                    "id": "forbidden_runtime_userhost_tokens",
                    "include_paths": [runbook],
                    "forbidden_patterns": ["root@", "ubuntu@", "automation@"],
                }
            ],
        },
    )
    fx.write(f"{WORKBENCH}/{runbook}", "# Runbook\nssh infra-core\n", host=True)
    fx.yaml(
        "ops/bindings/workbench.secrets.onboarding.contract.yaml",
        {
            **head,
            "workbench_root": WORKBENCH,
            "checks": [
                {
                    "id": "no_inline_universal_auth_login",
                    "include_paths": ["scripts/root/test-infisical.sh"],
                    "forbidden_patterns": ["universal-auth/login"],
                },
                {
                    "id": "no_open_high_critical_inventory_issues",
                    "inventory_file": "infra/data/secrets_inventory.json",
                    "severities": ["high", "critical"],
                },
            ],
        },
    )
    fx.write(f"{WORKBENCH}/scripts/root/test-infisical.sh", "#!/bin/sh\nsecrets-exec -- true\n", host=True)
    inventory = {
        "known_issues": [
            {"id": "SEC-1", "severity": "HIGH", "status": "resolved"},
            {"id": "SEC-2", "severity": "low", "status": "open"},
        ]
    }
    fx.write(f"{WORKBENCH}/infra/data/secrets_inventory.json", json.dumps(inventory), host=True)
    fx.yaml(
        "ops/bindings/workbench.deploy.method.surface.contract.yaml",
        {
            **head,
            "workbench_root": WORKBENCH,
            "deploy_method_contract": "ops/bindings/deploy.method.contract.yaml",
            "checks": [
                {
                    "id": "docker_host_canonical_method_declared",
                    "target": "docker-host",
                    "required_method": "docker_compose",
                },
                {
                    "id": "no_direct_docker_lifecycle_for_docker_host",
                    "include_paths": ["scripts/root/server-startup.sh"],
                    "forbidden_patterns": ["docker start", "docker stop", "docker run"],
                },
            ],
        },
    )
    fx.yaml(
        "ops/bindings/deploy.method.contract.yaml",
        {"entries": [{"target": "docker-host", "method": "docker_compose"}, {"target": "nas", "method": "manual"}]},
    )
    fx.write(
        f"{WORKBENCH}/scripts/root/server-startup.sh",
        "#!/bin/sh\n# docker start is not used here\ndocker compose up -d\n",
        host=True,
    )


def _runtime(fx: OpsFixture) -> None:
    """Files of D297 and D330."""
    label = "com.ronny.infra-core-smoke"
    fx.write(f"ops/runtime/launchd/{label}.plist", _plist(label))
    fx.yaml(
        "ops/bindings/launchd.scheduler.registry.yaml",
        {"labels": [{"label": label, "template_path": f"ops/runtime/launchd/{label}.plist"}]},
    )
    fx.yaml(
        "ops/bindings/planning.horizon.contract.yaml",
        {
            "execution_modes": ["single_agent", "orchestrator_subagents"],
            "default_execution_mode": "orchestrator_subagents",
            "scope_fields": {"execution_mode": {"type": "enum"}},
        },
    )
    fx.write(
        "ops/plugins/lifecycle/templates/loop-scope.template.md",
        "---\nstatus: draft\nexecution_mode: single_agent\n---\n",
    )
    fx.write(
        "mailroom/state/loop-scopes/LOOP-1.scope.md", "---\nstatus: active\nexecution_mode: single_agent\n---\n# Loop\n"
    )
    fx.write("mailroom/state/loop-scopes/LOOP-2.scope.md", "---\nstatus: closed\n---\n")


def _plist(label: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" '
        '"http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n<plist version="1.0">\n<dict>\n'
        f"  <key>Label</key>\n  <string>{label}</string>\n</dict>\n</plist>\n"
    )


def outcome(fx: OpsFixture, gate_id: str) -> tuple[str, list[str]]:
    """Run one gate on the fixture through the engine: ('pass'|'fail'|'gate_bug', rendered findings + detail)."""
    from infracore_verify.contracts.sets import Contracts
    from tests.test_checks import run_gate

    result = run_gate(Contracts.open(fx.root, fx.root), gate_id)
    assert result.verdict in ("pass", "fail"), result.message()
    if result.gate_bug:
        return "gate_bug", [result.detail, *(f.render() for f in result.findings)]
    assert not result.detail, result.message()
    return str(result.verdict), [f.render() for f in result.findings]
