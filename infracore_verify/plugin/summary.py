"""What the terminal shows: the run header and the ops-style summary ending with the run key and receipt."""

from __future__ import annotations

from typing import Any

import pytest

from infracore_verify import __version__
from infracore_verify.contracts.verdict import Verdict
from infracore_verify.gates.scripts import missing_tools
from infracore_verify.plugin.state import STATE
from infracore_verify.reporting.receipt import env_label
from infracore_verify.reporting.waivers import summary as waiver_summary


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say which contracts and environment the run uses (and that the sandbox is the sandbox)."""
    state = config.stash.get(STATE, None)
    if state is None or state.is_worker:
        return []
    if state.plan is None:
        return [f"infracore-verify {__version__}: no gate can run: {state.plan_error}"]
    contracts = state.plan.contracts
    env_doc = contracts.environment(state.env_name)
    kind = env_doc.data.get("kind") if env_doc.ok else None
    return [
        f"infracore-verify {__version__}: contracts {contracts.path} ({contracts.layout} layout)",
        f"environment: {env_label(state.env_name, kind)}",
        f"run key: {state.run_key}",
    ]


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Print the ops-style totals, failure classes and budget, ending with the run key and receipt path."""
    state = config.stash.get(STATE, None)
    if state is None or state.receipt is None:
        return
    r = state.receipt
    tr = terminalreporter
    tr.section("infracore-verify")
    tr.write_line(f"environment: {r['environment']['label']}")
    sel = r["selection"]
    if sel["gate_ids"]:
        tr.write_line(
            f"selection: profile={sel['profile']} ring={sel['ring']} gates={len(sel['gate_ids'])} source={sel['source']}"
        )
        tr.write_line(f"wrapper: {r['totals']['line']}")
        tr.write_line("failing_gate_ids: " + (" ".join(r["failing_gate_ids"]) or "none"))
        fc = r["failure_class"]
        tr.write_line(
            f"failure_class: deterministic={fc['deterministic']} freshness={fc['freshness']} gate_bug={fc['gate_bug']}"
            + (f" timeout={fc['timeout']}" if fc.get("timeout") else "")
        )
        bugs = [(str(g["id"]), str(g.get("message") or "")) for g in r["gates"] if g.get("failure_class") == "gate_bug"]
        for tool, (found, gate_ids) in missing_tools(bugs).items():
            tr.write_line(f"gate_bug: tool {tool} missing or incompatible (found: {found}): {' '.join(gate_ids)}")
    if r["probes"]:
        pt = r["probe_totals"]
        failing = [f"{p['id']}({p.get('failure_class')})" for p in r["probes"] if p["verdict"] == Verdict.FAIL]
        tr.write_line(f"smoke: total={pt['total']} pass={pt['pass']} fail={pt['fail']} skipped={pt['skipped']}")
        tr.write_line("failing_probes: " + (" ".join(failing) or "none"))
    if r["waivers"]:
        counts = waiver_summary(r["waivers"])
        tr.write_line("waivers: " + " ".join(f"{k}={v}" for k, v in counts.items()))
        for w in r["waivers"]:
            tr.write_line(
                f"    {w['gate']} {w['gap']}: {w['status']} (owner {w['owner'] or 'unassigned'}, "
                f"review by {w['review_by'] or 'not set'})"
                + (f" findings {' '.join(w['findings'])}" if w.get("findings") else "")
            )
    off = r.get("waivers_disabled")
    if off:
        tr.write_line(off["reason"], red=True, bold=True)
        for problem in off["problems"][:10]:
            tr.write_line(f"    {problem}", red=True)
    for row in r["recoveries"]:
        mark = " ESCALATED" if row.get("escalated") else ""
        tr.write_line(
            f"recovery {row['id']}: {row['result']}{mark} (trigger {row.get('trigger')}) {row.get('detail', '')}".rstrip()
        )
        if row.get("escalation_alert"):
            tr.write_line(f"    escalation alert: {row['escalation_alert']}")
        if row.get("ledger_error"):
            tr.write_line(f"    LEDGER WRITE FAILED: {row['ledger_error']}")
        for problem in row.get("ledger_problems", []):
            tr.write_line(f"    ledger: {problem}")
        for command in row.get("commands", []):
            tr.write_line(f"    {'would run' if row['result'] == 'dry-run' else 'ran'}: {command}")
    b = r["budget"]
    status = "EXCEEDED" if b["exceeded"] else "ok"
    tr.write_line(
        f"budget: {status} (ring={b['ring']} elapsed={b['elapsed_seconds']:.2f}s budget={b['budget_seconds']}s "
        f"delta={b['delta_seconds']:+.2f}s)"
    )
    tr.write_line(f"Run Key: {state.run_key}")
    tr.write_line(f"Receipt: {state.receipt_path}")
