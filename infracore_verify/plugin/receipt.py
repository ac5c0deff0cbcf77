"""Builds the typed run receipt from the run's state (the controller's, under xdist)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from infracore_verify import __version__
from infracore_verify.contracts.loader import file_sha256
from infracore_verify.contracts.sets import Contracts
from infracore_verify.contracts.times import utc_iso
from infracore_verify.contracts.verdict import Verdict
from infracore_verify.gates.profiles import Selection, widest_ring
from infracore_verify.plugin.state import GatePlan, SuiteState, requested_ids
from infracore_verify.reporting.receipt import (
    Budget,
    ContractsInfo,
    EnvironmentInfo,
    ProbeTotals,
    Receipt,
    Requested,
    Row,
    SelectionInfo,
    SuiteInfo,
    Totals,
    env_label,
    git_revision,
)

FAILURE_CLASSES = ("deterministic", "freshness", "gate_bug", "timeout")
"""The ops classes, then `timeout`: a gate the hang guard stopped before it reached a verdict."""


def contracts_digest(contracts: Contracts) -> str:
    """Return one sha256 over every contract file of the set, keyed by logical name (layout-independent)."""
    digest = hashlib.sha256()
    for doc in sorted(contracts.documents(), key=lambda d: d.name):
        digest.update(f"{doc.name}\t{doc.sha256 or file_sha256(doc.path) or 'missing'}\n".encode())
    return digest.hexdigest()


def _probe_rows(state: SuiteState) -> list[Row]:
    probes = []
    for probe_id in state.selected_probes or list(state.probe_rows):
        row = dict(
            state.probe_rows.get(probe_id)
            or {"id": probe_id, "verdict": Verdict.NOT_RUN, "failure_class": None, "message": "not run"}
        )
        row["duration_seconds"] = round(state.durations.get(f"probe:{probe_id}", 0.0), 4)
        probes.append(row)
    return probes


def _gate_rows(plan: GatePlan, state: SuiteState, selected: list[str]) -> list[Row]:
    gates = []
    for gate_id in selected:
        row = dict(
            state.rows.get(gate_id)
            or {"id": gate_id, "verdict": Verdict.NOT_RUN, "failure_class": None, "message": "not run"}
        )
        if row["verdict"] == Verdict.FAIL and not row.get("failure_class"):
            gate = plan.registry.by_id.get(gate_id)
            row["failure_class"] = plan.classifier.classify(gate, False) if gate else "gate_bug"
        row["duration_seconds"] = round(state.durations.get(gate_id, 0.0), 4)
        gates.append(row)
    return gates


def _recorded_selection(plan: GatePlan, selected: list[str]) -> Selection:
    """Return what the run counts as: the requested selection, else fast (when -m left exactly it) or custom."""
    if plan.explicit:
        return plan.selection
    if selected and set(selected) == set(plan.fast_ids):
        return Selection("fast", tuple(selected), plan.profiles.fast_ring, "fast markers (-m fast)")
    ring = widest_ring(selected, plan.registry, plan.budgets)
    return Selection("custom", tuple(selected), ring, "collected gates (-m/-k or paths)")


def _totals(gates: list[Row]) -> Totals:
    verdicts = [g["verdict"] for g in gates]
    passed, failed, waived = verdicts.count(Verdict.PASS), verdicts.count(Verdict.FAIL), verdicts.count(Verdict.WAIVED)
    line = f"total={len(gates)} pass={passed} fail={failed}" + (f" waived={waived}" if waived else "")
    return Totals(
        len(gates),
        passed,
        failed,
        verdicts.count(Verdict.SKIP) + verdicts.count(Verdict.NOT_APPLICABLE),
        verdicts.count(Verdict.NOT_RUN),
        waived,
        line,
    )


def _waivers_disabled(state: SuiteState) -> Row | None:
    """Return why no waiver applied this run (operational.gaps.yaml did not load), or None when waivers are on."""
    book = state.waivers
    if book is None or not book.disabled:
        return None
    return {
        "file": book.disabled[0].file,
        "reason": book.disabled_text(),
        "problems": [f.render() for f in book.disabled],
    }


def build_receipt(
    config: pytest.Config, plan: GatePlan, state: SuiteState, finished: float, exitstatus: int
) -> Receipt:
    """Return the receipt of the run: selection, per-gate/probe/recovery rows, totals, classes and budget."""
    selected = state.selected_ids if state.selected_ids is not None else list(plan.selection.gate_ids)
    probes = _probe_rows(state)
    selection = _recorded_selection(plan, selected)
    gates = _gate_rows(plan, state, selected)
    elapsed = finished - state.started
    budget_seconds = plan.budgets.get(selection.ring, plan.budgets["deep"])
    env_doc = plan.contracts.environment(state.env_name)
    env_kind = env_doc.data.get("kind") if env_doc.ok else None
    failing = [g for g in gates if g["verdict"] == Verdict.FAIL]
    markexpr: Any = config.getoption("markexpr") or None
    return Receipt(
        run_key=state.run_key,
        suite=SuiteInfo("infracore-verify", __version__),
        started_utc=utc_iso(state.started),
        finished_utc=utc_iso(finished),
        elapsed_seconds=round(elapsed, 3),
        environment=EnvironmentInfo(
            state.env_name, env_kind, env_kind == "sandbox", env_label(state.env_name, env_kind)
        ),
        contracts=ContractsInfo(
            str(plan.contracts.path),
            plan.contracts.layout,
            plan.contracts.fingerprint(),
            contracts_digest(plan.contracts),
        ),
        git_revision=git_revision(plan.contracts.root),
        selection=SelectionInfo(
            selection.profile,
            selection.ring,
            selection.source,
            Requested(requested_ids(config), config.getoption("profile"), config.getoption("domain"), markexpr),
            list(selected),
        ),
        gates=gates,
        probes=probes,
        recoveries=list(state.recovery_rows.values()),
        probe_totals=ProbeTotals(
            len(probes),
            sum(1 for p in probes if p["verdict"] == Verdict.PASS),
            sum(1 for p in probes if p["verdict"] == Verdict.FAIL),
            sum(1 for p in probes if p["verdict"] == Verdict.SKIP),
        ),
        totals=_totals(gates),
        failing_gate_ids=[g["id"] for g in failing],
        waivers=[entry for g in gates for entry in g.get("waivers") or []],
        failure_class={c: sum(1 for g in failing if g.get("failure_class") == c) for c in FAILURE_CLASSES},
        budget=Budget(
            selection.ring,
            budget_seconds,
            round(elapsed, 3),
            elapsed > budget_seconds,
            round(elapsed - budget_seconds, 3),
        ),
        exit_status=exitstatus,
        waivers_disabled=_waivers_disabled(state),
    )
