"""capability_retry: re-run a capability's probe up to max_attempts times with a backoff between tries.

`ctx.rerun_capability(capability)` runs up to max_attempts times, sleeping backoff_seconds[i] between tries
(the last value reused, a non-numeric one -> 60): recovered on the first pass | failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from infracore_verify.recovery.actions.context import ActionOutcome, RecoveryContext, RecoveryError, StepRecord
from infracore_verify.recovery.actions.registry import action_type
from infracore_verify.recovery.actions.steps import last_line, mask, planned, tail, text_field

DEFAULT_BACKOFF = (60.0, 300.0, 900.0)
"""capability_retry backoff_seconds when the action gives none (SPINE 2.11)."""
DEFAULT_RETRY_ATTEMPTS = 3
NON_NUMERIC_BACKOFF = 60.0
"""A backoff value that is not a number >= 0 becomes this many seconds (the ops dispatcher does the same)."""


def _retry_settings(ctx: RecoveryContext) -> tuple[str, int, list[float]]:
    capability = text_field(ctx, "capability", "set it to the capability whose probe is re-run")
    attempts = ctx.recovery.get("max_attempts", DEFAULT_RETRY_ATTEMPTS)
    if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1:
        raise RecoveryError(f"{ctx.where('max_attempts')} is {attempts!r}, not an integer >= 1; set max_attempts: 2")
    raw = ctx.recovery.get("backoff_seconds", list(DEFAULT_BACKOFF))
    values = raw if isinstance(raw, list) else [raw]
    return capability, attempts, [_backoff_value(v) for v in values] or [NON_NUMERIC_BACKOFF]


def _backoff_value(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return NON_NUMERIC_BACKOFF


def backoff_schedule(backoff: Sequence[float], attempts: int) -> list[float]:
    """Return the pauses before attempts 2..n: backoff[i], the last value reused past the end."""
    return [backoff[min(i, len(backoff) - 1)] for i in range(max(attempts - 1, 0))]


def _retry_description(capability: str, attempt: int, attempts: int, pause: float | None) -> str:
    after = f", after {pause:g}s backoff" if pause is not None else ""
    return f"re-run capability {capability} (attempt {attempt} of {attempts}{after})"


@action_type("capability_retry")
class CapabilityRetry:
    """Re-run a capability's probe until it passes or the attempts are used up."""

    def plan(self, ctx: RecoveryContext) -> list[StepRecord]:
        """Return one re-run per attempt with its backoff, running none of them."""
        capability, attempts, backoff = _retry_settings(ctx)
        pauses: list[float | None] = [None, *backoff_schedule(backoff, attempts)]
        return [
            planned("verify", _retry_description(capability, n, attempts, pauses[n - 1]) + " until one passes")
            for n in range(1, attempts + 1)
        ]

    def execute(self, ctx: RecoveryContext) -> ActionOutcome:
        """Re-run the capability until one attempt passes: recovered | failed."""
        capability, attempts, backoff = _retry_settings(ctx)
        pauses: list[float | None] = [None, *backoff_schedule(backoff, attempts)]
        steps: list[StepRecord] = []
        text = ""
        for attempt in range(1, attempts + 1):
            pause = pauses[attempt - 1]
            if pause is not None:
                ctx.sleep(pause)
            started = ctx.clock()
            try:
                passed, text = ctx.rerun_capability(capability)
            except Exception as exc:  # the caller's probe must not abort the action
                passed, text = False, f"{type(exc).__name__}: {exc}"
            steps.append(
                StepRecord(
                    kind="verify",
                    description=mask(_retry_description(capability, attempt, attempts, pause)),
                    output=tail(text),
                    duration=ctx.clock() - started,
                    ok=bool(passed),
                )
            )
            if passed:
                verification = mask(f"{capability} passed on attempt {attempt} of {attempts}")
                return ActionOutcome("recovered", steps, verification, verification)
        verification = mask(f"not verified: {capability} failed all {attempts} attempts: {last_line(text)}")
        return ActionOutcome("failed", steps, verification, mask(f"{capability} still fails after {attempts} attempts"))
