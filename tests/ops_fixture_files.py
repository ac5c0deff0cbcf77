"""The orchestration, lineage and bootstrap files of the ops-shaped fixture (see tests/ops_fixture.py)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.ops_fixture import OpsFixture

WORKBENCH = "/Users/ronnyworks/code/workbench"


CLOSEOUT_TEXT = (
    "verify_fast friction_reconcile loops_status gaps_status proposals_status friction_queue_status worktree_cleanup\n"
    "cap run friction.reconcile -- --loop-id x; cap run verify.run -- fast; cap run worktree.lifecycle.cleanup -- --mode x\n"
)
WAVE_TEXT = (
    'dispatch_pushability_preflight "$sf" "$lane"\n"remote", "get-url", remote\n"push", "--dry-run", remote\n'
    "control_lane_override\nforce-close denied while dispatches are pending without stub evidence\n"
)


def orchestration(fx: OpsFixture) -> None:
    """Files of D331, D349 and D350."""
    fx.yaml(
        "ops/bindings/orchestration.packet.contract.yaml",
        {
            "required_fields": [
                "loop_id",
                "execution_mode",
                "cross_repo_pushability_gate",
                "lane_outcomes",
                "stub_matrix",
                "plan_transition",
            ],
            "closeout_fields": ["verification_sequence", "closeout_summary", "closed_at"],
            "field_schemas": {"verification_sequence": {"items": {"required": ["run_key"]}}},
            "isolation": {"worktree_rule": "one_per_subagent", "collision_guard": {"enforce": True}},
        },
    )
    fx.write(
        "ops/plugins/ops/bin/coordinator-lane-closeout", f"#!/usr/bin/env bash\n# {CLOSEOUT_TEXT}", executable=True
    )
    fx.write("ops/commands/wave.sh", WAVE_TEXT)
    fx.write(
        "surfaces/verify/lib/wave_hardening_regression.py",
        '"""Fixture harness."""\nprint("D331 PASS: wave.sh regression harness passed")\n',
    )
    fx.yaml(
        "ops/bindings/prompt.registry.yaml",
        {
            "defaults": {
                "prompt_set_id": "spine-core-governance",
                "version": "2026-03-05.1",
                "source_refs": ["AGENTS.md"],
            },
            "capability_overrides": {"spine.init": {"prompt_set_id": "spine-bootstrap", "version": "2026-03-05.1"}},
        },
    )
    schema = {
        "type": "object",
        "properties": {
            "lane": {"enum": ["control", "execution"]},
            "status": {"enum": ["done", "failed"]},
            "run_keys": {"type": "array", "items": {"pattern": r"^CAP-\d{8}-\d{6}__[a-z0-9._-]+__R[a-z0-9]+$"}},
            "prompt_lineage": {
                "type": "object",
                "properties": {
                    "resolution": {"enum": ["capability_override", "defaults", "missing_registry", "invalid_registry"]}
                },
            },
        },
    }
    fx.write("ops/bindings/orchestration.exec_receipt.schema.json", json.dumps(schema, indent=2))
    fx.yaml(
        "ops/bindings/spine.experiment.contract.yaml",
        {
            "authority": {
                "capability": "spine.experiment.compare",
                "script": "ops/plugins/evidence/bin/spine-experiment-compare",
            }
        },
    )
    recovery = fx.load("ops/bindings/recovery.actions.yaml")
    recovery["actions"].append(
        {
            "id": "recover-spine-experiment-compare-d350",
            "trigger": {"gate_ids": ["D350"], "failure_class": "deterministic"},
            "recovery": {
                "type": "capability_retry",
                "capability": "spine.experiment.compare",
                "max_attempts": 1,
                "backoff_seconds": [60],
            },
            "safety": {"max_attempts": 1, "cooldown_seconds": 1800, "escalate_after_failures": 1},
        }
    )
    fx.yaml("ops/bindings/recovery.actions.yaml", recovery)


def lineage(fx: OpsFixture) -> None:
    """Files of D338, D339 and D340."""
    topo = fx.load("ops/bindings/gate.execution.topology.yaml")
    domains = [d["domain_id"] for d in topo["domain_metadata"]]
    fx.yaml(
        "ops/bindings/intake.lifecycle.contract.yaml",
        {
            "chain": {"required_order": ["intake", "master_registry", "domain_projection"]},
            "domain_coverage": {"applies_to_domain_ids": domains},
        },
    )
    fx.write("docs/governance/INFRA.md", "# Infra authority\n")
    fx.yaml(
        "ops/bindings/master.inventory.registry.yaml",
        {
            "rows": [
                {
                    "id": "infra-core-services",
                    "domain_id": domains[0],
                    "authority": {"path": "docs/governance/INFRA.md"},
                    "intake_lineage": {
                        "envelope_schema_ref": "ops/bindings/intake.envelope.schema.yaml",
                        "accepted_intake_refs": ["INTAKE-1"],
                        "evidence_required": True,
                    },
                    "evidence_refs": ["docs/governance/INFRA.md", "receipts/sessions/*"],
                    "projection_refs": ["infra-services"],
                }
            ]
        },
    )
    fx.yaml(
        "ops/bindings/domain.projection.contract.yaml",
        {
            "projections": [
                {
                    "id": "infra-services",
                    "output_path": "ops/bindings/generated/infra.services.yaml",
                    "generator_capability": "projection.reconcile",
                    "source_master_rows": ["infra-core-services"],
                    "generated_only": True,
                    "required_comment_markers": ["GENERATED - do not edit"],
                    "required_markers": [
                        {"key": "generated_by", "presence": "required"},
                        {"key": "source", "equals": "master.inventory.registry"},
                    ],
                }
            ]
        },
    )
    fx.write(
        "ops/bindings/generated/infra.services.yaml",
        "# GENERATED - DO NOT EDIT\ngenerated_by: projection.reconcile\nsource: master.inventory.registry\nservices: []\n",
    )


def bootstrap(fx: OpsFixture) -> None:
    """Files of D347 and D348."""
    fx.yaml(
        "ops/bindings/runtime.bootstrap.contract.yaml",
        {
            "path_abstraction_policy": {
                "prohibited_literals_for_new_runtime_writes": [f"{WORKBENCH}", "/Users/ronnyworks/code/agentic-spine"]
            }
        },
    )
    fx.script("ops/plugins/session/bin/spine-init", 'ROOT="$(cd "$(dirname "$0")/../../../.." && pwd)"')
    fx.script("ops/plugins/session/bin/spine-doctor", 'ROOT="$(cd "$(dirname "$0")/../../../.." && pwd)"')
    fx.script("ops/plugins/tenant/bin/tenant-profile-validate")
    fx.script("ops/plugins/aof/bin/validate-environment.sh")
    fx.yaml(
        "ops/bindings/tenant.profile.yaml",
        {
            "identity": {"tenant_id": "spine-lab", "owner": "@operator", "created_at": "2026-03-01"},
            "secrets": {"provider": "infisical", "environment": "prod"},
            "policy": {"preset": "balanced"},
            "runtime": {"spine_root": "/srv/spine", "git_remote_primary": "origin", "timezone": "America/New_York"},
            "surfaces": {"agents": ["claude"], "slash_commands": True},
            "evidence": {
                "receipts_enabled": True,
                "ledger_path": "mailroom/state/ledger.csv",
                "session_closeout_sla_hours": 24,
            },
        },
    )
    fx.yaml("ops/bindings/tenant.profile.schema.yaml", {"version": 1})
    fx.yaml("ops/bindings/runtime.path.inventory.baseline.yaml", {"paths": []})
    fx.yaml("ops/bindings/policy.presets.yaml", {"presets": {"balanced": {"approval": "auto"}}})
    fx.yaml(".environment.yaml", {"environment": {"name": "spine-lab", "tier": "lab"}})
    fx.yaml(".identity.yaml", {"identity": {"node_id": "node-1"}})
