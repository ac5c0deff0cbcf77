"""docker_compose_restart: `docker compose restart`, locally or over SSH, `up -d` when it fails, then verify.

`docker compose restart [services]` runs in `<stacks_dir>/<stack>` of host `target` (locally, or over
`ssh -o BatchMode=yes -o ConnectTimeout=<n> ... -- <host> 'cd <dir> && docker compose ...'`); when it fails,
`docker compose up -d [services]`; then `ctx.verify` is polled every verify_interval until healthy or
verify_timeout: recovered | failed. `stack` is a relative path without `..` and services are plain names;
a local command sees only the host's `runtime_env` of the container-runtime variables (ssh.py).

With `ctx.runtime` (the sandbox environment) the restart is the runtime's, in-process: no docker, no host.
`preflight` checks that the action can start at all (binding, stack directory, docker, the SSH login) before
the ledger counts an attempt.
"""

from __future__ import annotations

import os
import posixpath
import shlex
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from infracore_verify.recovery.actions.context import ActionOutcome, RecoveryContext, RecoveryError, StepRecord
from infracore_verify.recovery.actions.registry import action_type
from infracore_verify.recovery.actions.ssh import (
    SERVICE,
    container_env,
    relative_path_problem,
    runtime_env,
    ssh_failure_fix,
    ssh_prefix,
)
from infracore_verify.recovery.actions.steps import (
    exit_text,
    last_line,
    local_description,
    mask,
    plan_verify,
    planned,
    poll_verify,
    run_command,
    text_field,
)


@dataclass
class ComposeTarget:
    """Where the compose commands run: the host, local or ssh, the stack directory and the services."""

    host_id: str
    transport: str
    stack_dir: str
    services: list[str]
    ssh_prefix: list[str]
    runtime_env: dict[str, str] = field(default_factory=dict)
    stack: str = ""


def _stack_and_services(ctx: RecoveryContext) -> tuple[str, list[str]]:
    """Return the checked stack (relative, no `..`, no leading `-`) and service names."""
    stack = text_field(ctx, "stack", "set it to the stack's directory name under the host's stacks_dir")
    problem = relative_path_problem(stack)
    if problem is not None:
        raise RecoveryError(f"{ctx.where('stack')} {stack!r} {problem}; name the stack's directory under stacks_dir")
    services = ctx.recovery.get("services", [])
    if services is None:
        services = []
    if not isinstance(services, list) or not all(isinstance(s, str) and s for s in services):
        raise RecoveryError(f"{ctx.where('services')}: expected a list of service names ([] = the whole stack)")
    for service in services:
        if not SERVICE.fullmatch(service):
            raise RecoveryError(
                f"{ctx.where('services')}: {service!r} is not a compose service name (letters, digits, '.', '_', "
                "'-', not starting with '-')"
            )
    return stack, list(services)


def compose_target(ctx: RecoveryContext) -> ComposeTarget:
    """Return where the action's compose commands run; raise RecoveryError for a bad binding."""
    target = text_field(ctx, "target", "set it to a host id of the environment file's hosts")
    stack, services = _stack_and_services(ctx)
    if ctx.runtime is not None:
        return ComposeTarget(target, "runtime", stack, services, [], stack=stack)
    host = ctx.hosts.get(target)
    if not isinstance(host, Mapping):
        known = ", ".join(sorted(ctx.hosts)) or "none"
        raise RecoveryError(
            f"{ctx.where('target')}: {target!r} is not a host of {ctx.environment_file} (hosts: {known}); "
            f"add hosts.{target} there or fix the target"
        )
    where = f"{ctx.environment_file} hosts.{target}"
    stacks_dir = host.get("stacks_dir")
    if not isinstance(stacks_dir, str) or not stacks_dir.startswith("/"):
        raise RecoveryError(
            f"{where}.stacks_dir is {stacks_dir!r}; set it to the absolute directory that holds {stack}/"
        )
    transport = host.get("transport", "local")
    stack_dir = posixpath.join(stacks_dir, stack)
    explicit = runtime_env(host, where)
    if transport == "local":
        return ComposeTarget(target, "local", stack_dir, services, [], explicit, stack)
    if transport != "ssh":
        raise RecoveryError(f"{where}.transport is {transport!r}; use local or ssh")
    return ComposeTarget(target, "ssh", stack_dir, services, ssh_prefix(host, where), explicit, stack)


def compose_command(target: ComposeTarget, verb: list[str]) -> tuple[list[str], str | None, str]:
    """Return (argv, local cwd or None, description) of `docker compose <verb> [services]` on the target."""
    compose = ["docker", "compose", *verb, *target.services]
    if target.transport == "local":
        return compose, target.stack_dir, local_description(compose, target.stack_dir)
    assignments = [f"{k}={v}" for k, v in sorted(target.runtime_env.items())]
    command = shlex.join(["env", *assignments, *compose]) if assignments else shlex.join(compose)
    remote = f"cd {shlex.quote(target.stack_dir)} && {command}"
    argv = [*target.ssh_prefix, remote]
    return argv, None, shlex.join(argv)


def _local_context(ctx: RecoveryContext, target: ComposeTarget) -> RecoveryContext:
    """Return ctx whose commands see the host's runtime_env and none of the operator's DOCKER_*/COMPOSE_*."""
    if target.transport != "local":
        return ctx
    return replace(ctx, env=container_env(ctx.env if ctx.env is not None else os.environ, target.runtime_env))


def _runtime_steps(ctx: RecoveryContext, target: ComposeTarget) -> str:
    """Return the runtime's description of the restart; a stack it does not have is a binding problem."""
    assert ctx.runtime is not None
    try:
        return ctx.runtime.describe(target.stack, target.services)
    except ValueError as exc:
        raise RecoveryError(f"{ctx.where('stack')}: {exc}") from None


@action_type("docker_compose_restart")
class ComposeRestart:
    """Restart a compose stack (or some of its services) and verify it became healthy."""

    def plan(self, ctx: RecoveryContext) -> list[StepRecord]:
        """Return restart, the up -d fallback and the verification, running none of them."""
        target = compose_target(ctx)
        if ctx.runtime is not None:
            return [planned("runtime", _runtime_steps(ctx, target)), plan_verify(ctx)]
        restart = compose_command(target, ["restart"])
        up = compose_command(target, ["up", "-d"])
        return [
            planned("command", restart[2], restart[0]),
            planned("command", f"only if the restart fails: {up[2]}", up[0]),
            plan_verify(ctx),
        ]

    def preflight(self, ctx: RecoveryContext) -> None:
        """Raise RecoveryError when the restart cannot start: a bad binding, no stack directory, no docker, no login."""
        target = compose_target(ctx)
        if ctx.runtime is not None:
            _runtime_steps(ctx, target)
        elif target.transport == "local":
            _check_local(ctx, target)
        else:
            _check_ssh(ctx, target)

    def execute(self, ctx: RecoveryContext) -> ActionOutcome:
        """Restart (up -d when restart fails), then poll the verification: recovered | failed."""
        target = compose_target(ctx)
        if ctx.runtime is not None:
            return _runtime_restart(ctx, target)
        if target.transport == "local":
            _check_stack_dir(ctx, target)
        run_ctx = _local_context(ctx, target)
        steps: list[StepRecord] = []
        restart = run_command(run_ctx, *compose_command(target, ["restart"]))
        steps.append(restart)
        how = "docker compose restart"
        if not restart.ok:
            up = run_command(run_ctx, *compose_command(target, ["up", "-d"]))
            steps.append(up)
            if not up.ok:
                return ActionOutcome(
                    result="failed",
                    steps=steps,
                    verification="not verified: the restart commands failed",
                    detail=mask(
                        f"docker compose restart ({exit_text(restart)}) and up -d ({exit_text(up)}) both failed "
                        f"in {target.stack_dir} on {target.host_id}: {last_line(up.output)}"
                    ),
                )
            how = f"docker compose restart failed ({exit_text(restart)}), up -d succeeded"
        healthy, verification = poll_verify(ctx, steps)
        where = f"in {target.stack_dir} on {target.host_id}"
        if healthy:
            return ActionOutcome("recovered", steps, verification, mask(f"{how} {where}; {ctx.probe_label()} healthy"))
        return ActionOutcome(
            "failed",
            steps,
            verification,
            mask(f"{how} {where}, but {ctx.probe_label()} did not become healthy within {ctx.verify_timeout:g}s"),
        )


def _check_stack_dir(ctx: RecoveryContext, target: ComposeTarget) -> None:
    if not Path(target.stack_dir).is_dir():
        raise RecoveryError(
            f"{ctx.environment_file} hosts.{target.host_id}.stacks_dir: {target.stack_dir} does not exist on "
            "this machine (transport local); create it, fix stacks_dir or recovery.stack, or use transport: ssh"
        )


def _check_local(ctx: RecoveryContext, target: ComposeTarget) -> None:
    _check_stack_dir(ctx, target)
    path = _local_context(ctx, target).env or {}
    if shutil.which("docker", path=path.get("PATH")) is None:
        raise RecoveryError(
            f"{ctx.environment_file} hosts.{target.host_id}: docker is not on this machine's PATH (transport local); "
            "install docker or use transport: ssh"
        )


def _check_ssh(ctx: RecoveryContext, target: ComposeTarget) -> None:
    """Log in once and check the stack directory and docker; nothing is restarted."""
    remote = f"cd {shlex.quote(target.stack_dir)} && command -v docker >/dev/null"
    argv = [*target.ssh_prefix, remote]
    step = run_command(ctx, argv, None, shlex.join(argv))
    if step.ok:
        return
    where = f"{ctx.environment_file} hosts.{target.host_id}"
    if step.returncode == 255 or step.returncode is None:
        failed = "timed out" if step.returncode is None else last_line(step.output)
        raise RecoveryError(
            mask(
                f"{where}: ssh to {target.ssh_prefix[-1]} failed before anything ran: {failed}; "
                f"{ssh_failure_fix(step.output)}"
            )
        )
    raise RecoveryError(
        mask(
            f"{where}: {target.stack_dir} or docker is missing on the host ({exit_text(step)}: "
            f"{last_line(step.output)}); create the stack directory, install docker, or fix stacks_dir or recovery.stack"
        )
    )


def _runtime_restart(ctx: RecoveryContext, target: ComposeTarget) -> ActionOutcome:
    """Restart through the suite's own runtime (the sandbox), then verify."""
    assert ctx.runtime is not None
    description = _runtime_steps(ctx, target)
    started = ctx.clock()
    try:
        output = ctx.runtime.restart(target.stack, target.services)
        ok = True
    except ValueError as exc:
        raise RecoveryError(f"{ctx.where('stack')}: {exc}") from None
    except Exception as exc:  # the runtime is the suite's own: say what broke, do not abort the run
        output, ok = f"{type(exc).__name__}: {exc}", False
    steps = [StepRecord("runtime", mask(description), [], 0 if ok else 1, mask(output), ctx.clock() - started, ok)]
    if not ok:
        return ActionOutcome("failed", steps, "not verified: the restart failed", mask(f"{description}: {output}"))
    healthy, verification = poll_verify(ctx, steps)
    name = ctx.runtime.name
    if healthy:
        return ActionOutcome(
            "recovered", steps, verification, mask(f"{name} restarted {target.stack}; {ctx.probe_label()} healthy")
        )
    return ActionOutcome(
        "failed",
        steps,
        verification,
        mask(
            f"{name} restarted {target.stack}, but {ctx.probe_label()} did not become healthy "
            f"within {ctx.verify_timeout:g}s"
        ),
    )
