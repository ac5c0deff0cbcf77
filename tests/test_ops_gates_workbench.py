"""Ported host-bound ops gates D153 and D163-D166: the operator's paths read below a temporary host root."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infracore_verify.gates.checks.ops_common import HOST_ROOT_ENV
from tests.ops_fixture import AGENT_REPO, WORKBENCH, OpsFixture, build, outcome

AGENTS = "ops/bindings/agents.registry.yaml"
SSH = "ops/bindings/workbench.ssh.attach.contract.yaml"
RUNTIME = "ops/bindings/workbench.ssh.runtime.surface.contract.yaml"
SECRETS = "ops/bindings/workbench.secrets.onboarding.contract.yaml"
DEPLOY = "ops/bindings/workbench.deploy.method.surface.contract.yaml"


@pytest.fixture
def fx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> OpsFixture:
    """Returns a fresh ops-shaped fixture whose operator host lives below tmp_path (never the real home)."""
    fixture = build(tmp_path)
    monkeypatch.setenv(HOST_ROOT_ENV, str(fixture.host))
    return fixture


def _binding(fx: OpsFixture, **changes: Any) -> None:
    fx.edit(AGENTS, lambda d: d["agents"][0]["project_binding"].update(changes))


def test_d153_missing_attach_file_names_the_operator_path(fx: OpsFixture) -> None:
    """A binding whose .spine-link.yaml is absent on this host fails, naming the operator's path."""
    (fx.host / AGENT_REPO.lstrip("/") / ".spine-link.yaml").unlink()
    assert outcome(fx, "D153") == (
        "fail",
        [
            f"{AGENTS}:5 $.agents[0].project_binding: media-agent: missing attach file: {AGENT_REPO}/.spine-link.yaml;"
            " regenerate the project attach bindings"
        ],
    )


def test_d153_mismatches_accumulate(fx: OpsFixture) -> None:
    """Gate pack and attach-file mismatches are reported together; a null value reads as 'None'."""
    _binding(fx, gate_pack="nope")
    fx.yaml(
        f"{AGENT_REPO}/.spine-link.yaml", {"domain": None, "agent_id": "media-agent", "gate_pack": "nope"}, host=True
    )
    where = f"{AGENTS}:5 $.agents[0].project_binding"
    fix = "regenerate the project attach bindings"
    assert outcome(fx, "D153") == (
        "fail",
        [
            f"{where}: media-agent: project_binding.gate_pack 'nope' does not resolve to domain pack or agent pack; {fix}",
            f"{where}: media-agent: .spine-link.yaml domain mismatch (expected 'infra', got 'None'); {fix}",
        ],
    )


def test_d153_git_root_setting_false_string_is_false(fx: OpsFixture) -> None:
    """`repo_path_must_be_git_root: "false"` switches the git check off (the ops bool() reads it as true: fixed)."""
    policy = "ops/bindings/project.attach.link.policy.yaml"
    fx.yaml(policy, {"policy": {"repo_path_must_be_git_root": "false"}})
    assert outcome(fx, "D153") == ("pass", [])
    fx.yaml(policy, {"policy": {"repo_path_must_be_git_root": True}})
    _status, [finding] = outcome(fx, "D153")
    assert "media-agent: project_binding.repo_path is not a git worktree root" in finding
    (fx.host / AGENT_REPO.lstrip("/") / ".git").mkdir()
    assert outcome(fx, "D153") == ("pass", [])


def test_d153_null_status_is_inactive(fx: OpsFixture) -> None:
    """`implementation_status: null` reads as 'none' (inactive): no active binding is left, which fails."""
    fx.edit(AGENTS, lambda d: d["agents"][0].update(implementation_status=None))
    assert outcome(fx, "D153") == (
        "fail",
        [
            f"{AGENTS}:1 $.agents: no active project_binding entries found in agents.registry.yaml; add a project_binding"
        ],
    )


def test_d163_missing_workbench_masks_violations(fx: OpsFixture) -> None:
    """Without the workbench checkout only the contract errors are reported, naming the operator path."""
    import shutil

    shutil.rmtree(fx.host / WORKBENCH.lstrip("/"))
    fix = "fix the contract or the workbench checkout"
    assert outcome(fx, "D163") == (
        "fail",
        [
            f"{SSH}:1 $: contract :: workbench_root does not exist: {WORKBENCH}; {fix}",
            f"{SSH}:1 $: contract :: missing workbench ssh config: dotfiles/ssh/config.d/tailscale.conf; {fix}",
        ],
    )


def test_d163_user_mismatch_and_exception(fx: OpsFixture) -> None:
    """A User differing from ssh.targets (default user) fails; listing its path as an exception clears it."""
    cfg = f"{WORKBENCH}/dotfiles/ssh/config.d/tailscale.conf"
    fx.write(cfg, "Host infra-core\n  HostName 100.64.0.10\n  User root\nHost nouser\n  HostName x\n", host=True)
    path = "dotfiles/ssh/config.d/tailscale.conf::host-user-mismatch/infra-core"
    status, findings = outcome(fx, "D163")
    assert (status, findings) == (
        "fail",
        [f"{SSH}:10 $.checks: {path} :: user expected 'ops' got 'root'; fix the workbench file or add an exception"],
    )
    row = {"path": path, "reason": "r", "owner": "o", "expires_on": "2026-12-31", "ticket_id": "T-1"}
    fx.edit(SSH, lambda d: d.update(exceptions=[row]))
    assert outcome(fx, "D163") == ("pass", [])


def test_d164_first_hit_per_file(fx: OpsFixture) -> None:
    """D164 reports the first forbidden token of a file (substring, in pattern order) and a missing file."""
    fx.write(f"{WORKBENCH}/agents/media/docs/RUNBOOK.md", "ok\nssh ubuntu@host root@host\nroot@again\n", host=True)
    fx.edit(RUNTIME, lambda d: d["checks"][0]["include_paths"].append("agents/n8n/RUNBOOK.md"))
    fix = "fix the workbench file or add an exception"
    assert outcome(fx, "D164") == (
        "fail",
        [
            f"{RUNTIME}:7 $.checks: agents/media/docs/RUNBOOK.md::forbidden_runtime_userhost_tokens :: forbidden"
            f" pattern 'root@' at line 2; {fix}",
            f"{RUNTIME}:7 $.checks: agents/n8n/RUNBOOK.md::forbidden_runtime_userhost_tokens :: governed file missing:"
            f" {WORKBENCH}/agents/n8n/RUNBOOK.md; {fix}",
        ],
    )


def test_d165_open_issue_and_enforce_false_string(fx: OpsFixture) -> None:
    """An open HIGH issue fails D165; `enforce: "false"` switches the check off (bool("false") fixed)."""
    inventory = {"known_issues": [{"id": "SEC-9", "severity": " high ", "status": "Open"}, {"severity": "CRITICAL"}]}
    fx.write(f"{WORKBENCH}/infra/data/secrets_inventory.json", json.dumps(inventory), host=True)
    assert outcome(fx, "D165") == (
        "fail",
        [
            f"{SECRETS}:7 $.checks: infra/data/secrets_inventory.json::no_open_high_critical_inventory_issues ::"
            " open HIGH/CRITICAL issues present: 2 (SEC-9, unknown); fix the workbench file or add an exception"
        ],
    )
    fx.edit(SECRETS, lambda d: d["checks"][1].update(enforce="false"))
    assert outcome(fx, "D165") == ("pass", [])


def test_d166_direct_docker_and_methods(fx: OpsFixture) -> None:
    """A direct `docker run` (not in a comment) and a non-canonical docker-host method both fail D166."""
    fx.write(
        f"{WORKBENCH}/scripts/root/server-startup.sh", "# docker run in a comment is fine\n  docker run x\n", host=True
    )
    fx.edit(
        "ops/bindings/deploy.method.contract.yaml",
        lambda d: d["entries"].append({"target": " docker-host ", "method": "ssh"}),
    )
    fix = "fix the workbench file or add an exception"
    assert outcome(fx, "D166") == (
        "fail",
        [
            f"{DEPLOY}:8 $.checks: ops/bindings/deploy.method.contract.yaml::docker_host_canonical_method_declared ::"
            f" target 'docker-host' uses non-canonical methods: docker_compose, ssh; {fix}",
            f"{DEPLOY}:8 $.checks: scripts/root/server-startup.sh::no_direct_docker_lifecycle_for_docker_host ::"
            f" forbidden pattern 'docker run' at line 2; {fix}",
        ],
    )
