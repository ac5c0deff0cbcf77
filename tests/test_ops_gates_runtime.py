"""Ported ops gates D297, D330, D347 and D348 on an ops-shaped fixture: verdicts and exact findings."""

from __future__ import annotations

from pathlib import Path

import pytest

from infracore_verify.gates.checks.ops_common import HOST_ROOT_ENV
from tests.ops_fixture import WORKBENCH, OpsFixture, build, outcome

PLIST = "ops/runtime/launchd/com.ronny.infra-core-smoke.plist"
SCHED = "ops/bindings/launchd.scheduler.registry.yaml"
HORIZON = "ops/bindings/planning.horizon.contract.yaml"
TENANT = "ops/bindings/tenant.profile.yaml"


@pytest.fixture
def fx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> OpsFixture:
    """Returns a fresh ops-shaped fixture whose operator host lives below tmp_path."""
    fixture = build(tmp_path)
    monkeypatch.setenv(HOST_ROOT_ENV, str(fixture.host))
    return fixture


def test_d297_label_registry_and_bash_compat(fx: OpsFixture) -> None:
    """D297 reads the plist's Label with plistlib, the scheduler entry, and bash-4-only syntax in bash scripts."""
    fx.write(
        PLIST, (fx.root / PLIST).read_text().replace("<string>com.ronny.infra-core-smoke", "<string>com.ronny.other")
    )
    fx.script("ops/runtime/infra-core-smoke.sh", "# mapfile in a comment counts, as in the ops gate\nexit 0")
    fx.write("ops/runtime/helper.sh", "#!/bin/sh\nmapfile -t x\n")  # not bash: not checked; no plist: a finding
    assert outcome(fx, "D297") == (
        "fail",
        [
            "ops/runtime/helper.sh: missing plist template for runtime script ops/runtime/helper.sh ->"
            " ops/runtime/launchd/com.ronny.helper.plist; add ops/runtime/launchd/com.ronny.helper.plist",
            f"{PLIST}: plist label mismatch for {PLIST} (expected=com.ronny.infra-core-smoke, actual=com.ronny.other);"
            " set Label to com.ronny.infra-core-smoke",
            "ops/runtime/infra-core-smoke.sh:2: bash3.2-incompatible syntax in ops/runtime/infra-core-smoke.sh ->"
            " 2:# mapfile in a comment counts, as in the ops gate; rewrite it for bash 3.2",
        ],
    )


def test_d297_registry_entry_missing_or_repeated(fx: OpsFixture) -> None:
    """A missing scheduler entry fails; two entries for one label print two lines, which never match."""
    fx.yaml(SCHED, {"labels": [{"label": "com.ronny.other"}]})
    _status, [finding] = outcome(fx, "D297")
    assert finding.startswith(
        f"{SCHED}:1 $.labels: scheduler registry missing label entry for com.ronny.infra-core-smoke"
    )
    entry = {"label": "com.ronny.infra-core-smoke", "template_path": PLIST}
    fx.yaml(SCHED, {"labels": [entry, entry]})
    _status, [finding] = outcome(fx, "D297")
    assert f"template mismatch for com.ronny.infra-core-smoke (expected={PLIST}, actual={PLIST},{PLIST})" in finding


def test_d330_scopes_and_quirks(fx: OpsFixture) -> None:
    """Only exact active/open/draft scopes are checked; a quoted status is skipped; a 2-character string counts as 2 modes."""
    fx.write("mailroom/state/loop-scopes/LOOP-3.scope.md", "---\nstatus: open\n---\nbody\n---\nexecution_mode: late\n")
    assert outcome(fx, "D330") == ("pass", [])  # the body range counts: sed prints every ---..--- range
    fx.write("mailroom/state/loop-scopes/LOOP-4.scope.md", "---\nstatus: draft\n---\n")
    fx.write("mailroom/state/loop-scopes/LOOP-5.scope.md", '---\nstatus: "active"\n---\n')
    assert outcome(fx, "D330") == (
        "fail",
        [
            "mailroom/state/loop-scopes/LOOP-4.scope.md: mailroom/state/loop-scopes/LOOP-4.scope.md missing"
            " execution_mode field (status draft); add execution_mode: <mode> to the scope's frontmatter"
        ],
    )
    fx.edit(HORIZON, lambda d: d.update(execution_modes="ab", default_execution_mode=False))
    (fx.root / "mailroom/state/loop-scopes/LOOP-4.scope.md").unlink()
    assert outcome(fx, "D330") == ("pass", [])  # yq: length of "ab" is 2; false is printed, not null


def test_d330_contract_rules(fx: OpsFixture) -> None:
    """A null default mode, one mode, or a missing contract fail D330."""
    fx.edit(HORIZON, lambda d: d.update(default_execution_mode=None))
    assert outcome(fx, "D330")[1] == [
        f"{HORIZON}:1 $: contract missing default_execution_mode; set default_execution_mode"
    ]
    fx.edit(HORIZON, lambda d: d.update(execution_modes=["one"]))
    assert outcome(fx, "D330")[1] == [
        f"{HORIZON}:1 $.execution_modes: contract must declare at least 2 execution_modes (found 1); list the execution modes"
    ]
    (fx.root / HORIZON).unlink()
    assert outcome(fx, "D330")[1] == [f"{HORIZON}: missing contract: {HORIZON}; restore {HORIZON}"]


def test_d347_literals(fx: OpsFixture) -> None:
    """A prohibited literal in spine-init fails (one finding per literal); one starting with '-' is searched too."""
    fx.script("ops/plugins/session/bin/spine-init", f'cd {WORKBENCH}/x\necho "-Xflag"')
    fx.edit(
        "ops/bindings/runtime.bootstrap.contract.yaml",
        lambda d: d["path_abstraction_policy"]["prohibited_literals_for_new_runtime_writes"].extend(["-Xflag", None]),
    )
    assert outcome(fx, "D347") == (
        "fail",
        [
            "ops/plugins/session/bin/spine-init:2: literal detected in bootstrap entrypoints: /Users/ronnyworks/code/workbench"
            " (ops/plugins/session/bin/spine-init:2); resolve the path at run time instead",
            "ops/plugins/session/bin/spine-init:3: literal detected in bootstrap entrypoints: -Xflag"
            " (ops/plugins/session/bin/spine-init:3); resolve the path at run time instead",
        ],
    )
    fx.yaml("ops/bindings/runtime.bootstrap.contract.yaml", {"path_abstraction_policy": {}})
    assert outcome(fx, "D347")[1] == [
        "ops/bindings/runtime.bootstrap.contract.yaml:1 $.path_abstraction_policy: contract missing prohibited path"
        " literals list; list prohibited_literals_for_new_runtime_writes"
    ]


def test_d348_false_under_alternative_is_a_doctor_failure(fx: OpsFixture) -> None:
    """`slash_commands: false` is missing under yq's //: spine-doctor exits 1, so D348 is a gate bug naming it."""
    fx.edit(TENANT, lambda d: d["surfaces"].update(slash_commands=False))
    assert outcome(fx, "D348") == (
        "gate_bug",
        [
            "helper ops/plugins/session/bin/spine-doctor --json would exit 1, so D348 prints no verdict",
            f"{TENANT}:17 $.surfaces.slash_commands: spine-doctor: tenant profile validation failed: surfaces.slash_commands"
            " is required (yq's // reads false as missing); fix the tenant profile",
        ],
    )


def test_d348_spine_init_preconditions(fx: OpsFixture) -> None:
    """An invalid environment name or a partial bootstrap state stops spine-init: a gate bug naming spine-init."""
    fx.yaml(".environment.yaml", {"environment": {"name": "Spine Lab", "tier": "lab"}})
    status, [detail, finding] = outcome(fx, "D348")
    assert (status, detail) == (
        "gate_bug",
        "helper ops/plugins/session/bin/spine-init --dry-run would exit non-zero, so D348 prints no verdict",
    )
    assert finding.startswith(".environment.yaml: spine-init: resolved environment name is invalid: Spine Lab")
    fx.yaml(".environment.yaml", {"environment": {"name": "spine-lab", "tier": "lab"}})
    (fx.root / ".identity.yaml").unlink()
    status, [_, finding] = outcome(fx, "D348")
    assert finding.startswith(".environment.yaml: spine-init: partial bootstrap state detected")
