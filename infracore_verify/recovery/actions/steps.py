"""The plumbing every action type shares: redacted step records, bounded subprocesses, verification polling.

Everything recorded (argv, descriptions, output, verification text) passes through `REDACTOR.mask`. Every
subprocess is bounded by `ctx.command_timeout` (its whole process group is killed on timeout) and every
verification by `ctx.verify_timeout`.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tenacity import RetryCallState, Retrying, retry_if_result, wait_fixed
from tenacity.stop import stop_base

from infracore_verify.recovery.actions.context import RecoveryContext, RecoveryError, StepRecord
from infracore_verify.redact import REDACTOR, child_environ

OUTPUT_LIMIT = 8192
"""Characters of command output kept per step (the last ones: errors come at the end)."""
KILL_GRACE = 5.0
"""Seconds to collect output after a timed-out process group was killed."""


def mask(text: str) -> str:
    """Return the text with every registered secret masked."""
    return REDACTOR.mask(text)


def tail(text: str) -> str:
    """Return the masked text, cut to its last OUTPUT_LIMIT characters."""
    masked = mask(text)
    return masked if len(masked) <= OUTPUT_LIMIT else masked[-OUTPUT_LIMIT:]


def planned(kind: str, description: str, argv: Sequence[str] = ()) -> StepRecord:
    """Return the redacted record of a step that would run."""
    return StepRecord(kind=kind, description=mask(description), argv=[mask(a) for a in argv])


def local_description(argv: Sequence[str], cwd: str | Path | None) -> str:
    """Return the shell line of a local command: `cd <cwd> && <argv>`."""
    command = shlex.join(argv)
    return f"cd {shlex.quote(str(cwd))} && {command}" if cwd is not None else command


def run_command(ctx: RecoveryContext, argv: Sequence[str], cwd: str | Path | None, description: str) -> StepRecord:
    """Run one command (bounded by ctx.command_timeout) and return its redacted record."""
    return run_capture(ctx, argv, cwd, description)[0]


def run_capture(
    ctx: RecoveryContext, argv: Sequence[str], cwd: str | Path | None, description: str
) -> tuple[StepRecord, str]:
    """Run one command (bounded by ctx.command_timeout); return its redacted record and its raw output."""
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=child_environ(ctx.env),  # built here, so no failing frame holds a copy of the environment
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        where = f" in {cwd}" if cwd is not None else ""
        failure = StepRecord(
            kind="command",
            description=mask(description),
            argv=[mask(a) for a in argv],
            returncode=127,
            output=tail(f"cannot run {argv[0]}{where}: {reason}"),
            duration=time.monotonic() - started,
            ok=False,
        )
        return failure, ""
    returncode: int | None
    try:
        raw, _ = proc.communicate(timeout=ctx.command_timeout)
        returncode = proc.returncode
        note = ""
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        try:
            raw, _ = proc.communicate(timeout=KILL_GRACE)
        except subprocess.TimeoutExpired:
            # A descendant left the process group and still holds the pipe: stop reading.
            proc.kill()
            raw = b""
        returncode = None
        note = f"\n[timed out after {ctx.command_timeout:g}s; the process group was killed]"
    text = (raw or b"").decode("utf-8", "replace")
    step = StepRecord(
        kind="command",
        description=mask(description),
        argv=[mask(a) for a in argv],
        returncode=returncode,
        output=tail(text + note),
        duration=time.monotonic() - started,
        ok=returncode == 0,
    )
    return step, text


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()


def exit_text(step: StepRecord) -> str:
    """Return how a command ended: `exit <code>` or `timed out`."""
    if step.returncode is None:
        return "timed out"
    return f"exit {step.returncode}"


def last_line(text: str) -> str:
    """Return the last non-blank line of the text (at most 200 characters), or `no output`."""
    # Masked before it is cut: a cut through a secret would leave its start unmasked.
    lines = [line.strip() for line in mask(text).splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no output"


def text_field(ctx: RecoveryContext, name: str, fix: str) -> str:
    """Return the recovery block's non-empty text field `name`; raise RecoveryError saying `fix` otherwise."""
    value = ctx.recovery.get(name)
    if not isinstance(value, str) or not value.strip():
        raise RecoveryError(f"{ctx.where(name)} is missing or empty; {fix}")
    return value


def plan_verify(ctx: RecoveryContext) -> StepRecord:
    """Return the planned verification step of a restart: poll every verify_interval up to verify_timeout."""
    return planned(
        "verify",
        f"verify {ctx.probe_label()} every {ctx.verify_interval:g}s until healthy, at most {ctx.verify_timeout:g}s",
    )


class _StopAtDeadline(stop_base):
    """Stops when the upcoming pause would end after the deadline (measured on the context's clock)."""

    def __init__(self, deadline: float, clock: Callable[[], float]) -> None:
        self.deadline = deadline
        self.clock = clock

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.clock() + retry_state.upcoming_sleep > self.deadline + 1e-9


def poll_verify(ctx: RecoveryContext, steps: list[StepRecord]) -> tuple[bool, str]:
    """Poll ctx.verify until healthy or verify_timeout; record each poll; return (healthy, verification)."""
    label = ctx.probe_label()
    started = ctx.clock()
    polls = 0

    def once() -> tuple[bool, str]:
        nonlocal polls
        polls += 1
        t0 = ctx.clock()
        try:
            healthy, text = ctx.verify()
        except Exception as exc:  # the caller's probe must not abort the action
            healthy, text = False, f"{type(exc).__name__}: {exc}"
        steps.append(
            StepRecord(
                kind="verify",
                description=mask(f"verify {label} (poll {polls})"),
                output=tail(text),
                duration=ctx.clock() - t0,
                ok=bool(healthy),
            )
        )
        return bool(healthy), text

    retrying = Retrying(
        stop=_StopAtDeadline(started + ctx.verify_timeout, ctx.clock),
        wait=wait_fixed(ctx.verify_interval),
        retry=retry_if_result(lambda result: not result[0]),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else (False, "no poll"),
        sleep=ctx.sleep,
    )
    healthy, text = retrying(once)
    elapsed = ctx.clock() - started
    counted = f"{polls} poll{'s' if polls != 1 else ''} ({elapsed:.1f}s)"
    if healthy:
        return True, mask(f"{label} passed after {counted}")
    return False, mask(
        f"not verified: {label} still failing after {counted}, timeout {ctx.verify_timeout:g}s: {last_line(text)}"
    )
