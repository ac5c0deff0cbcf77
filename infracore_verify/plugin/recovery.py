"""pytest wiring for recovery actions: opt-in tests that run only when their trigger failed in the same run.

Two keys (STYLE 6): the `recovery` marker and `--allow-recovery`, which also needs an explicit `--env`.
Without it every action is skipped ("pass --allow-recovery to run"; a --gate, --probe, --profile or
--domain run not asking for recovery deselects them instead). An action runs when one
of its trigger gates (exact id, same failure class) or trigger probes failed earlier in this run with a
failure class the action can fix (recovery/triggers.py: availability classes by default), or when
`--recover ID` names it; an empty trigger list is manual only, never a wildcard. An action that cannot start
(a configuration error) is not_run and uses no attempt. Safety (cooldown, attempts, escalation) lives in the
append-only ledger, under a file lock, so limits hold across runs and processes; `--recovery-reset ID`
clears an action's state on purpose. `--recovery-dry-run` shows the exact commands or HTTP calls and runs
none. In the sandbox environment restarts act on the sandbox itself (sandbox/runtime.py), never on docker.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from infracore_verify.contracts.findings import did_you_mean, render_all
from infracore_verify.contracts.model import as_list, mapping
from infracore_verify.contracts.verdict import Verdict
from infracore_verify.plugin.fixtures import Environment
from infracore_verify.plugin.recovery_report import Outcome, escalate, report_action, verdict
from infracore_verify.plugin.state import RECOVERY_PROPERTY, STATE, item_mark, reports_dir
from infracore_verify.recovery.triggers import Selection, Trigger, select, trigger_classes
from infracore_verify.redact import REDACTOR, HiddenEnviron
from infracore_verify.reporting import allure as report
from infracore_verify.smoke.registry import load_probes

if TYPE_CHECKING:
    # The ledger, the probes and the clients load when a recovery action runs, not at start-up.
    from infracore_verify.clients.credentials import CredentialResolver
    from infracore_verify.contracts.loader import Document
    from infracore_verify.contracts.sets import Contracts
    from infracore_verify.recovery.actions import RecoveryContext
    from infracore_verify.recovery.ledger import Ledger, LedgerDecision

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
    classes: tuple[str, ...] = ()
    """The failure classes that trigger it (trigger.failure_classes, default the availability classes)."""

    def trigger(self) -> Trigger:
        """Return what selects the action (recovery/triggers.py)."""
        return Trigger(self.id, self.gate_ids, self.probe_ids, self.failure_class, self.classes, self.manual_only)


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
    group.addoption(
        "--recovery-reset",
        action="append",
        default=[],
        metavar="ACTION_ID",
        help="Clear this recovery action's attempts and cooldown in the ledger (recorded with your user name)",
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
                trigger_classes(entry),
            )
        )
    return actions, None


def _named(config: pytest.Config, option: str = "recover") -> list[str]:
    return [a.strip() for value in config.getoption(option) or [] for a in str(value).split(",") if a.strip()]


def _check_ids(config: pytest.Config, option: str) -> None:
    """Refuse unknown action ids of --recover or --recovery-reset, naming the closest one."""
    named = _named(config, option.replace("-", "_"))
    if not named:
        return
    actions, problem = _actions(config)
    if problem:
        raise pytest.UsageError(f"cannot select recovery actions: {problem}")
    known = [a.id for a in actions]
    for action_id in named:
        if action_id not in known:
            raise pytest.UsageError(
                f"--{option} {action_id}: no such recovery action{did_you_mean(action_id, known)}; known: {', '.join(known)}"
            )


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Refuse unsafe combinations before anything runs."""
    allow = config.getoption("allow_recovery")
    named = _named(config)
    explicit_env = config.getoption("env") or os.environ.get("INFRACORE_ENV")
    if allow and not explicit_env:
        raise pytest.UsageError("--allow-recovery needs an explicit --env (the sandbox too: --env sandbox)")
    if _named(config, "recovery_reset") and not explicit_env:
        raise pytest.UsageError("--recovery-reset needs an explicit --env (each environment has its own ledger)")
    _check_ids(config, "recover")
    _check_ids(config, "recovery-reset")
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


def recovery_asked(config: pytest.Config) -> bool:
    """Return True when the run asks for recovery: --allow-recovery, --recover, --recovery-dry-run or `-m ...recovery...`."""
    asked = config.getoption("allow_recovery") or _named(config) or config.getoption("recovery_dry_run")
    return bool(asked or re.search(r"\brecovery\b", str(config.getoption("markexpr", "") or "")))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run recovery tests last; deselect them (never skip) in a --gate/--probe/--profile/--domain run not asking for them.

    A run without such a selection still lists them, skipped with the two-key reason (STYLE 6).
    """
    recovery = [item for item in items if "recovery_action" in getattr(item, "fixturenames", ())]
    if not recovery:
        return
    selection = any(config.getoption(name) for name in ("gate", "probe", "profile", "domain"))
    if selection and not recovery_asked(config):
        config.hook.pytest_deselected(items=recovery)
        items[:] = [item for item in items if item not in recovery]
        return
    items[:] = [item for item in items if item not in recovery] + recovery


def _failures(config: pytest.Config) -> dict[str, str]:
    """Return id -> failure class of every gate and probe that failed so far in this run."""
    state = config.stash[STATE]
    failed = {
        gid: str(row.get("failure_class") or "deterministic")
        for gid, row in state.rows.items()
        if row["verdict"] == Verdict.FAIL
    }
    failed.update(
        {
            pid: str(row.get("failure_class") or "unknown")
            for pid, row in state.probe_rows.items()
            if row["verdict"] == Verdict.FAIL
        }
    )
    return failed


def _environment_data(config: pytest.Config) -> Mapping[str, Any]:
    """Return the selected environment file's data ({} when it does not load)."""
    state = config.stash[STATE]
    if state.plan is None:
        return {}
    doc = state.plan.contracts.environment(state.env_name)
    return doc.data if doc.ok else {}


def make_ledger(config: pytest.Config, env_data: Mapping[str, Any]) -> Ledger:
    """Return the run's ledger: its path and limits from --recovery-ledger and the environment's `recovery`."""
    from infracore_verify.recovery.ledger import DEFAULT_LOCK_TIMEOUT, Ledger
    from infracore_verify.recovery.ledger_files import DEFAULT_KEEP, DEFAULT_MAX_BYTES

    settings = mapping(env_data.get("recovery"))
    option = config.getoption("recovery_ledger") or settings.get("ledger")
    path = Path(option) if option else DEFAULT_LEDGER
    return Ledger(
        path if path.is_absolute() else reports_dir(config) / path,
        lock_timeout=float(settings.get("lock_timeout_seconds", DEFAULT_LOCK_TIMEOUT)),
        max_bytes=int(settings.get("ledger_max_bytes", DEFAULT_MAX_BYTES)),
        keep=int(settings.get("ledger_keep", DEFAULT_KEEP)),
    )


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Clear the state of every --recovery-reset action in the ledger, saying who did it and when."""
    config = session.config
    state = config.stash[STATE]
    if state.is_worker:
        return
    from infracore_verify.recovery.ledger import LedgerError

    for action_id in _named(config, "recovery_reset"):
        row: dict[str, Any] = {"id": action_id, "result": "reset", "trigger": "manual (--recovery-reset)"}
        try:
            ledger = make_ledger(config, _environment_data(config))
            line = ledger.reset(action_id, run_key=state.run_key, detail="--recovery-reset")
            row["detail"] = f"attempts and cooldown cleared by {line['by']} at {line['timestamp_utc']}"
            row["ledger"] = str(ledger.path)
        except LedgerError as exc:
            row.update(result="not_run", detail="the reset was not written", ledger_error=str(exc))
        state.recovery_rows[f"{action_id} (reset)"] = row


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
            problem = _actions(self.config)[1] or "recovery.actions.yaml does not load"
            pytest.fail(f"no recovery action can run: {problem}", pytrace=False)
        if not self.allow and not self.dry:
            pytest.skip("pass --allow-recovery to run")
        selection: Selection = select(action.trigger(), _failures(self.config), _named(self.config))
        if selection.hits is None:
            pytest.skip(selection.reason)
        return selection.hits

    def _context(
        self, action: RecoveryAction, trigger: str, contracts: Contracts, recovery_doc: Document
    ) -> RecoveryContext:
        """Return the action's RecoveryContext (in the sandbox, with the sandbox's own runtime)."""
        from infracore_verify.recovery.actions import RecoveryContext

        env = self.env
        alert_url = self.credential_resolver.resolve(
            mapping(env.data.get("alerting")).get("webhook_url"), "alerting.webhook_url"
        )
        settings = mapping(env.data.get("recovery"))
        # Only the suite's own variables: the inherited environment is read when a command starts, so no
        # frame or repr (--showlocals) ever holds a copy of os.environ.
        own_env = {"INFRACORE_RUN_KEY": self.state.run_key}
        if self.sandbox is not None:
            own_env["INFRACORE_SANDBOX_URLS"] = json.dumps(self.sandbox.base_urls)
            own_env["INFRACORE_SANDBOX_CONTROL_TOKEN"] = self.sandbox.control_token  # for its control endpoint
        subprocess_env = HiddenEnviron(own_env)
        capabilities = contracts.doc("capabilities")
        runtime = None
        if env.is_sandbox and self.sandbox is not None:
            from infracore_verify.sandbox.runtime import SandboxRuntime

            # The sandbox's systems are restarted by the sandbox itself: nothing reaches docker or a host.
            runtime = SandboxRuntime(self.sandbox)
        return RecoveryContext(
            action=action.raw,
            hosts={str(k): dict(mapping(v)) for k, v in mapping(env.data.get("hosts")).items()},
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
            runtime=runtime,
        )

    def _perform(self, ctx: RecoveryContext, decision: LedgerDecision) -> Outcome:
        """Plan (dry run), skip (suppressed or exhausted) or execute the action as the ledger decided."""
        from infracore_verify.recovery.actions import RecoveryError, execute, plan

        try:
            if self.dry:
                return Outcome(plan(ctx), "dry-run", f"would {decision.kind}: {decision.reason}")
            if decision.kind in ("suppressed", "exhausted"):
                return Outcome([], decision.kind, decision.reason, ledger_problems=decision.ledger_problems)
            outcome = execute(ctx)
            return Outcome(outcome.steps, outcome.result, outcome.detail, outcome.verification)
        except RecoveryError as exc:
            return Outcome([], "failed", str(exc))

    def _cannot_start(self, ctx: RecoveryContext) -> str | None:
        """Return why the action cannot start (a configuration error), checked before the ledger counts anything."""
        from infracore_verify.recovery.actions import RecoveryError, plan, preflight

        try:
            if self.dry:
                plan(ctx)  # a dry run connects nowhere
            else:
                preflight(ctx)
        except RecoveryError as exc:
            return str(exc)
        return None

    def _decide(self, ledger: Ledger, action: RecoveryAction, ctx: RecoveryContext) -> LedgerDecision | Outcome:
        """Ask the ledger; return its decision, or the not_run outcome of a configuration or ledger error."""
        from infracore_verify.recovery.ledger import LedgerError, effective_safety

        contracts = self.contracts
        assert contracts is not None
        recovery_doc = contracts.doc("recovery")
        defaults = mapping(recovery_doc.data.get("defaults")) if recovery_doc.ok else {}
        problem = self._cannot_start(ctx)
        try:
            if problem is not None:
                ledger.not_run(action.id, run_key=self.state.run_key, trigger=ctx.trigger, detail=problem)
                return Outcome([], "not_run", problem)
            return ledger.begin(
                action.id,
                effective_safety(action.raw, defaults),
                run_key=self.state.run_key,
                trigger=ctx.trigger,
                dry_run=self.dry,
            )
        except LedgerError as exc:
            return Outcome(
                [], "not_run", problem or "nothing ran: the ledger could not record it", ledger_error=str(exc)
            )

    def __call__(self, action: RecoveryAction) -> dict[str, Any]:
        """Run the action when this run's failures (or --recover) call for it; return its recovery row."""
        from infracore_verify.recovery.actions import execute
        from infracore_verify.recovery.ledger import LedgerError

        trigger = self._trigger(action)
        contracts = self.contracts
        assert contracts is not None  # _trigger fails the test without contracts
        started = time.monotonic()
        ledger = make_ledger(self.config, self.env.data)
        ctx = self._context(action, trigger, contracts, contracts.doc("recovery"))
        decision = self._decide(ledger, action, ctx)
        attempt = 0 if isinstance(decision, Outcome) else decision.attempt
        row: dict[str, Any] = {"id": action.id, "type": action.type, "trigger": trigger, "attempt": attempt}
        escalated = False
        if isinstance(decision, Outcome):
            outcome = decision
        else:
            outcome = self._perform(ctx, decision)
            try:
                entry = ledger.finish(
                    decision,
                    result=outcome.result,
                    duration=time.monotonic() - started,
                    detail=outcome.detail,
                    commands=[step.description for step in outcome.steps],
                )
                escalated = bool(entry.get("escalated")) or decision.escalate
            except LedgerError as exc:
                outcome.ledger_error = f"the ledger write failed after the action ran: {exc}; this result is not in it"
                escalated = decision.escalate
        if escalated and action.type != "alert_only" and not self.dry:
            row["escalation_alert"] = escalate(ctx, execute)
        row.update(
            result=outcome.result,
            escalated=escalated,
            detail=REDACTOR.mask(outcome.detail),
            verification=REDACTOR.mask(outcome.verification),
            commands=[step.description for step in outcome.steps],
            duration_seconds=round(time.monotonic() - started, 3),
            ledger=str(ledger.path),
        )
        if outcome.ledger_error:
            row["ledger_error"] = REDACTOR.mask(outcome.ledger_error)
        if outcome.ledger_problems:
            row["ledger_problems"] = [REDACTOR.mask(p) for p in outcome.ledger_problems]
        self.request.node.user_properties.append((RECOVERY_PROPERTY, json.dumps(row)))
        report_action(action, self.env, outcome, escalated)
        verdict(action, outcome, escalated)
        return row


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
