"""Ported ops gates D331, D349 and D350 on an ops-shaped fixture, D331's harness run as a subprocess."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from infracore_verify.gates.checks.ops_common import HOST_ROOT_ENV
from tests.ops_fixture import OpsFixture, build, outcome

PACKETS = "mailroom/state/orchestration"
PROMPTS = "ops/bindings/prompt.registry.yaml"
HISTORY = "ops/plugins/verify/state/verify-failure-class-history.ndjson"


@pytest.fixture
def fx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> OpsFixture:
    """Returns a fresh ops-shaped fixture."""
    fixture = build(tmp_path)
    monkeypatch.setenv(HOST_ROOT_ENV, str(fixture.host))
    return fixture


def test_d331_marker_and_packets(fx: OpsFixture) -> None:
    """A missing wave.sh marker fails first; a packet with a pending lane and no run key fails the packet step."""
    fx.write("ops/commands/wave.sh", "control_lane_override\n")
    assert outcome(fx, "D331")[1] == [
        'ops/commands/wave.sh: ops/commands/wave.sh missing required marker: dispatch_pushability_preflight "$sf" "$lane";'
        " restore the closeout control"
    ]
    from tests.ops_fixture_files import WAVE_TEXT

    fx.write("ops/commands/wave.sh", WAVE_TEXT)
    packet: dict[str, Any] = {
        f: "x"
        for f in (
            "loop_id",
            "cross_repo_pushability_gate",
            "stub_matrix",
            "plan_transition",
            "closeout_summary",
            "closed_at",
        )
    }
    packet.update(
        execution_mode="orchestrator_subagents",
        verification_sequence=[{"run_key": " "}],
        lane_outcomes=[{"lane_status": "PENDING_CLOSEOUT"}],
    )
    fx.write(f"{PACKETS}/LOOP-1/packet.yaml", "---\n" + json.dumps(packet) + "\n---\nsecond: doc\n")
    rel = f"{PACKETS}/LOOP-1/packet.yaml"
    assert [f.split(": ", 1)[1] for f in outcome(fx, "D331")[1]] == [
        "2 orchestrator packet contract violation(s); fix the packets or the contract",
        f"  - {rel}::verification_sequence[0] missing run_key",
        f"  - {rel}::lane idx-0 is PENDING_CLOSEOUT",
    ]


def test_d331_harness_failure_and_missing_git(fx: OpsFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A failing harness is a finding; without git on PATH the harness cannot run: a gate bug, not a FAIL."""
    fx.write(
        "surfaces/verify/lib/wave_hardening_regression.py",
        'import sys\nprint("D331 FAIL: wave regression: dispatch")\nsys.exit(1)\n',
    )
    assert outcome(fx, "D331")[1] == [
        "surfaces/verify/lib/wave_hardening_regression.py: wave.sh regression harness failed (exit 1):"
        " D331 FAIL: wave regression: dispatch; run the harness by hand"
    ]
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert outcome(fx, "D331") == (
        "gate_bug",
        ["tool git missing or incompatible (found: none); D331's wave.sh harness needs it"],
    )


def test_d349_prompt_lineage(fx: OpsFixture) -> None:
    """spine.init's override falls back to defaults field by field; no version at all fails the status step."""
    fx.edit(PROMPTS, lambda d: d["capability_overrides"]["spine.init"].pop("version"))
    assert outcome(fx, "D349") == ("pass", [])
    fx.edit(PROMPTS, lambda d: d["defaults"].update(version=False))
    assert outcome(fx, "D349")[1] == [f"{PROMPTS}: prompt registry missing defaults.version; wire it"]
    fx.edit(PROMPTS, lambda d: d["defaults"].update(version="1", source_refs=""))
    assert outcome(fx, "D349")[1] == [
        f"{PROMPTS}: prompt registry defaults.source_refs must be non-empty; list the source refs"
    ]


def test_d349_emitter_rejection_is_a_gate_bug(fx: OpsFixture) -> None:
    """A receipt schema whose lane enum lacks 'control' makes the unguarded emitter fail: a gate bug naming it."""
    schema = "ops/bindings/orchestration.exec_receipt.schema.json"
    fx.write(schema, json.dumps({"properties": {"lane": {"enum": ["execution"]}}}))
    assert outcome(fx, "D349") == (
        "gate_bug",
        [
            "helper ops/plugins/evidence/bin/receipts-exec-emit would reject D349's fixed arguments, so D349 prints no verdict",
            f"{schema}: lane enum ['execution'] lacks 'control'; add 'control'",
        ],
    )


def test_d350_history_and_recovery(fx: OpsFixture) -> None:
    """A non-numeric total crashes the compare script (FAIL); an unwired recovery action fails earlier."""
    fx.write(HISTORY, '{"timestamp_utc": "2026-01-01T00:00:00Z", "result": {"total": "many"}}\nnot json\n')
    _status, [finding] = outcome(fx, "D350")
    assert finding == (
        f"{HISTORY}:1: spine-experiment-compare failed to execute: ValueError: invalid literal for int() with base 10:"
        " 'many'; fix or drop the row"
    )
    fx.write(HISTORY, '{"timestamp_utc": "2026-03-04T10:00:00Z", "result": {"total": -3}}\n')
    assert outcome(fx, "D350")[1] == [
        f"{HISTORY}: spine-experiment-compare payload invalid: windows.candidate.verify.gate_total is -3; fix the history rows"
    ]
    fx.edit("ops/bindings/recovery.actions.yaml", lambda d: d["actions"][-1]["trigger"].update(gate_ids=["D3501"]))
    assert outcome(fx, "D350")[1] == [
        "ops/bindings/recovery.actions.yaml: recovery action recover-spine-experiment-compare-d350 is not wired to D350; fix the action"
    ]
    assert os.environ.get(HOST_ROOT_ENV) == str(fx.host)
