"""The run's own Allure files: environment, executor and categories, and `broken` results for crashed workers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from infracore_verify import __version__
from infracore_verify.contracts.sets import SUITE_ROOT
from infracore_verify.plugin.receipt import contracts_digest
from infracore_verify.plugin.state import SuiteState, output_dir_problem
from infracore_verify.reporting import allure as report
from infracore_verify.reporting.receipt import env_label, git_revision
from infracore_verify.smoke.registry import load_probes


def report_meta(state: SuiteState, nodeid: str) -> tuple[report.ReportMeta | None, tuple[str, Any] | None]:
    """Return the report metadata and parameter of a gate or probe test from its node id (None otherwise).

    Used for a test whose worker crashed: the controller has its node id only, never the item, so this is
    a best guess from the parameter id.
    """
    plan = state.plan
    match = re.search(r"\[(?P<id>[^\]]+)\]$", nodeid)  # the parameter id: a gate or probe id
    if plan is None or match is None:
        return None, None
    item_id = match["id"]
    gate = plan.registry.by_id.get(item_id)
    if gate is not None:
        gaps = state.waivers.linking(gate.id) if state.waivers is not None else []
        domains = plan.topology.domains_of(gate.id)
        meta = report.gate_meta(gate, domains, gate.id in plan.fast_ids, state.links, gaps)
        return meta, ("gate", gate)
    probe = {p.id: p for p in load_probes(plan.contracts)[0]}.get(item_id)
    if probe is not None:
        return report.probe_meta(probe, state.links), ("probe", probe)
    return None, None


def write_broken(
    alluredir: Path,
    nodeid: str,
    meta: report.ReportMeta | None,
    message: str,
    state: SuiteState,
    now: float,
    parameter: tuple[str, Any] | None,
) -> Path:
    started = state.test_starts.get(nodeid, now)
    return report.write_broken_result(
        alluredir, nodeid, meta, message, start_ms=int(started * 1000), stop_ms=int(now * 1000), parameter=parameter
    )


def check_alluredir(config: pytest.Config) -> None:
    """Refuse, as a usage error, an --alluredir the run could not write its results into (before allure-pytest
    creates it: its own set-up would end in an INTERNALERROR)."""
    alluredir = getattr(config.option, "allure_report_dir", None)
    if not alluredir:
        return
    path = Path(alluredir)
    problem = output_dir_problem(path if path.is_absolute() else config.invocation_params.dir / path)
    if problem:
        raise pytest.UsageError(
            f"--alluredir {alluredir}: {problem}; give a directory this run can write to, e.g. "
            "--alluredir reports/allure-results, or fix the directory's permissions"
        )


def write_run_files(config: pytest.Config, state: SuiteState) -> None:
    """Write environment.properties, executor.json and categories.json (controller only, never deleting)."""
    alluredir = getattr(config.option, "allure_report_dir", None)
    if not alluredir or state.is_worker:
        return
    plan = state.plan
    env_doc = plan.contracts.environment(state.env_name) if plan is not None else None
    kind = str(env_doc.data.get("kind")) if env_doc is not None and env_doc.ok else "unknown"
    environment = {
        "environment": state.env_name,
        "environment.kind": kind,
        "sandbox": "true" if kind == "sandbox" else "false",
        "contracts.path": str(plan.contracts.path) if plan is not None else f"not loaded: {state.plan_error}",
        "contracts.layout": plan.contracts.layout if plan is not None else "unknown",
        "contracts.sha256": contracts_digest(plan.contracts) if plan is not None else "unknown",
        "git.revision": (git_revision(plan.contracts.root) if plan is not None else None) or "unknown",
        "suite.git.revision": git_revision(SUITE_ROOT) or "unknown",
        "run.key": state.run_key,
        "suite.version": __version__,
    }
    executor = {
        "name": "infracore-verify",
        "type": "pytest",
        "buildName": state.run_key,
        "reportName": f"infracore-verify {__version__}: {env_label(state.env_name, None if kind == 'unknown' else kind)}",
    }
    report.write_run_files(Path(alluredir), environment, executor)
