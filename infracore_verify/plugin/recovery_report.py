"""How a recovery action's outcome is reported: its record, the Allure report, the test verdict, the escalation."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import pytest

from infracore_verify.redact import REDACTOR
from infracore_verify.reporting import allure as report

if TYPE_CHECKING:
    from infracore_verify.plugin.fixtures import Environment
    from infracore_verify.plugin.recovery import RecoveryAction
    from infracore_verify.recovery.actions import StepRecord


def escalate(ctx: Any, execute: Callable[[Any], Any]) -> str:
    """Post the escalation alert for an action that failed for good; return what happened (never raises)."""
    if not ctx.alert_url:
        return "not sent: no alerting.webhook_url in the environment file"
    alert = replace(
        ctx,
        action={"id": ctx.action_id, "recovery": {"type": "alert_only", "capability": "alerting.dispatch"}},
        trigger=f"{ctx.trigger} (escalated)",
    )
    outcome = execute(alert)
    return f"{outcome.result}: {outcome.detail}"


@dataclass
class Outcome:
    """What the recover fixture records of one action: its steps, result, detail and verification."""

    steps: list[StepRecord]
    result: str
    detail: str
    verification: str = ""
    ledger_error: str = ""
    """Why the ledger could not be read or written (the result is then missing from it)."""
    ledger_problems: tuple[str, ...] = ()
    """The unreadable ledger lines that suppressed the action."""


def report_action(action: RecoveryAction, env: Environment, outcome: Outcome, escalated: bool) -> None:
    """Put the action's title, result, steps and verification in the Allure report."""
    report.title(f"{action.id} [{'sandbox' if env.is_sandbox else env.name}]")
    report.label("recovery_result", outcome.result)
    if escalated:
        report.label("tag", "escalated")
    if outcome.steps:
        report.attach_text(
            "recovery steps (redacted)",
            REDACTOR.mask(json.dumps([step.__dict__ for step in outcome.steps], indent=2, default=str)),
            extension="json",
        )
    if outcome.verification:
        report.attach_text("verification", REDACTOR.mask(outcome.verification))


def verdict(action: RecoveryAction, outcome: Outcome, escalated: bool) -> None:
    """Skip a suppressed action; fail a failed, exhausted or not_run one, or one the ledger lost; else pass.

    A suppression by unreadable ledger lines fails too: the ledger needs a human before recovery can run.
    """
    message = f"{action.id}: {outcome.result}{' (ESCALATED)' if escalated else ''}: {outcome.detail}"
    if outcome.ledger_error:
        pytest.fail(REDACTOR.mask(f"{message}\n  ledger: {outcome.ledger_error}"), pytrace=False)
    if outcome.result == "suppressed" and outcome.ledger_problems:
        pytest.fail(REDACTOR.mask("\n".join([message, *(f"  {p}" for p in outcome.ledger_problems)])), pytrace=False)
    if outcome.result == "suppressed":
        pytest.skip(REDACTOR.mask(message))
    if outcome.result in ("failed", "exhausted", "not_run"):
        lines = [message, *(f"  {s.description} -> {s.returncode}" for s in outcome.steps)]
        if outcome.verification:
            lines.append(f"  verification: {outcome.verification}")
        pytest.fail(REDACTOR.mask("\n".join(lines)), pytrace=False)
