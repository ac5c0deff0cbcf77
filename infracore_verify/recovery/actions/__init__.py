"""The five recovery action types of recovery.actions.yaml: each can plan (a dry run) and execute.

`plan(ctx)` returns the steps an action would take (commands with their exact argv, HTTP calls, verification
polls) and runs nothing. `preflight(ctx)` raises RecoveryError when the action cannot start at all (a
binding or configuration problem, a missing tool, an SSH login the host refuses): the caller records such an
action as not_run, without using an attempt. `execute(ctx)` runs them and returns an `ActionOutcome`: the result, every step
(`StepRecord`), what the verification saw and one line saying why. Everything recorded (argv, descriptions,
output, verification text, URLs) passes through `REDACTOR.mask`; the alert webhook URL is never recorded,
only its scheme, host and port. Every subprocess is bounded by `ctx.command_timeout` (its whole process
group is killed on timeout) and every verification by `ctx.verify_timeout`.

Each type is a class registered with `@action_type("<name>")` in `ACTION_TYPES` (registry.py), one module
per type (SPINE 2.11 and 7):

    docker_compose_restart  compose.py   restart a compose stack locally or over SSH (up -d when restart
                                         fails), then verify: recovered | failed
    capability_retry        retry.py     re-run a capability's probe with backoff: recovered | failed
    alert_only              alert.py     POST an alert to the webhook (one retry): alerted | failed
    launchd_restart         launchd.py   bootout, bootstrap (kickstart -k when that fails), then verify
    capability_commit       commit.py    run a capability and commit its allowlisted change

`capability_rerun` (legacy) and unknown types raise `RecoveryUnsupportedTypeError`. The shared context,
records and errors are in context.py, the shared plumbing (bounded subprocesses, verification polling) in
steps.py.

Exception hierarchy:

    RecoveryError                       a binding or environment problem: unknown host, missing stack
    │                                   directory, missing field or capability; the message names the
    │                                   file, the field and the fix
    └── RecoveryUnsupportedTypeError    capability_rerun or an unknown recovery type
"""

from __future__ import annotations

# The type modules register themselves on import, in this order: the order of contracts.model.RECOVERY_TYPES
# and of the messages that list the supported types (tests/test_recovery_actions.py checks it).
# isort: off
from infracore_verify.recovery.actions import compose
from infracore_verify.recovery.actions import retry
from infracore_verify.recovery.actions import alert
from infracore_verify.recovery.actions import launchd
from infracore_verify.recovery.actions import commit

# isort: on
from infracore_verify.recovery.actions.alert import ALERT_ATTEMPTS, ALERT_RETRY_PAUSE, safe_url
from infracore_verify.recovery.actions.commit import GIT_STATUS, glob_regex, porcelain_paths, read_allowlist
from infracore_verify.recovery.actions.context import (
    ActionOutcome,
    ContainerRuntime,
    RecoveryContext,
    RecoveryError,
    RecoveryUnsupportedTypeError,
    StepRecord,
    Verify,
)
from infracore_verify.recovery.actions.launchd import LAUNCHD_MISSING, launchd_available
from infracore_verify.recovery.actions.registry import (
    ACTION_TYPES,
    LEGACY_FIX,
    ActionRegistry,
    ActionType,
    DuplicateActionTypeError,
    action_type,
)
from infracore_verify.recovery.actions.retry import (
    DEFAULT_BACKOFF,
    DEFAULT_RETRY_ATTEMPTS,
    NON_NUMERIC_BACKOFF,
    backoff_schedule,
)
from infracore_verify.recovery.actions.steps import KILL_GRACE, OUTPUT_LIMIT


def plan(ctx: RecoveryContext) -> list[StepRecord]:
    """Return the steps the action would take, running none of them."""
    return ACTION_TYPES.for_context(ctx).plan(ctx)


def preflight(ctx: RecoveryContext) -> None:
    """Raise RecoveryError when the action cannot start; restarts nothing (it may log in to check)."""
    handler = ACTION_TYPES.for_context(ctx)
    check = getattr(handler, "preflight", None)
    if check is None:
        handler.plan(ctx)
    else:
        check(ctx)


def execute(ctx: RecoveryContext) -> ActionOutcome:
    """Run the action and return its outcome; raises RecoveryError for a binding or environment problem."""
    return ACTION_TYPES.for_context(ctx).execute(ctx)


def dry_run(ctx: RecoveryContext) -> ActionOutcome:
    """Return a dry-run outcome whose steps are the plan; nothing runs."""
    steps = plan(ctx)
    return ActionOutcome(
        result="dry-run",
        steps=steps,
        verification="not verified: dry run",
        detail=f"dry run: {len(steps)} step{'s' if len(steps) != 1 else ''} would run, none ran",
    )


__all__ = [
    "ACTION_TYPES",
    "ALERT_ATTEMPTS",
    "ALERT_RETRY_PAUSE",
    "DEFAULT_BACKOFF",
    "DEFAULT_RETRY_ATTEMPTS",
    "GIT_STATUS",
    "KILL_GRACE",
    "LAUNCHD_MISSING",
    "LEGACY_FIX",
    "NON_NUMERIC_BACKOFF",
    "OUTPUT_LIMIT",
    "ActionOutcome",
    "ActionRegistry",
    "ActionType",
    "ContainerRuntime",
    "DuplicateActionTypeError",
    "RecoveryContext",
    "RecoveryError",
    "RecoveryUnsupportedTypeError",
    "StepRecord",
    "Verify",
    "action_type",
    "alert",
    "backoff_schedule",
    "commit",
    "compose",
    "dry_run",
    "execute",
    "glob_regex",
    "launchd",
    "launchd_available",
    "plan",
    "porcelain_paths",
    "preflight",
    "read_allowlist",
    "retry",
    "safe_url",
]
