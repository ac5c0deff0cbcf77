"""Gathers each gate's, probe's and action's row from the reports and writes the receipt once per run."""

from __future__ import annotations

import json
import logging
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

from infracore_verify.contracts.verdict import Verdict
from infracore_verify.plugin.allure import write_run_files
from infracore_verify.plugin.receipt import build_receipt
from infracore_verify.plugin.state import (
    GATE_PROPERTY,
    ITEM_PROPERTY,
    PROBE_PROPERTY,
    RECOVERY_PROPERTY,
    STATE,
    ItemRef,
    SuiteState,
    item_ref,
    report_ref,
    reports_dir,
)
from infracore_verify.redact import (
    REDACTOR,
    TreeSnapshot,
    mask_exception,
    mask_handler,
    rewrite_masked,
    scrub_tree,
)
from infracore_verify.reporting.receipt import write_receipt


class _MaskingWriter:
    """Wraps the `--debug` log's writer so hook arguments (warnings, reports) are masked when written."""

    def __init__(self, write: Any) -> None:
        self.write = write

    def __call__(self, text: str) -> None:
        self.write(REDACTOR.mask(text))


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Mask the `--debug` log (pytest opens it before any plugin is configured)."""
    root = config.trace.root
    current = getattr(root, "_writer", None)  # pluggy's TagTracer keeps its writer here
    if current is not None and not isinstance(current, _MaskingWriter):
        root.setwriter(_MaskingWriter(current))


@pytest.hookimpl(tryfirst=True)
def pytest_warning_recorded(warning_message: warnings.WarningMessage, nodeid: str) -> None:
    """Mask a warning's text before the warnings summary (or xdist, or any other plugin) reads it."""
    message = warning_message.message
    if not REDACTOR.values():
        return
    if isinstance(message, Warning):
        message.args = tuple(REDACTOR.mask(a) if isinstance(a, str) else a for a in message.args)
    elif isinstance(message, str):
        warning_message.message = REDACTOR.mask(message)


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach the item's mark to its report, and mask registered secrets in the report and the exception before any reporter (terminal, JUnit, Allure) reads them."""
    report: pytest.TestReport = yield
    ref = item_ref(item)
    if ref is not None and not any(name == ITEM_PROPERTY for name, _ in report.user_properties):
        report.user_properties.append((ITEM_PROPERTY, json.dumps(list(ref))))
    if REDACTOR.values():
        if call.excinfo is not None:
            mask_exception(call.excinfo.value)
        _mask_report(report)
        report.user_properties = [
            (name, REDACTOR.mask(value) if isinstance(value, str) else value) for name, value in report.user_properties
        ]
    return report


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> Any:
    """Mask the stored reports again before the terminal prints failures, errors and the short summary.

    A secret can be registered after a failing test's report was made (a client resolved by a later test);
    the receipt, JUnit and Allure are masked when written, and this does the same for the terminal.
    """
    if REDACTOR.values():
        for reports in terminalreporter.stats.values():
            for stored in reports:
                if isinstance(stored, pytest.TestReport | pytest.CollectReport):
                    _mask_report(stored)
    return (yield)


def _mask_log_handlers(config: pytest.Config) -> None:
    """Mask every record at pytest's handlers: caplog, the report sections, --log-file and live logging.

    The record factory masks what is known when a record is made; these filters also catch a secret
    registered between a record's creation and its emission.
    """
    plugin = config.pluginmanager.get_plugin("logging-plugin")
    for name in ("caplog_handler", "report_handler", "log_file_handler", "log_cli_handler"):
        handler = getattr(plugin, name, None)
        if isinstance(handler, logging.Handler):
            mask_handler(handler)
    for handler in logging.getLogger().handlers:
        mask_handler(handler)


def _mask_report(report: pytest.TestReport | pytest.CollectReport) -> None:
    """Mask registered secrets in a report's failure text and captured sections."""
    if report.longrepr is not None and REDACTOR.contains_secret(report.longreprtext):
        report.longrepr = REDACTOR.mask(report.longreprtext)
    report.sections = [(title, REDACTOR.mask(body)) for title, body in report.sections]


class RunRecorder:
    """Per-config hooks that gather gate verdicts and write the receipt (one instance per pytest run)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.state = config.stash[STATE]
        allure_dir = getattr(config.option, "allure_report_dir", None)
        # What the results folder held before this run: the final scrub rewrites only what the run wrote.
        self.allure_before = TreeSnapshot.take(allure_dir) if allure_dir and not self.state.is_worker else None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Collect each gate's, probe's and recovery action's row for the receipt (the controller's, under xdist)."""
        state = self.state
        if state.is_worker:
            return
        ref = report_ref(report) or state.node_refs.get(report.nodeid)
        if ref is None:
            if report.failed:
                state.unresolved.append(report)  # a crashed worker's test: resolved when the workers report
            return
        self._keep(ref, report)

    def _keep(self, ref: ItemRef, report: pytest.TestReport) -> None:
        state = self.state
        kind, item_id = ref
        if kind == "probe":
            _record(state, state.probe_rows, item_id, PROBE_PROPERTY, report, "setup_error")
        elif kind == "recovery":
            for name, value in report.user_properties:
                if name == RECOVERY_PROPERTY:
                    state.recovery_rows[item_id] = json.loads(str(value))
        else:
            # A gate failing outside the engine has no class yet; the receipt classifies it from the registry.
            _record(state, state.rows, item_id, GATE_PROPERTY, report, None)

    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        """Note when each test started (dates the result of a test whose xdist worker crashes)."""
        if not self.state.is_worker:
            self.state.test_starts[nodeid] = time.time()

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Start the run clock, mask pytest's log handlers and describe the run in the Allure results folder."""
        self.state.started = time.time()
        _mask_log_handlers(self.config)
        write_run_files(self.config, self.state)

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """Scrub registered secrets from files other plugins wrote (Allure results, JUnit XML) as a last guard."""
        if self.state.is_worker:
            return
        allure_dir = getattr(config.option, "allure_report_dir", None)
        if allure_dir and self.allure_before is not None:
            scrub_tree(allure_dir, since=self.allure_before)
        xml = getattr(config.option, "xmlpath", None)
        if xml:
            rewrite_masked(Path(xml))

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Write the run receipt once (on the controller, never for --collect-only) and apply a blocking budget overrun."""
        state = self.state
        workeroutput = getattr(self.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput["infracore_secrets"] = REDACTOR.registrations()
            workeroutput["infracore_items"] = {
                item.nodeid: list(ref) for item in session.items if (ref := item_ref(item)) is not None
            }
        for pending in state.unresolved:
            if pending.nodeid in state.node_refs:
                self._keep(state.node_refs[pending.nodeid], pending)
        state.unresolved.clear()
        if (
            state.is_worker
            or state.plan is None
            or self.config.option.collectonly  # nothing ran: a collect-only run leaves no receipt
            or not (state.rows or state.selected_ids or state.probe_rows or state.recovery_rows)
        ):
            return
        receipt = build_receipt(self.config, state.plan, state, time.time(), exitstatus)
        blocking = bool(self.config.getoption("budget_blocking") or self.config.getini("infracore_budget_blocking"))
        if receipt.budget.exceeded and blocking and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        receipt.budget.blocking = blocking
        receipt.exit_status = int(session.exitstatus)
        receipts_dir = reports_dir(self.config) / "receipts"
        for row in receipt.probes:
            drift = row.pop("drift", None)
            if isinstance(drift, dict):
                from infracore_verify.smoke.drift_report import write_report as write_drift_report

                receipt.drift_reports.append(str(write_drift_report(drift, receipts_dir, state.run_key)))
        data = receipt.to_dict()
        state.receipt = data
        state.receipt_path = write_receipt(receipts_dir, state.run_key, data)


def _record(
    state: SuiteState,
    rows: dict[str, dict[str, Any]],
    item_id: str,
    prop: str,
    report: pytest.TestReport,
    default_class: str | None,
) -> None:
    """Keep a gate's or probe's row from its report; a failure outside its runner still gets a row."""
    key = item_id if rows is state.rows else f"probe:{item_id}"
    state.durations[key] = state.durations.get(key, 0.0) + report.duration
    for name, value in report.user_properties:
        if name == prop:
            rows[item_id] = json.loads(str(value))
    row = rows.get(item_id)
    if report.failed and (row is None or row["verdict"] != Verdict.FAIL):
        # Failed outside the engine or the probe runner: a timeout, a crashed worker, a setup or teardown error.
        lines = str(report.longreprtext).strip().splitlines()
        rows[item_id] = {
            "id": item_id,
            "verdict": Verdict.FAIL,
            **({"implementation": row.get("implementation")} if row and "implementation" in row else {}),
            "failure_class": (row or {}).get("failure_class") or default_class,
            "message": f"{item_id} FAIL ({report.when}): {lines[-1] if lines else 'no detail'}",
        }
    elif report.skipped and row is None:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        rows[item_id] = {"id": item_id, "verdict": Verdict.SKIP, "failure_class": None, "message": reason}
