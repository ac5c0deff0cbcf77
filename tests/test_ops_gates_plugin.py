"""The ops fast profile end to end: no yq/rg/jq needed, a Debian yq never fails a ported gate, script gates' tools."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from infracore_verify.gates.checks.ops_common import HOST_ROOT_ENV
from infracore_verify.gates.scripts import missing_tools, tool_problem, tools_needed
from tests.conftest import gates_project
from tests.ops_fixture import FAST, OpsFixture, build

DEBIAN_YQ = "yq 3.1.0"
"""What kislyuk's jq-based yq (Debian and Ubuntu's `yq` package) prints for --version."""


def _bin(directory: Path, yq_version: str | None = None) -> Path:
    """Return a PATH directory with bash, git, env and sh only (no yq, rg or jq), plus a stub yq if asked."""
    directory.mkdir()
    for tool in ("bash", "git", "env", "sh", "cat"):
        found = shutil.which(tool)
        assert found is not None, tool
        (directory / tool).symlink_to(found)
    if yq_version is not None:
        stub = directory / "yq"
        stub.write_text(f'#!/bin/sh\necho "{yq_version}"\nexit 0\n')
        stub.chmod(0o755)
    return directory


def _script_gates(fx: OpsFixture) -> None:
    """Add two remaining script gates that call yq (and one that calls nothing), outside the fast set."""
    reg = fx.load("ops/bindings/gate.registry.yaml")
    topo = fx.load("ops/bindings/gate.execution.topology.yaml")
    for gate_id, body in (
        ("D700", "yq e '.a' x.yaml"),
        ("D701", "out=$(yq -o=json '.' x.yaml | jq .)"),
        ("D702", "true"),
    ):
        rel = f"surfaces/verify/{gate_id.lower()}.sh"
        fx.script(rel, f"# TRIAGE: fix it\n# rg in a comment is not a use\n{body}\necho '{gate_id} PASS: ok'")
        reg["gates"].append(
            {"id": gate_id, "name": f"script-{gate_id.lower()}-lock", "category": "x", "gate_class": "invariant",
             "severity": "medium", "ring": "standard", "description": "A script gate", "check_script": rel}
        )  # fmt: skip
        topo["gate_assignments"].append({"gate_id": gate_id, "primary_domain": "verify", "secondary_domains": []})
    reg["gate_count"] = {"total": len(reg["gates"]), "active": len(reg["gates"]) - 1, "retired": 1}
    fx.yaml("ops/bindings/gate.registry.yaml", reg)
    fx.yaml("ops/bindings/gate.execution.topology.yaml", topo)


@pytest.fixture
def fx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> OpsFixture:
    """Returns the ops-shaped fixture with its host root set in the environment."""
    fixture = build(tmp_path / "fixture")
    monkeypatch.setenv(HOST_ROOT_ENV, str(fixture.host))
    return fixture


def _receipt(pytester: pytest.Pytester) -> dict[str, Any]:
    [path] = (pytester.path / "reports" / "receipts").glob("*.json")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_fast_profile_without_yq_rg_jq(
    pytester: pytest.Pytester, fx: OpsFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With no yq, rg or jq on PATH the 20 fast gates run natively and pass, in the fast order."""
    monkeypatch.setenv("PATH", str(_bin(tmp_path / "bin")))
    suite = gates_project(pytester)
    result = suite.runpytest_subprocess(f"--contracts={fx.root}", "-m", "fast", "-v", timeout=120)
    result.assert_outcomes(passed=len(FAST))
    rows = {g["id"]: g for g in _receipt(suite)["gates"]}
    assert sorted(rows) == sorted(FAST)
    assert {r["implementation"] for r in rows.values()} == {"native"}


def test_fast_profile_verdicts_without_tools_follow_the_data(
    pytester: pytest.Pytester, fx: OpsFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without the tools, a broken repository still gets its findings (D330, D153), not a tool failure."""
    monkeypatch.setenv("PATH", str(_bin(tmp_path / "bin")))
    fx.write("mailroom/state/loop-scopes/LOOP-9.scope.md", "---\nstatus: open\n---\n")
    (fx.host / "Users/ronnyworks/code/media-agent/.spine-link.yaml").unlink()
    suite = gates_project(pytester)
    result = suite.runpytest_subprocess(f"--contracts={fx.root}", "-m", "fast", timeout=120)
    result.assert_outcomes(passed=len(FAST) - 2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "D153 FAIL: 1 finding(s) ?deterministic?",
            "*media-agent: missing attach file: /Users/ronnyworks/code/media-agent/.spine-link.yaml*",
            "D330 FAIL: 1 finding(s) ?deterministic?",
            "*failure_class: deterministic=2 freshness=0 gate_bug=0*",
        ]
    )


def test_debian_yq_fails_only_the_script_gates_that_need_yq(
    pytester: pytest.Pytester, fx: OpsFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With Debian's yq, the fast gates pass; script gates calling yq fail as gate bugs naming the tool, once each."""
    monkeypatch.setenv("PATH", str(_bin(tmp_path / "bin", DEBIAN_YQ)))
    _script_gates(fx)
    suite = gates_project(pytester)
    suite.runpytest_subprocess(f"--contracts={fx.root}", "-m", "fast", timeout=120).assert_outcomes(passed=len(FAST))
    shutil.rmtree(suite.path / "reports")
    result = suite.runpytest_subprocess(f"--contracts={fx.root}", "--gate", "D700,D701,D702", timeout=120)
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            f"D700 FAIL: tool yq missing or incompatible (found: {DEBIAN_YQ}); install mikefarah yq v4 ?gate_bug?",
            f"D701 FAIL: tool yq missing or incompatible (found: {DEBIAN_YQ}); install mikefarah yq v4;"
            " tool jq missing or incompatible (found: none); install jq ?gate_bug?",
            "*failure_class: deterministic=0 freshness=0 gate_bug=2*",
            f"gate_bug: tool yq missing or incompatible (found: {DEBIAN_YQ}): D700 D701",
            "gate_bug: tool jq missing or incompatible (found: none): D701",
        ]
    )
    assert result.stdout.str().count("gate_bug: tool yq") == 1
    assert "script output" not in result.stdout.str()  # the scripts never ran


def test_tools_needed_reads_code_not_comments(tmp_path: Path) -> None:
    """A tool named in a comment, or inside a longer word, is not a use; a command word is."""
    script = tmp_path / "s.sh"
    script.write_text("#!/bin/bash\n# needs yq and rg\nmyyq=1 rg_x=2\nyq e . f | jq -r .a\n")
    assert tools_needed(tmp_path, "s.sh") == ("yq", "jq")


def test_tool_probe_accepts_mikefarah_v4(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A yq printing mikefarah's v4 banner passes; v3 of the same tool does not."""
    bin_dir = _bin(tmp_path / "bin", "yq (https://github.com/mikefarah/yq/) version v4.44.3")
    for tool in ("rg", "jq"):
        (bin_dir / tool).write_text("#!/bin/sh\necho ok\n")
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    (tmp_path / "g.sh").write_text("yq e . x | jq . | rg x\n")
    assert tool_problem(tmp_path, "g.sh") is None
    (bin_dir / "yq").write_text('#!/bin/sh\necho "yq (https://github.com/mikefarah/yq/) version 3.4.1"\n')
    os.utime(bin_dir / "yq", ns=(1, 1))  # a new executable version is probed again
    assert tool_problem(tmp_path, "g.sh") == (
        "tool yq missing or incompatible (found: yq (https://github.com/mikefarah/yq/) version 3.4.1); install mikefarah yq v4"
    )
    assert missing_tools([("D9", f"D9 FAIL: {tool_problem(tmp_path, 'g.sh')} [gate_bug]")]) == {
        "yq": ("yq (https://github.com/mikefarah/yq/) version 3.4.1", ["D9"])
    }


def test_shipped_registry_has_no_ops_port(fx: OpsFixture) -> None:
    """The embedded default lists none of the ported ids as active (D3 is a retired reserved slot)."""
    from infracore_verify.contracts.sets import BUNDLED_CONTRACTS
    from tests.ops_fixture import PORTED

    gates = yaml.safe_load((BUNDLED_CONTRACTS / "gate.registry.yaml").read_text())["gates"]
    assert [g["id"] for g in gates if g["id"] in PORTED and not g.get("retired")] == []
