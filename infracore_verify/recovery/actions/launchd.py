"""launchd_restart: bootout, remove lock files, bootstrap (kickstart -k when that fails), then verify.

`launchctl bootout <domain>/<label>` (a failure is tolerated: the job may not be loaded), `rm -f --
<remove_files>` when the action lists any, `launchctl bootstrap <domain> <plist>`, and when that fails
`launchctl kickstart -k <domain>/<label>`; then `ctx.verify` is polled. domain: ctx.launchd_domain or
gui/<uid>; plist: recovery.plist or /Library/LaunchDaemons/<label>.plist (domain system) or
~/Library/LaunchAgents/<label>.plist. Without launchd (not macOS, or no launchctl on PATH): failed, nothing
runs.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Mapping

from infracore_verify.recovery.actions.context import ActionOutcome, RecoveryContext, RecoveryError, StepRecord
from infracore_verify.recovery.actions.registry import action_type
from infracore_verify.recovery.actions.steps import (
    exit_text,
    last_line,
    mask,
    plan_verify,
    planned,
    poll_verify,
    run_command,
    text_field,
)

LAUNCHD_MISSING = "launchd_restart needs macOS launchd (launchctl not found on this host)"
IN_SANDBOX = (
    "launchd_restart acts on this machine's launchd, which the sandbox environment does not own; "
    "it does not run against the sandbox"
)


def _launchd_commands(ctx: RecoveryContext) -> tuple[list[str], list[str] | None, list[str], list[str]]:
    """Return (bootout, rm of remove_files or None, bootstrap, kickstart fallback) argv lists."""
    label = text_field(ctx, "label", "set it to the launchd job label, e.g. com.example.agent")
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


def launchd_available(env: Mapping[str, str] | None = None) -> bool:
    """Return True on macOS with launchctl on PATH."""
    path = (env if env is not None else os.environ).get("PATH")
    return sys.platform == "darwin" and shutil.which("launchctl", path=path) is not None


@action_type("launchd_restart")
class LaunchdRestart:
    """Restart a launchd job and verify it became healthy."""

    def plan(self, ctx: RecoveryContext) -> list[StepRecord]:
        """Return bootout, rm, bootstrap, the kickstart fallback and the verification, running none of them."""
        bootout, remove, bootstrap, kickstart = _launchd_commands(ctx)
        steps = [
            planned("command", f"{shlex.join(bootout)} (a failure is tolerated: the job may not be loaded)", bootout)
        ]
        if remove:
            steps.append(planned("command", shlex.join(remove), remove))
        steps += [
            planned("command", shlex.join(bootstrap), bootstrap),
            planned("command", f"only if bootstrap fails: {shlex.join(kickstart)}", kickstart),
            plan_verify(ctx),
        ]
        return steps

    def preflight(self, ctx: RecoveryContext) -> None:
        """Raise RecoveryError in the sandbox, for a bad binding, or without launchd on this host."""
        if ctx.runtime is not None:
            raise RecoveryError(IN_SANDBOX)
        _launchd_commands(ctx)
        if not launchd_available(ctx.env):
            raise RecoveryError(f"{LAUNCHD_MISSING}; run this action on the macOS host that runs the job")

    def execute(self, ctx: RecoveryContext) -> ActionOutcome:
        """Restart the job (kickstart -k when bootstrap fails), then poll the verification: recovered | failed."""
        if ctx.runtime is not None:
            raise RecoveryError(IN_SANDBOX)
        bootout, remove, bootstrap, kickstart = _launchd_commands(ctx)
        if not launchd_available(ctx.env):
            return ActionOutcome("failed", [], "not verified: nothing ran", LAUNCHD_MISSING)
        steps = [run_command(ctx, bootout, None, shlex.join(bootout))]
        if remove:
            steps.append(run_command(ctx, remove, None, shlex.join(remove)))
        started = run_command(ctx, bootstrap, None, shlex.join(bootstrap))
        steps.append(started)
        how = "bootout and bootstrap"
        if not started.ok:
            kicked = run_command(ctx, kickstart, None, shlex.join(kickstart))
            steps.append(kicked)
            if not kicked.ok:
                return ActionOutcome(
                    "failed",
                    steps,
                    "not verified: the restart commands failed",
                    mask(
                        f"launchctl bootstrap ({exit_text(started)}) and kickstart -k ({exit_text(kicked)}) both "
                        f"failed for {bootout[-1]}: {last_line(kicked.output)}"
                    ),
                )
            how = f"bootstrap failed ({exit_text(started)}), kickstart -k succeeded"
        healthy, verification = poll_verify(ctx, steps)
        if healthy:
            return ActionOutcome("recovered", steps, verification, mask(f"{how} for {bootout[-1]}; healthy"))
        return ActionOutcome(
            "failed",
            steps,
            verification,
            mask(f"{how} for {bootout[-1]}, but {ctx.probe_label()} did not become healthy"),
        )
