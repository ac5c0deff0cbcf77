"""docker_compose_restart: `docker compose restart`, locally or over SSH, `up -d` when it fails, then verify.

`docker compose restart [services]` runs in `<stacks_dir>/<stack>` of host `target` (locally, or over
`ssh -o BatchMode=yes ... -- 'cd <dir> && docker compose ...'`); when it fails, `docker compose up -d
[services]`; then `ctx.verify` is polled every verify_interval until healthy or verify_timeout:
recovered | failed.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infracore_verify.recovery.actions.context import ActionOutcome, RecoveryContext, RecoveryError, StepRecord
from infracore_verify.recovery.actions.registry import action_type
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


def compose_target(ctx: RecoveryContext) -> ComposeTarget:
    """Return where the action's compose commands run; raise RecoveryError for a bad binding."""
    target = text_field(ctx, "target", "set it to a host id of the environment file's hosts")
    stack = text_field(ctx, "stack", "set it to the stack's directory name under the host's stacks_dir")
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
        return ComposeTarget(target, "local", stack_dir, list(services), [])
    if transport != "ssh":
        raise RecoveryError(f"{where}.transport is {transport!r}; use local or ssh")
    return ComposeTarget(target, "ssh", stack_dir, list(services), _ssh_prefix(host, where))


def _ssh_prefix(host: Mapping[str, Any], where: str) -> list[str]:
    """Return `ssh -o BatchMode=yes [options] <destination> --` for a host; raise RecoveryError for a bad field."""
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
    return [*prefix, destination, "--"]


def compose_command(target: ComposeTarget, verb: list[str]) -> tuple[list[str], str | None, str]:
    """Return (argv, local cwd or None, description) of `docker compose <verb> [services]` on the target."""
    compose = ["docker", "compose", *verb, *target.services]
    if target.transport == "local":
        return compose, target.stack_dir, local_description(compose, target.stack_dir)
    remote = f"cd {shlex.quote(target.stack_dir)} && {shlex.join(compose)}"
    argv = [*target.ssh_prefix, remote]
    return argv, None, shlex.join(argv)


@action_type("docker_compose_restart")
class ComposeRestart:
    """Restart a compose stack (or some of its services) and verify it became healthy."""

    def plan(self, ctx: RecoveryContext) -> list[StepRecord]:
        """Return restart, the up -d fallback and the verification, running none of them."""
        target = compose_target(ctx)
        restart = compose_command(target, ["restart"])
        up = compose_command(target, ["up", "-d"])
        return [
            planned("command", restart[2], restart[0]),
            planned("command", f"only if the restart fails: {up[2]}", up[0]),
            plan_verify(ctx),
        ]

    def execute(self, ctx: RecoveryContext) -> ActionOutcome:
        """Restart (up -d when restart fails), then poll the verification: recovered | failed."""
        target = compose_target(ctx)
        if target.transport == "local" and not Path(target.stack_dir).is_dir():
            raise RecoveryError(
                f"{ctx.environment_file} hosts.{target.host_id}.stacks_dir: {target.stack_dir} does not exist on "
                "this machine (transport local); create it, fix stacks_dir or recovery.stack, or use transport: ssh"
            )
        steps: list[StepRecord] = []
        restart = run_command(ctx, *compose_command(target, ["restart"]))
        steps.append(restart)
        how = "docker compose restart"
        if not restart.ok:
            up = run_command(ctx, *compose_command(target, ["up", "-d"]))
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
