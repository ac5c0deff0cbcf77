"""The five recovery action types of recovery.actions.yaml: each can plan (a dry run) and execute.

`plan(ctx)` returns the steps an action would take (commands with their exact argv, HTTP calls, verification
polls) and runs nothing. `execute(ctx)` runs them and returns an `ActionOutcome`: the result, every step
(`StepRecord`), what the verification saw and one line saying why. Everything recorded (argv, descriptions,
output, verification text, URLs) passes through `REDACTOR.mask`; the alert webhook URL is never recorded,
only its scheme, host and port. Every subprocess is bounded by `ctx.command_timeout` (its whole process
group is killed on timeout) and every verification by `ctx.verify_timeout`.

Types and what `execute` does (SPINE 2.11 and 7):

    docker_compose_restart  `docker compose restart [services]` in `<stacks_dir>/<stack>` of host `target`
                            (locally, or over `ssh -o BatchMode=yes ... -- 'cd <dir> && docker compose ...'`);
                            when it fails, `docker compose up -d [services]`; then polls `ctx.verify` every
                            verify_interval until healthy or verify_timeout: recovered | failed
    capability_retry        `ctx.rerun_capability(capability)` up to max_attempts times, sleeping
                            backoff_seconds[i] between tries (last value reused, non-numeric -> 60):
                            recovered on the first pass | failed
    alert_only              POST {run_key, action_id, trigger, message, environment?} to ctx.alert_url
                            (timeout ctx.alert_timeout, one retry on 5xx or no response): alerted | failed
    launchd_restart         `launchctl bootout <domain>/<label>` (failure tolerated: the job may not be
                            loaded), `rm -f -- <remove_files>` when the action lists any,
                            `launchctl bootstrap <domain> <plist>`, and when that fails
                            `launchctl kickstart -k <domain>/<label>`; then polls `ctx.verify`.
                            domain: ctx.launchd_domain or gui/<uid>; plist: recovery.plist or
                            /Library/LaunchDaemons/<label>.plist (domain system) or
                            ~/Library/LaunchAgents/<label>.plist. Without launchd (not macOS, or no
                            launchctl on PATH): failed, nothing runs
    capability_commit       refuses a work tree with changes, runs the capability's `command`
                            (capabilities.yaml) in repo_root, fails when a changed file is outside the
                            allowlist_file globs, else `git add -- <files>` and
                            `git commit -m <message> --trailer Gate-Mutation: recovery
                            --trailer Gate-Capability: <cap> --trailer Gate-Run-Key: <run key>`:
                            recovered | failed. A refused change is left in place for a human to inspect.

`capability_rerun` (legacy) and unknown types raise `RecoveryUnsupportedTypeError`.

Exception hierarchy:

    RecoveryError                       a binding or environment problem: unknown host, missing stack
    │                                   directory, missing field or capability; the message names the
    │                                   file, the field and the fix
    └── RecoveryUnsupportedTypeError    capability_rerun or an unknown recovery type
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from tenacity import RetryCallState, Retrying, retry_if_result, stop_after_attempt, wait_fixed
from tenacity.stop import stop_base

from infracore_verify.contracts.model import RECOVERY_TYPES
from infracore_verify.redact import REDACTOR

OUTPUT_LIMIT = 8192
"""Characters of command output kept per step (the last ones: errors come at the end)."""
DEFAULT_BACKOFF = (60.0, 300.0, 900.0)
"""capability_retry backoff_seconds when the action gives none (SPINE 2.11)."""
DEFAULT_RETRY_ATTEMPTS = 3
NON_NUMERIC_BACKOFF = 60.0
"""A backoff value that is not a number >= 0 becomes this many seconds (the ops dispatcher does the same)."""
ALERT_ATTEMPTS = 2
ALERT_RETRY_PAUSE = 1.0
"""Seconds between the alert post and its single retry."""
KILL_GRACE = 5.0
"""Seconds to collect output after a timed-out process group was killed."""
LEGACY_FIX = "convert it to one capability_retry action per capability"

Verify = Callable[[], tuple[bool, str]]


class RecoveryError(Exception):
    """A binding or environment problem that stops an action before it runs; the message says the fix."""


class RecoveryUnsupportedTypeError(RecoveryError):
    """The action's recovery type is legacy (capability_rerun) or unknown."""


@dataclass
class StepRecord:
    """One command, HTTP call or verification poll of an action, already redacted."""

    kind: str
    """command | http | verify"""
    description: str
    argv: list[str] = field(default_factory=list)
    returncode: int | None = None
    output: str = ""
    duration: float = 0.0
    ok: bool = True


@dataclass
class ActionOutcome:
    """What an action did: result (recovered | failed | alerted | dry-run), steps, verification and why."""

    result: str
    steps: list[StepRecord]
    verification: str
    detail: str


@dataclass
class RecoveryContext:
    """Everything an action needs: its entry, the environment's hosts and the caller's probes and clocks."""

    action: Mapping[str, Any]
    hosts: Mapping[str, Mapping[str, Any]]
    run_key: str
    trigger: str
    verify: Verify
    rerun_capability: Callable[[str], tuple[bool, str]]
    alert_url: str | None
    repo_root: Path
    capabilities: Mapping[str, Any]
    verify_timeout: float = 120.0
    verify_interval: float = 5.0
    launchd_domain: str | None = None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    env: Mapping[str, str] | None = None
    command_timeout: float = 120.0
    alert_timeout: float = 10.0
    environment: str | None = None
    """Environment name, sent in the alert body when set."""
    actions_file: str = "contracts/recovery.actions.yaml"
    environment_file: str = "the environment file"
    """How messages name the environment file (e.g. contracts/environments/prod.yaml)."""

    @property
    def action_id(self) -> str:
        """Return the action's id ('?' when it has none)."""
        return str(self.action.get("id", "?"))

    @property
    def recovery(self) -> Mapping[str, Any]:
        """Return the action's recovery block."""
        block = self.action.get("recovery")
        if not isinstance(block, Mapping):
            raise RecoveryError(
                f"{self.actions_file} action '{self.action_id}': recovery is missing or not a mapping; "
                "give the action a recovery block with a type"
            )
        return block

    def where(self, name: str) -> str:
        """Return how a message names a recovery field: `<file> action '<id>' recovery.<name>`."""
        return f"{self.actions_file} action '{self.action_id}' recovery.{name}"

    def probe_label(self) -> str:
        """Return the verification probes' names (trigger.probe_ids) for messages."""
        trigger = self.action.get("trigger")
        ids = trigger.get("probe_ids") if isinstance(trigger, Mapping) else None
        names = [str(i) for i in ids] if isinstance(ids, list) else []
        return ", ".join(names) or "verification"


# -- public entry points ----------------------------------------------------------------------------------


def plan(ctx: RecoveryContext) -> list[StepRecord]:
    """Return the steps the action would take, running none of them."""
    return _handler(ctx)[0](ctx)


def execute(ctx: RecoveryContext) -> ActionOutcome:
    """Run the action and return its outcome; raises RecoveryError for a binding or environment problem."""
    return _handler(ctx)[1](ctx)


def dry_run(ctx: RecoveryContext) -> ActionOutcome:
    """Return a dry-run outcome whose steps are the plan; nothing runs."""
    steps = plan(ctx)
    return ActionOutcome(
        result="dry-run",
        steps=steps,
        verification="not verified: dry run",
        detail=f"dry run: {len(steps)} step{'s' if len(steps) != 1 else ''} would run, none ran",
    )


Handler = tuple[Callable[[RecoveryContext], list[StepRecord]], Callable[[RecoveryContext], ActionOutcome]]


def _handler(ctx: RecoveryContext) -> Handler:
    rtype = str(ctx.recovery.get("type", ""))
    handlers: dict[str, Handler] = {
        "docker_compose_restart": (_plan_compose, _execute_compose),
        "capability_retry": (_plan_retry, _execute_retry),
        "alert_only": (_plan_alert, _execute_alert),
        "launchd_restart": (_plan_launchd, _execute_launchd),
        "capability_commit": (_plan_commit, _execute_commit),
    }
    if rtype == "capability_rerun":
        raise RecoveryUnsupportedTypeError(
            f"{ctx.where('type')}: 'capability_rerun' is a legacy recovery type and is not supported; {LEGACY_FIX}"
        )
    if rtype not in handlers:
        raise RecoveryUnsupportedTypeError(
            f"{ctx.where('type')}: unsupported recovery type {rtype!r}; use one of {', '.join(RECOVERY_TYPES)}"
        )
    return handlers[rtype]


# -- shared plumbing --------------------------------------------------------------------------------------


def _mask(text: str) -> str:
    return REDACTOR.mask(text)


def _tail(text: str) -> str:
    masked = _mask(text)
    return masked if len(masked) <= OUTPUT_LIMIT else masked[-OUTPUT_LIMIT:]


def _planned(kind: str, description: str, argv: Sequence[str] = ()) -> StepRecord:
    return StepRecord(kind=kind, description=_mask(description), argv=[_mask(a) for a in argv])


def _local_description(argv: Sequence[str], cwd: str | Path | None) -> str:
    command = shlex.join(argv)
    return f"cd {shlex.quote(str(cwd))} && {command}" if cwd is not None else command


def _run(ctx: RecoveryContext, argv: Sequence[str], cwd: str | Path | None, description: str) -> StepRecord:
    """Run one command (bounded by ctx.command_timeout) and return its redacted record."""
    return _run_capture(ctx, argv, cwd, description)[0]


def _run_capture(
    ctx: RecoveryContext, argv: Sequence[str], cwd: str | Path | None, description: str
) -> tuple[StepRecord, str]:
    """Run one command (bounded by ctx.command_timeout); return its redacted record and its raw output."""
    started = time.monotonic()
    env = dict(ctx.env) if ctx.env is not None else None
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,
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
            description=_mask(description),
            argv=[_mask(a) for a in argv],
            returncode=127,
            output=_tail(f"cannot run {argv[0]}{where}: {reason}"),
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
        description=_mask(description),
        argv=[_mask(a) for a in argv],
        returncode=returncode,
        output=_tail(text + note),
        duration=time.monotonic() - started,
        ok=returncode == 0,
    )
    return step, text


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()


def _exit_text(step: StepRecord) -> str:
    if step.returncode is None:
        return "timed out"
    return f"exit {step.returncode}"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no output"


class _StopAtDeadline(stop_base):
    """Stops when the upcoming pause would end after the deadline (measured on the context's clock)."""

    def __init__(self, deadline: float, clock: Callable[[], float]) -> None:
        self.deadline = deadline
        self.clock = clock

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.clock() + retry_state.upcoming_sleep > self.deadline + 1e-9


def _poll_verify(ctx: RecoveryContext, steps: list[StepRecord]) -> tuple[bool, str]:
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
                description=_mask(f"verify {label} (poll {polls})"),
                output=_tail(text),
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
        return True, _mask(f"{label} passed after {counted}")
    return False, _mask(
        f"not verified: {label} still failing after {counted}, timeout {ctx.verify_timeout:g}s: {_last_line(text)}"
    )


def _text_field(ctx: RecoveryContext, name: str, fix: str) -> str:
    value = ctx.recovery.get(name)
    if not isinstance(value, str) or not value.strip():
        raise RecoveryError(f"{ctx.where(name)} is missing or empty; {fix}")
    return value


# -- docker_compose_restart -------------------------------------------------------------------------------


@dataclass
class _ComposeTarget:
    host_id: str
    transport: str
    stack_dir: str
    services: list[str]
    ssh_prefix: list[str]


def _compose_target(ctx: RecoveryContext) -> _ComposeTarget:
    target = _text_field(ctx, "target", "set it to a host id of the environment file's hosts")
    stack = _text_field(ctx, "stack", "set it to the stack's directory name under the host's stacks_dir")
    host = ctx.hosts.get(target)
    if not isinstance(host, Mapping):
        known = ", ".join(sorted(ctx.hosts)) or "none"
        raise RecoveryError(
            f"{ctx.where('target')}: {target!r} is not a host of {ctx.environment_file} (hosts: {known}); "
            f"add hosts.{target} there or fix the target"
        )
    where = f"{ctx.environment_file} hosts.{target}"
    services = ctx.recovery.get("services", [])
    if services is None:
        services = []
    if not isinstance(services, list) or not all(isinstance(s, str) and s for s in services):
        raise RecoveryError(f"{ctx.where('services')}: expected a list of service names ([] = the whole stack)")
    stacks_dir = host.get("stacks_dir")
    if not isinstance(stacks_dir, str) or not stacks_dir.startswith("/"):
        raise RecoveryError(
            f"{where}.stacks_dir is {stacks_dir!r}; set it to the absolute directory that holds {stack}/"
        )
    transport = host.get("transport", "local")
    stack_dir = posixpath.join(stacks_dir, stack)
    if transport == "local":
        return _ComposeTarget(target, "local", stack_dir, list(services), [])
    if transport != "ssh":
        raise RecoveryError(f"{where}.transport is {transport!r}; use local or ssh")
    address = host.get("address")
    if not isinstance(address, str) or not address or address.startswith("<"):
        raise RecoveryError(f"{where}.address is {address!r}; set the host name or IP address to reach over SSH")
    prefix = ["ssh", "-o", "BatchMode=yes"]
    port = host.get("ssh_port")
    if port is not None:
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            raise RecoveryError(f"{where}.ssh_port is {port!r}; use a port number 1-65535")
        prefix += ["-p", str(port)]
    identity = host.get("identity_file")
    if identity is not None:
        if not isinstance(identity, str) or not identity:
            raise RecoveryError(f"{where}.identity_file is {identity!r}; give the path of a private key file")
        prefix += ["-i", identity]
    options = host.get("ssh_options", [])
    if not isinstance(options, list) or not all(isinstance(o, str) and o for o in options):
        raise RecoveryError(f"{where}.ssh_options must be a list of 'Option=value' strings")
    for option in options:
        prefix += ["-o", option]
    user = host.get("ssh_user")
    if isinstance(user, str) and user.startswith("<"):
        raise RecoveryError(f"{where}.ssh_user is the placeholder {user!r}; set the real SSH user (or remove it)")
    destination = f"{user}@{address}" if isinstance(user, str) and user else address
    return _ComposeTarget(target, "ssh", stack_dir, list(services), [*prefix, destination, "--"])


def _compose_command(target: _ComposeTarget, verb: Sequence[str]) -> tuple[list[str], str | None, str]:
    """Return (argv, local cwd or None, description) of `docker compose <verb> [services]` on the target."""
    compose = ["docker", "compose", *verb, *target.services]
    if target.transport == "local":
        return compose, target.stack_dir, _local_description(compose, target.stack_dir)
    remote = f"cd {shlex.quote(target.stack_dir)} && {shlex.join(compose)}"
    argv = [*target.ssh_prefix, remote]
    return argv, None, shlex.join(argv)


def _plan_compose(ctx: RecoveryContext) -> list[StepRecord]:
    target = _compose_target(ctx)
    restart = _compose_command(target, ["restart"])
    up = _compose_command(target, ["up", "-d"])
    return [
        _planned("command", restart[2], restart[0]),
        _planned("command", f"only if the restart fails: {up[2]}", up[0]),
        _planned(
            "verify",
            f"verify {ctx.probe_label()} every {ctx.verify_interval:g}s until healthy, at most {ctx.verify_timeout:g}s",
        ),
    ]


def _execute_compose(ctx: RecoveryContext) -> ActionOutcome:
    target = _compose_target(ctx)
    if target.transport == "local" and not Path(target.stack_dir).is_dir():
        raise RecoveryError(
            f"{ctx.environment_file} hosts.{target.host_id}.stacks_dir: {target.stack_dir} does not exist on "
            "this machine (transport local); create it, fix stacks_dir or recovery.stack, or use transport: ssh"
        )
    steps: list[StepRecord] = []
    argv, cwd, description = _compose_command(target, ["restart"])
    restart = _run(ctx, argv, cwd, description)
    steps.append(restart)
    how = "docker compose restart"
    if not restart.ok:
        argv, cwd, description = _compose_command(target, ["up", "-d"])
        up = _run(ctx, argv, cwd, description)
        steps.append(up)
        if not up.ok:
            return ActionOutcome(
                result="failed",
                steps=steps,
                verification="not verified: the restart commands failed",
                detail=_mask(
                    f"docker compose restart ({_exit_text(restart)}) and up -d ({_exit_text(up)}) both failed "
                    f"in {target.stack_dir} on {target.host_id}: {_last_line(up.output)}"
                ),
            )
        how = f"docker compose restart failed ({_exit_text(restart)}), up -d succeeded"
    healthy, verification = _poll_verify(ctx, steps)
    where = f"in {target.stack_dir} on {target.host_id}"
    if healthy:
        return ActionOutcome("recovered", steps, verification, _mask(f"{how} {where}; {ctx.probe_label()} healthy"))
    return ActionOutcome(
        "failed",
        steps,
        verification,
        _mask(f"{how} {where}, but {ctx.probe_label()} did not become healthy within {ctx.verify_timeout:g}s"),
    )


# -- capability_retry -------------------------------------------------------------------------------------


def _retry_settings(ctx: RecoveryContext) -> tuple[str, int, list[float]]:
    capability = _text_field(ctx, "capability", "set it to the capability whose probe is re-run")
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


def _plan_retry(ctx: RecoveryContext) -> list[StepRecord]:
    capability, attempts, backoff = _retry_settings(ctx)
    pauses: list[float | None] = [None, *backoff_schedule(backoff, attempts)]
    return [
        _planned("verify", _retry_description(capability, n, attempts, pauses[n - 1]) + " until one passes")
        for n in range(1, attempts + 1)
    ]


def _execute_retry(ctx: RecoveryContext) -> ActionOutcome:
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
                description=_mask(_retry_description(capability, attempt, attempts, pause)),
                output=_tail(text),
                duration=ctx.clock() - started,
                ok=bool(passed),
            )
        )
        if passed:
            verification = _mask(f"{capability} passed on attempt {attempt} of {attempts}")
            return ActionOutcome("recovered", steps, verification, verification)
    verification = _mask(f"not verified: {capability} failed all {attempts} attempts: {_last_line(text)}")
    return ActionOutcome("failed", steps, verification, _mask(f"{capability} still fails after {attempts} attempts"))


# -- alert_only -------------------------------------------------------------------------------------------


def safe_url(url: str) -> str:
    """Return scheme://host[:port]/… of a URL: its path, query and user info may hold a token."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = parts.port
    except ValueError:
        return "<unparsable URL>/…"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme or '?'}://{host}{f':{port}' if port else ''}/…"


def _scrubber(url: str) -> Callable[[str], str]:
    """Return a function that removes the URL and its secret parts from text, then masks registered secrets."""
    parts = urlsplit(url)
    needles = [url, url.rstrip("/")]
    tail = parts.path + (f"?{parts.query}" if parts.query else "")
    userinfo = parts.netloc.rpartition("@")[0]
    needles += [p for p in (tail, parts.path, parts.query, userinfo, parts.password or "") if len(p) > 1]
    needles.sort(key=len, reverse=True)
    replacement = safe_url(url)

    def scrub(text: str) -> str:
        for needle in needles:
            text = text.replace(needle, replacement if needle in (url, url.rstrip("/")) else "…")
        return _mask(text)

    return scrub


def _alert_body(ctx: RecoveryContext) -> dict[str, Any]:
    capability = ctx.recovery.get("capability", "alerting.dispatch")
    body: dict[str, Any] = {
        "run_key": ctx.run_key,
        "action_id": ctx.action_id,
        "trigger": ctx.trigger,
        "message": (
            f"infra-core recovery alert ({capability}): {ctx.trigger} needs attention "
            f"(action {ctx.action_id}, run {ctx.run_key})"
        ),
    }
    if ctx.environment:
        body["environment"] = ctx.environment
    return body


def _alert_description(url: str, body: Mapping[str, Any], attempt: int | None = None) -> str:
    counted = f" (attempt {attempt} of {ALERT_ATTEMPTS})" if attempt else ""
    return f"POST {safe_url(url)}{counted} json={json.dumps(REDACTOR.mask_data(body), sort_keys=True)}"


def _plan_alert(ctx: RecoveryContext) -> list[StepRecord]:
    body = _alert_body(ctx)
    if not ctx.alert_url:
        return [_planned("http", f"no alert: {ctx.environment_file} has no alerting.webhook_url")]
    REDACTOR.register(ctx.alert_url, label="alerting.webhook_url")
    return [_planned("http", _alert_description(ctx.alert_url, body) + ", one retry on 5xx or no response")]


def _execute_alert(ctx: RecoveryContext) -> ActionOutcome:
    if not ctx.alert_url:
        return ActionOutcome(
            "failed", [], "not verified: alert_only sends an alert", "no alerting.webhook_url in the environment file"
        )
    url = ctx.alert_url
    REDACTOR.register(url, label="alerting.webhook_url")
    scrub = _scrubber(url)
    body = _alert_body(ctx)
    steps: list[StepRecord] = []

    def attempt() -> int | None:
        started = time.monotonic()
        number = len(steps) + 1
        try:
            response = requests.post(url, json=body, timeout=ctx.alert_timeout, allow_redirects=False)
        except requests.RequestException as exc:
            status: int | None = None
            output = f"no response: {type(exc).__name__}: {exc}"
        else:
            status = response.status_code
            output = f"HTTP {status} {response.reason}\n{response.text[:500]}".rstrip()
        steps.append(
            StepRecord(
                kind="http",
                description=scrub(_alert_description(url, body, number)),
                argv=[],
                returncode=status,
                output=scrub(output)[-OUTPUT_LIMIT:],
                duration=time.monotonic() - started,
                ok=status is not None and 200 <= status < 300,
            )
        )
        return status

    retrying = Retrying(
        stop=stop_after_attempt(ALERT_ATTEMPTS),
        wait=wait_fixed(ALERT_RETRY_PAUSE),
        retry=retry_if_result(lambda status: status is None or status >= 500),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        sleep=ctx.sleep,
    )
    status = retrying(attempt)
    target = safe_url(url)
    if status is not None and 200 <= status < 300:
        return ActionOutcome(
            "alerted", steps, "not verified: alert_only sends an alert", f"alert posted to {target} (HTTP {status})"
        )
    answers = ", ".join("no response" if s.returncode is None else f"HTTP {s.returncode}" for s in steps)
    return ActionOutcome(
        "failed",
        steps,
        "not verified: alert_only sends an alert",
        f"the alert to {target} was not accepted after {len(steps)} attempt{'s' if len(steps) != 1 else ''} ({answers})",
    )


# -- launchd_restart --------------------------------------------------------------------------------------


LAUNCHD_MISSING = "launchd_restart needs macOS launchd (launchctl not found on this host)"


def _launchd_commands(ctx: RecoveryContext) -> tuple[list[str], list[str] | None, list[str], list[str]]:
    """Return (bootout, rm of remove_files or None, bootstrap, kickstart fallback) argv lists."""
    label = _text_field(ctx, "label", "set it to the launchd job label, e.g. com.example.agent")
    domain = ctx.launchd_domain or f"gui/{os.getuid()}"
    plist = ctx.recovery.get("plist")
    if plist is None:
        plist = (
            f"/Library/LaunchDaemons/{label}.plist"
            if domain == "system"
            else os.path.expanduser(f"~/Library/LaunchAgents/{label}.plist")
        )
    elif not isinstance(plist, str) or not plist:
        raise RecoveryError(f"{ctx.where('plist')} is {plist!r}; give the job's property list path")
    files = ctx.recovery.get("remove_files", [])
    if not isinstance(files, list) or not all(isinstance(f, str) and f for f in files):
        raise RecoveryError(f"{ctx.where('remove_files')}: expected a list of lock or pid file paths")
    remove = ["rm", "-f", "--", *(os.path.expanduser(f) for f in files)] if files else None
    return (
        ["launchctl", "bootout", f"{domain}/{label}"],
        remove,
        ["launchctl", "bootstrap", domain, os.path.expanduser(plist)],
        ["launchctl", "kickstart", "-k", f"{domain}/{label}"],
    )


def _plan_launchd(ctx: RecoveryContext) -> list[StepRecord]:
    bootout, remove, bootstrap, kickstart = _launchd_commands(ctx)
    steps = [_planned("command", f"{shlex.join(bootout)} (a failure is tolerated: the job may not be loaded)", bootout)]
    if remove:
        steps.append(_planned("command", shlex.join(remove), remove))
    steps += [
        _planned("command", shlex.join(bootstrap), bootstrap),
        _planned("command", f"only if bootstrap fails: {shlex.join(kickstart)}", kickstart),
        _planned(
            "verify",
            f"verify {ctx.probe_label()} every {ctx.verify_interval:g}s until healthy, at most {ctx.verify_timeout:g}s",
        ),
    ]
    return steps


def launchd_available(env: Mapping[str, str] | None = None) -> bool:
    """Return True on macOS with launchctl on PATH."""
    path = (env if env is not None else os.environ).get("PATH")
    return sys.platform == "darwin" and shutil.which("launchctl", path=path) is not None


def _execute_launchd(ctx: RecoveryContext) -> ActionOutcome:
    bootout, remove, bootstrap, kickstart = _launchd_commands(ctx)
    if not launchd_available(ctx.env):
        return ActionOutcome("failed", [], "not verified: nothing ran", LAUNCHD_MISSING)
    steps = [_run(ctx, bootout, None, shlex.join(bootout))]
    if remove:
        steps.append(_run(ctx, remove, None, shlex.join(remove)))
    started = _run(ctx, bootstrap, None, shlex.join(bootstrap))
    steps.append(started)
    how = "bootout and bootstrap"
    if not started.ok:
        kicked = _run(ctx, kickstart, None, shlex.join(kickstart))
        steps.append(kicked)
        if not kicked.ok:
            return ActionOutcome(
                "failed",
                steps,
                "not verified: the restart commands failed",
                _mask(
                    f"launchctl bootstrap ({_exit_text(started)}) and kickstart -k ({_exit_text(kicked)}) both "
                    f"failed for {bootout[-1]}: {_last_line(kicked.output)}"
                ),
            )
        how = f"bootstrap failed ({_exit_text(started)}), kickstart -k succeeded"
    healthy, verification = _poll_verify(ctx, steps)
    if healthy:
        return ActionOutcome("recovered", steps, verification, _mask(f"{how} for {bootout[-1]}; healthy"))
    return ActionOutcome(
        "failed",
        steps,
        verification,
        _mask(f"{how} for {bootout[-1]}, but {ctx.probe_label()} did not become healthy"),
    )


# -- capability_commit ------------------------------------------------------------------------------------


GIT_STATUS = ["git", "status", "--porcelain=v1", "-z", "--untracked-files=all"]


def _commit_settings(ctx: RecoveryContext) -> tuple[str, list[str], Path, str, list[str]]:
    """Return (capability, its argv, allowlist path, commit message, trailers)."""
    capability = _text_field(ctx, "capability", "set it to the capability that writes the change")
    allowlist = _text_field(ctx, "allowlist_file", "set it to a file of glob patterns relative to the repository")
    message = _text_field(ctx, "commit_message", "set the commit message")
    entry = ctx.capabilities.get(capability)
    command = entry.get("command") if isinstance(entry, Mapping) else None
    if not isinstance(command, str) or not command.strip():
        raise RecoveryError(
            f"{ctx.where('capability')}: {capability!r} has no command in capabilities.yaml; "
            "add the capability with a command, or fix the name"
        )
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise RecoveryError(
            f"capabilities.yaml {capability}.command cannot be split ({exc}); fix its quoting"
        ) from None
    trailer_capability = ctx.recovery.get("trailer_capability") or capability
    trailers = ["Gate-Mutation: recovery", f"Gate-Capability: {trailer_capability}", f"Gate-Run-Key: {ctx.run_key}"]
    return capability, argv, ctx.repo_root / allowlist, message, trailers


def _commit_argv(message: str, trailers: Sequence[str]) -> list[str]:
    argv = ["git", "commit", "-m", message]
    for trailer in trailers:
        argv += ["--trailer", trailer]
    return argv


def _plan_commit(ctx: RecoveryContext) -> list[StepRecord]:
    capability, argv, allowlist, message, trailers = _commit_settings(ctx)
    root = ctx.repo_root
    add = ["git", "add", "--", f"<changed files matching {allowlist.name}>"]
    return [
        _planned("command", _local_description(GIT_STATUS, root) + "  # refuse when not empty", GIT_STATUS),
        _planned("command", _local_description(argv, root) + f"  # capability {capability}", argv),
        _planned(
            "command",
            _local_description(GIT_STATUS, root) + f"  # every change must match {ctx.recovery['allowlist_file']}",
            GIT_STATUS,
        ),
        _planned("command", _local_description(add, root), add),
        _planned("command", _local_description(_commit_argv(message, trailers), root), _commit_argv(message, trailers)),
    ]


def read_allowlist(path: Path) -> list[str]:
    """Return the glob patterns of an allowlist file (one per line; blank lines and # comments skipped)."""
    patterns = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            patterns.append(text)
    return patterns


def glob_regex(pattern: str) -> re.Pattern[str]:
    """Return the regex of a repo-relative glob: `*` and `?` stay within a directory, `**` crosses them.

    A pattern ending in `/` matches everything below that directory; a leading `./` or `/` is ignored.
    """
    text = pattern.strip()
    text = text[2:] if text.startswith("./") else text.lstrip("/")
    if text.endswith("/"):
        text += "**"
    out, i = [], 0
    while i < len(text):
        if text.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif text.startswith("**", i):
            out.append(".*")
            i += 2
        elif text[i] == "*":
            out.append("[^/]*")
            i += 1
        elif text[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(text[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def porcelain_paths(output: str) -> list[str]:
    """Return the paths of `git status --porcelain=v1 -z` output (both sides of a rename), sorted."""
    fields = output.split("\0")
    paths: set[str] = set()
    i = 0
    while i < len(fields):
        entry = fields[i]
        i += 1
        if len(entry) < 4:
            continue
        paths.add(entry[3:])
        if entry[0] in "RC" and i < len(fields):
            paths.add(fields[i])
            i += 1
    return sorted(paths)


def _git_status(ctx: RecoveryContext, steps: list[StepRecord]) -> list[str] | None:
    step, raw = _run_capture(ctx, GIT_STATUS, ctx.repo_root, _local_description(GIT_STATUS, ctx.repo_root))
    paths = porcelain_paths(raw) if step.ok else None
    # The raw -z output is unreadable in a report: keep the list of paths instead.
    if paths is not None:
        step.output = _tail("\n".join(paths))
    steps.append(step)
    return paths


def _execute_commit(ctx: RecoveryContext) -> ActionOutcome:
    capability, argv, allowlist, message, trailers = _commit_settings(ctx)
    if not allowlist.is_file():
        raise RecoveryError(
            f"{ctx.where('allowlist_file')}: {allowlist} does not exist; create it with one glob pattern per line"
        )
    patterns = [glob_regex(p) for p in read_allowlist(allowlist)]
    steps: list[StepRecord] = []
    unverified = "not verified: capability_commit commits the capability's change"

    def failed(detail: str) -> ActionOutcome:
        return ActionOutcome("failed", steps, unverified, _mask(detail))

    before = _git_status(ctx, steps)
    if before is None:
        return failed(f"git status failed in {ctx.repo_root}: {_last_line(steps[-1].output)}")
    if before:
        return failed(f"refusing: the work tree has uncommitted changes: {', '.join(before)}")
    ran = _run(ctx, argv, ctx.repo_root, _local_description(argv, ctx.repo_root))
    steps.append(ran)
    changed = _git_status(ctx, steps)
    if not ran.ok:
        left = f"; changed files left in place: {', '.join(changed)}" if changed else ""
        return failed(
            f"capability {capability} failed ({_exit_text(ran)}): {_last_line(ran.output)}; nothing committed{left}"
        )
    if changed is None:
        return failed(f"git status failed in {ctx.repo_root} after {capability}: {_last_line(steps[-1].output)}")
    if not changed:
        return ActionOutcome(
            "recovered", steps, unverified, f"capability {capability} changed nothing; nothing to commit"
        )
    outside = [p for p in changed if not any(rx.fullmatch(p) for rx in patterns)]
    if outside:
        return failed(
            f"capability {capability} changed files outside {allowlist.relative_to(ctx.repo_root)}: "
            f"{', '.join(outside)}; nothing committed (the changes are left in place)"
        )
    add = ["git", "add", "--", *changed]
    step = _run(ctx, add, ctx.repo_root, _local_description(add, ctx.repo_root))
    steps.append(step)
    if not step.ok:
        return failed(f"git add failed ({_exit_text(step)}): {_last_line(step.output)}; nothing committed")
    commit = _commit_argv(message, trailers)
    step = _run(ctx, commit, ctx.repo_root, _local_description(commit, ctx.repo_root))
    steps.append(step)
    if not step.ok:
        return failed(f"git commit failed ({_exit_text(step)}): {_last_line(step.output)}; the files stay staged")
    return ActionOutcome(
        "recovered",
        steps,
        unverified,
        _mask(
            f"committed {len(changed)} file{'s' if len(changed) != 1 else ''} from {capability}: {', '.join(changed)}"
        ),
    )
