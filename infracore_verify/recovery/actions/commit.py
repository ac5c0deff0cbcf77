"""capability_commit: run a capability that writes files, then commit its change when the allowlist allows it.

Refuses a work tree with changes, runs the capability's `command` (capabilities.yaml) in repo_root, fails
when a changed file is outside the allowlist_file globs, else `git add -- <files>` and `git commit -m
<message> --trailer Gate-Mutation: recovery --trailer Gate-Capability: <cap> --trailer Gate-Run-Key: <run
key>`: recovered | failed. A refused change is left in place for a human to inspect.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

from infracore_verify.recovery.actions.context import ActionOutcome, RecoveryContext, RecoveryError, StepRecord
from infracore_verify.recovery.actions.registry import action_type
from infracore_verify.recovery.actions.ssh import relative_path_problem
from infracore_verify.recovery.actions.steps import (
    exit_text,
    last_line,
    local_description,
    mask,
    planned,
    run_capture,
    run_command,
    tail,
    text_field,
)

GIT_STATUS = ["git", "status", "--porcelain=v1", "-z", "--untracked-files=all"]
UNVERIFIED = "not verified: capability_commit commits the capability's change"
IN_SANDBOX = (
    "capability_commit changes and commits the repository, which the sandbox environment does not own; "
    "it does not run against the sandbox"
)


def _commit_settings(ctx: RecoveryContext) -> tuple[str, list[str], Path, str, list[str]]:
    """Return (capability, its argv, allowlist path, commit message, trailers)."""
    capability = text_field(ctx, "capability", "set it to the capability that writes the change")
    allowlist = text_field(ctx, "allowlist_file", "set it to a file of glob patterns relative to the repository")
    problem = relative_path_problem(allowlist)
    if problem is not None:
        raise RecoveryError(f"{ctx.where('allowlist_file')} {allowlist!r} {problem}; name a file in the repository")
    message = text_field(ctx, "commit_message", "set the commit message")
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
    step, raw = run_capture(ctx, GIT_STATUS, ctx.repo_root, local_description(GIT_STATUS, ctx.repo_root))
    paths = porcelain_paths(raw) if step.ok else None
    # The raw -z output is unreadable in a report: keep the list of paths instead.
    if paths is not None:
        step.output = tail("\n".join(paths))
    steps.append(step)
    return paths


def _commit(ctx: RecoveryContext, steps: list[StepRecord], changed: list[str], commit: list[str]) -> str | None:
    """Stage the changed files and commit them; return why that failed, or None."""
    add = ["git", "add", "--", *changed]
    step = run_command(ctx, add, ctx.repo_root, local_description(add, ctx.repo_root))
    steps.append(step)
    if not step.ok:
        return f"git add failed ({exit_text(step)}): {last_line(step.output)}; nothing committed"
    step = run_command(ctx, commit, ctx.repo_root, local_description(commit, ctx.repo_root))
    steps.append(step)
    if not step.ok:
        return f"git commit failed ({exit_text(step)}): {last_line(step.output)}; the files stay staged"
    return None


@action_type("capability_commit")
class CapabilityCommit:
    """Run a capability and commit its change, refusing anything outside the allowlist."""

    def plan(self, ctx: RecoveryContext) -> list[StepRecord]:
        """Return the status checks, the capability, git add and git commit, running none of them."""
        capability, argv, allowlist, message, trailers = _commit_settings(ctx)
        root = ctx.repo_root
        add = ["git", "add", "--", f"<changed files matching {allowlist.name}>"]
        commit = _commit_argv(message, trailers)
        return [
            planned("command", local_description(GIT_STATUS, root) + "  # refuse when not empty", GIT_STATUS),
            planned("command", local_description(argv, root) + f"  # capability {capability}", argv),
            planned(
                "command",
                local_description(GIT_STATUS, root) + f"  # every change must match {ctx.recovery['allowlist_file']}",
                GIT_STATUS,
            ),
            planned("command", local_description(add, root), add),
            planned("command", local_description(commit, root), commit),
        ]

    def preflight(self, ctx: RecoveryContext) -> None:
        """Raise RecoveryError in the sandbox, for a bad binding or a missing allowlist file."""
        self._settings(ctx)

    @staticmethod
    def _settings(ctx: RecoveryContext) -> tuple[str, list[str], Path, str, list[str]]:
        if ctx.runtime is not None:
            raise RecoveryError(IN_SANDBOX)
        settings = _commit_settings(ctx)
        if not settings[2].is_file():
            raise RecoveryError(
                f"{ctx.where('allowlist_file')}: {settings[2]} does not exist; create it with one glob pattern per line"
            )
        return settings

    def execute(self, ctx: RecoveryContext) -> ActionOutcome:
        """Run the capability on a clean work tree and commit what it changed: recovered | failed."""
        capability, argv, allowlist, message, trailers = self._settings(ctx)
        patterns = [glob_regex(p) for p in read_allowlist(allowlist)]
        steps: list[StepRecord] = []

        def failed(detail: str) -> ActionOutcome:
            return ActionOutcome("failed", steps, UNVERIFIED, mask(detail))

        before = _git_status(ctx, steps)
        if before is None:
            return failed(f"git status failed in {ctx.repo_root}: {last_line(steps[-1].output)}")
        if before:
            return failed(f"refusing: the work tree has uncommitted changes: {', '.join(before)}")
        ran = run_command(ctx, argv, ctx.repo_root, local_description(argv, ctx.repo_root))
        steps.append(ran)
        changed = _git_status(ctx, steps)
        if not ran.ok:
            left = f"; changed files left in place: {', '.join(changed)}" if changed else ""
            return failed(
                f"capability {capability} failed ({exit_text(ran)}): {last_line(ran.output)}; nothing committed{left}"
            )
        if changed is None:
            return failed(f"git status failed in {ctx.repo_root} after {capability}: {last_line(steps[-1].output)}")
        if not changed:
            return ActionOutcome(
                "recovered", steps, UNVERIFIED, f"capability {capability} changed nothing; nothing to commit"
            )
        outside = [p for p in changed if not any(rx.fullmatch(p) for rx in patterns)]
        if outside:
            return failed(
                f"capability {capability} changed files outside {allowlist.relative_to(ctx.repo_root)}: "
                f"{', '.join(outside)}; nothing committed (the changes are left in place)"
            )
        problem = _commit(ctx, steps, changed, _commit_argv(message, trailers))
        if problem is not None:
            return failed(problem)
        files = f"{len(changed)} file{'s' if len(changed) != 1 else ''}"
        return ActionOutcome(
            "recovered", steps, UNVERIFIED, mask(f"committed {files} from {capability}: {', '.join(changed)}")
        )
