"""pytest wiring for recovery actions: opt-in tests that run only when their trigger failed in the same run.

Two keys (STYLE 6): the `recovery` marker and `--allow-recovery`, which also needs an explicit `--env`.
Without it every action is reported as skipped with "pass --allow-recovery to run". An action runs when one
of its trigger gates (exact id, same failure class) or trigger probes failed earlier in this run, or when
`--recover ID` names it; an empty trigger list is manual only, never a wildcard. Safety (cooldown,
attempts, escalation) lives in the append-only ledger, under a file lock, so limits hold across runs and
processes. `--recovery-dry-run` shows the exact commands or HTTP calls and runs none.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from infracore_verify.contracts.findings import did_you_mean, render_all
from infracore_verify.contracts.model import as_list, mapping
from infracore_verify.contracts.verdict import Verdict
from infracore_verify.plugin.fixtures import Environment
from infracore_verify.plugin.state import RECOVERY_PROPERTY, STATE, item_mark, reports_dir
from infracore_verify.redact import REDACTOR
from infracore_verify.reporting import allure as report
from infracore_verify.smoke.registry import load_probes

if TYPE_CHECKING:
    # The ledger, the probes and the clients load when a recovery action runs, not at start-up.
    from infracore_verify.clients.credentials import CredentialResolver
    from infracore_verify.contracts.loader import Document
    from infracore_verify.contracts.sets import Contracts
    from infracore_verify.recovery.actions import RecoveryContext, StepRecord
    from infracore_verify.recovery.ledger import LedgerDecision

DEFAULT_LEDGER = Path("recovery") / "ledger.jsonl"
"""Below the reports directory unless the environment file or --recovery-ledger says otherwise."""


@dataclass(frozen=True)
class RecoveryAction:
    """One action of recovery.actions.yaml with its trigger."""

    id: str
    type: str
    gate_ids: tuple[str, ...]
    probe_ids: tuple[str, ...]
    failure_class: str
    manual_only: bool
    raw: dict[str, Any] = field(repr=False, hash=False, compare=False)


Recover = Callable[[RecoveryAction], dict[str, Any]]


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the recovery options to the suite's option group."""
    group = parser.getgroup("infracore-verify", "infra-core verification")
    group.addoption("--allow-recovery", action="store_true", help="Let recovery actions run (needs an explicit --env)")
    group.addoption(
        "--recovery-dry-run", action="store_true", help="Show the commands and HTTP calls recovery would make; run none"
    )
    group.addoption(
        "--recover",
        action="append",
        default=[],
        metavar="ACTION_ID",
        help="Run this recovery action even if nothing triggered it",
    )
    group.addoption(
        "--recovery-ledger", metavar="PATH", help="Recovery ledger (JSON Lines; default reports/recovery/ledger.jsonl)"
    )


def _actions(config: pytest.Config) -> tuple[list[RecoveryAction], str | None]:
    plan = config.stash[STATE].plan
    if plan is None:
        return [], "the contracts do not load"
    doc = plan.contracts.doc("recovery")
    if not doc.ok:
        return [], render_all(doc.errors)
    actions = []
    for entry in as_list(doc.data.get("actions")):
        entry = mapping(entry)
        trigger = mapping(entry.get("trigger"))
        actions.append(
            RecoveryAction(
                str(entry.get("id")),
                str(mapping(entry.get("recovery")).get("type")),
                tuple(str(g) for g in as_list(trigger.get("gate_ids"))),
                tuple(str(p) for p in as_list(trigger.get("probe_ids"))),
                str(trigger.get("failure_class") or "deterministic"),
                trigger.get("manual_only") is True,
                dict(entry),
            )
        )
    return actions, None


def _named(config: pytest.Config) -> list[str]:
    return [a.strip() for value in config.getoption("recover") or [] for a in str(value).split(",") if a.strip()]


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Refuse unsafe combinations before anything runs."""
    allow = config.getoption("allow_recovery")
    named = _named(config)
    if allow and not (config.getoption("env") or os.environ.get("INFRACORE_ENV")):
        raise pytest.UsageError("--allow-recovery needs an explicit --env (the sandbox too: --env sandbox)")
    if named:
        actions, problem = _actions(config)
        if problem:
            raise pytest.UsageError(f"cannot select recovery actions: {problem}")
        known = [a.id for a in actions]
        for action_id in named:
            if action_id not in known:
                raise pytest.UsageError(
                    f"--recover {action_id}: no such recovery action{did_you_mean(action_id, known)}; known: {', '.join(known)}"
                )
    workers = getattr(config.option, "numprocesses", None)
    if allow and workers and not named:
        raise pytest.UsageError(
            "--allow-recovery runs actions after the gates and probes that trigger them, which -n cannot order; "
            "run without -n, or name the actions with --recover"
        )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize `recovery_action` with one test per recovery action (id = action id), marked `recovery`."""
    if "recovery_action" not in metafunc.fixturenames:
        return
    actions, problem = _actions(metafunc.config)
    if problem:
        metafunc.parametrize(
            "recovery_action",
            [pytest.param(None, id="contracts", marks=[pytest.mark.recovery, item_mark("recovery", "contracts")])],
        )
        return
    links = metafunc.config.stash[STATE].links
    metafunc.parametrize(
        "recovery_action",
        [
            pytest.param(
                a,
                id=a.id,
                marks=[pytest.mark.recovery, item_mark("recovery", a.id), *report.recovery_marks(a.id, a.type, links)],
            )
            for a in actions
        ],
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run recovery tests last, after every gate and probe that may trigger them."""
    recovery = [item for item in items if "recovery_action" in getattr(item, "fixturenames", ())]
    if recovery:
        items[:] = [item for item in items if item not in recovery] + recovery


def _failures(config: pytest.Config) -> dict[str, str]:
    """Return id -> failure class of every gate and probe that failed so far in this run."""
    state = config.stash[STATE]
    failed = {
        gid: str(row.get("failure_class") or "deterministic")
        for gid, row in state.rows.items()
        if row["verdict"] == Verdict.FAIL
    }
    failed.update({pid: "deterministic" for pid, row in state.probe_rows.items() if row["verdict"] == Verdict.FAIL})
    return failed


def _trigger(action: RecoveryAction, failures: dict[str, str], named: list[str]) -> str | None:
    if action.id in named:
        return "manual (--recover)"
    hits = [g for g in action.gate_ids if failures.get(g) == action.failure_class]
    hits += [p for p in action.probe_ids if p in failures]
    return ",".join(hits) or None


def _escalate(ctx: Any, execute: Callable[[Any], Any]) -> str:
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


def _ledger_path(config: pytest.Config, env: Environment) -> Path:
    option = config.getoption("recovery_ledger") or mapping(env.data.get("recovery")).get("ledger")
    base = reports_dir(config)
    path = Path(option) if option else DEFAULT_LEDGER
    return path if path.is_absolute() else base / path


def _hosts(env: Environment, config: pytest.Config) -> dict[str, dict[str, Any]]:
    hosts = {str(k): dict(mapping(v)) for k, v in mapping(env.data.get("hosts")).items()}
    if env.is_sandbox:
        # The sandbox's stacks live below the reports directory, so a local `docker compose` stand-in has a
        # real directory to run in and nothing outside the checkout is touched.
        stacks = reports_dir(config) / "sandbox" / "stacks"
        for host in hosts.values():
            host["stacks_dir"] = str(stacks)
    return hosts


@dataclass
class _Outcome:
    """What the recover fixture records of one action: its steps, result, detail and verification."""

    steps: list[StepRecord]
    result: str
    detail: str
    verification: str = ""


class _Recoverer:
    """The `recover` fixture's callable: checks the trigger, asks the ledger, runs the action and reports it."""

    def __init__(
        self,
        request: pytest.FixtureRequest,
        env: Environment,
        make_client: Callable[[str], Any],
        credential_resolver: CredentialResolver,
        sandbox: Any,
    ) -> None:
        self.request = request
        self.config = request.config
        self.state = self.config.stash[STATE]
        self.contracts = self.state.plan.contracts if self.state.plan is not None else None
        self.allow = self.config.getoption("allow_recovery")
        self.dry = self.config.getoption("recovery_dry_run")
        self.env = env
        self.make_client = make_client
        self.credential_resolver = credential_resolver
        self.sandbox = sandbox

    def fresh_probe(self, probe_id: str) -> tuple[bool, str]:
        """Run one smoke probe now; return (passed, its message)."""
        from infracore_verify.smoke.probes import ProbeContext, Slo, run_probe

        contracts = self.contracts
        assert contracts is not None
        probes = {p.id: p for p in load_probes(contracts)[0]}
        probe = probes.get(probe_id)
        if probe is None:
            return False, f"{probe_id} is not a smoke probe of the baseline contract"
        inventory = contracts.doc("inventory")
        outcome = run_probe(
            probe.id,
            probe.implementation,
            probe.system,
            ProbeContext(self.make_client, inventory.data if inventory.ok else {}),
            Slo(),
        )
        return outcome.verdict == Verdict.PASS, outcome.message

    def _verifier(self, probe_ids: tuple[str, ...]) -> Callable[[], tuple[bool, str]]:
        """Return the verification of an action: all its trigger probes pass when run afresh."""

        def verify() -> tuple[bool, str]:
            if not probe_ids:
                return False, "no trigger.probe_ids to verify the recovery with"
            results = [self.fresh_probe(p) for p in probe_ids]
            return all(ok for ok, _ in results), "; ".join(text for _, text in results)

        return verify

    def _trigger(self, action: RecoveryAction) -> str:
        """Return what triggered the action; fail or skip the test when it cannot or need not run."""
        if action is None or self.contracts is None:
            pytest.fail("no recovery action can run: recovery.actions.yaml does not load", pytrace=False)
        if not self.allow and not self.dry:
            pytest.skip("pass --allow-recovery to run")
        trigger = _trigger(action, _failures(self.config), _named(self.config))
        if trigger is None:
            if action.manual_only or not (action.gate_ids or action.probe_ids):
                pytest.skip(f"manual only: run it with --recover {action.id}")
            pytest.skip(
                "not triggered: none of " + ", ".join((*action.gate_ids, *action.probe_ids)) + " failed in this run"
            )
        return trigger

    def _context(
        self, action: RecoveryAction, trigger: str, contracts: Contracts, recovery_doc: Document
    ) -> RecoveryContext:
        """Return the action's RecoveryContext (creating a sandbox stack directory when one is needed)."""
        from infracore_verify.recovery.actions import RecoveryContext

        env = self.env
        alert_url = self.credential_resolver.resolve(
            mapping(env.data.get("alerting")).get("webhook_url"), "alerting.webhook_url"
        )
        settings = mapping(env.data.get("recovery"))
        subprocess_env = dict(os.environ, INFRACORE_RUN_KEY=self.state.run_key)
        if self.sandbox is not None:
            subprocess_env["INFRACORE_SANDBOX_URLS"] = json.dumps(self.sandbox.base_urls)
        capabilities = contracts.doc("capabilities")
        hosts = _hosts(env, self.config)
        stack = mapping(action.raw.get("recovery")).get("stack")
        target = hosts.get(str(mapping(action.raw.get("recovery")).get("target")), {})
        if env.is_sandbox and stack and target.get("stacks_dir"):
            (Path(target["stacks_dir"]) / str(stack)).mkdir(parents=True, exist_ok=True)
        return RecoveryContext(
            action=action.raw,
            hosts=hosts,
            run_key=self.state.run_key,
            trigger=trigger,
            verify=self._verifier(action.probe_ids),
            rerun_capability=self.fresh_probe,
            alert_url=alert_url,
            repo_root=contracts.root,
            capabilities=mapping(capabilities.data.get("capabilities")) if capabilities.ok else {},
            verify_timeout=float(settings.get("verify_timeout_seconds", 120)),
            verify_interval=float(settings.get("verify_interval_seconds", 5)),
            launchd_domain=settings.get("launchd_domain"),
            env=subprocess_env,
            environment="sandbox" if env.is_sandbox else env.name,
            actions_file=recovery_doc.display,
            environment_file=env.display,
        )

    def _perform(self, ctx: RecoveryContext, decision: LedgerDecision) -> _Outcome:
        """Plan (dry run), skip (suppressed or exhausted) or execute the action as the ledger decided."""
        from infracore_verify.recovery.actions import RecoveryError, execute, plan

        try:
            if self.dry:
                return _Outcome(plan(ctx), "dry-run", f"would {decision.kind}: {decision.reason}")
            if decision.kind in ("suppressed", "exhausted"):
                return _Outcome([], decision.kind, decision.reason)
            outcome = execute(ctx)
            return _Outcome(outcome.steps, outcome.result, outcome.detail, outcome.verification)
        except RecoveryError as exc:
            return _Outcome([], "failed", str(exc))

    def __call__(self, action: RecoveryAction) -> dict[str, Any]:
        """Run the action when this run's failures (or --recover) call for it; return its recovery row."""
        from infracore_verify.recovery.actions import execute
        from infracore_verify.recovery.ledger import Ledger, effective_safety

        trigger = self._trigger(action)
        contracts = self.contracts
        assert contracts is not None  # _trigger fails the test without contracts
        recovery_doc = contracts.doc("recovery")
        defaults = mapping(recovery_doc.data.get("defaults")) if recovery_doc.ok else {}
        safety = effective_safety(action.raw, defaults)
        ledger = Ledger(_ledger_path(self.config, self.env))
        ctx = self._context(action, trigger, contracts, recovery_doc)
        started = time.monotonic()
        decision = ledger.begin(action.id, safety, run_key=self.state.run_key, trigger=trigger, dry_run=self.dry)
        row: dict[str, Any] = {"id": action.id, "type": action.type, "trigger": trigger, "attempt": decision.attempt}
        outcome = self._perform(ctx, decision)
        commands = [step.description for step in outcome.steps]
        entry = ledger.finish(
            decision,
            result=outcome.result,
            duration=time.monotonic() - started,
            detail=outcome.detail,
            commands=commands,
        )
        escalated = bool(entry.get("escalated")) or decision.escalate
        if escalated and action.type != "alert_only" and not self.dry:
            row["escalation_alert"] = _escalate(ctx, execute)
        row.update(
            result=outcome.result,
            escalated=escalated,
            detail=REDACTOR.mask(outcome.detail),
            verification=REDACTOR.mask(outcome.verification),
            commands=commands,
            duration_seconds=round(time.monotonic() - started, 3),
            ledger=str(ledger.path),
        )
        self.request.node.user_properties.append((RECOVERY_PROPERTY, json.dumps(row)))
        _report(action, self.env, outcome, escalated)
        _verdict(action, outcome, escalated)
        return row


def _report(action: RecoveryAction, env: Environment, outcome: _Outcome, escalated: bool) -> None:
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


def _verdict(action: RecoveryAction, outcome: _Outcome, escalated: bool) -> None:
    """Skip a suppressed action, fail a failed or exhausted one; anything else passes."""
    message = f"{action.id}: {outcome.result}{' (ESCALATED)' if escalated else ''}: {outcome.detail}"
    if outcome.result == "suppressed":
        pytest.skip(REDACTOR.mask(message))
    if outcome.result in ("failed", "exhausted"):
        lines = [message, *(f"  {s.description} -> {s.returncode}" for s in outcome.steps)]
        if outcome.verification:
            lines.append(f"  verification: {outcome.verification}")
        pytest.fail(REDACTOR.mask("\n".join(lines)), pytrace=False)


@pytest.fixture
def recover(
    request: pytest.FixtureRequest,
    infracore_environment: Environment,
    make_client: Callable[[str], Any],
    credential_resolver: CredentialResolver,
    sandbox: Any,
) -> Recover:
    """Runs a recovery action when this run's failures (or --recover) call for it, bounded by the ledger."""
    return _Recoverer(request, infracore_environment, make_client, credential_resolver, sandbox)
