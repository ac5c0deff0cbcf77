"""Issue 11: the ops repository's inline gates ported natively, and D55's scan of the repository's own scripts.

The checks run on ops-shaped repositories built by `tests/ops_repo.py`; each test breaks one thing and
asserts the exact finding.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from infracore_verify.contracts.model import Gate, Registry
from infracore_verify.contracts.sets import BUNDLED_CONTRACTS, Contracts
from infracore_verify.contracts.verdict import NotApplicableError, Verdict
from infracore_verify.gates.checks import ops_inline
from infracore_verify.gates.checks.base import ContractView
from infracore_verify.gates.checks.ops_inline import INLINE
from infracore_verify.gates.checks.secrets_scan import check_no_secret_output, scan_shell
from infracore_verify.gates.classify import Classifier
from infracore_verify.gates.engine import Engine, native_for
from tests.ops_repo import INLINE_IDS, make_ops_repo


@pytest.fixture
def ops(tmp_path: Path) -> Path:
    """Returns a fresh ops-shaped repository on which every inline gate passes."""
    return make_ops_repo(tmp_path / "spine")


def findings(root: Path, gate_id: str) -> list[str]:
    """Runs one inline port on the repository and returns its rendered findings (paths relative to its parent)."""
    view = ContractView(Contracts.open(root, root.parent), ())
    return [f"{f.severity}: {f.render()}" for f in INLINE[gate_id].func(view)]


@pytest.mark.parametrize("gate_id", [g for g in INLINE_IDS if g not in ("D4", "D11")])
def test_inline_gate_passes_on_a_clean_tree(ops: Path, gate_id: str) -> None:
    """Passes every tree check of drift-gate.sh on a repository laid out the ops way."""
    assert findings(ops, gate_id) == []


BREAKS = [
    ("D1", lambda r: (r / "reports").mkdir(), "error: spine: top-level directories not allowed: reports; "
     "move them below one of bin, docs, fixtures, infra, mailroom, ops, receipts, surfaces or remove them"),
    ("D2", lambda r: (r / "runs").mkdir(), "error: spine/runs: a runs/ directory exists at the repository root; remove it"),
    ("D5", lambda r: (r / "bin" / "old").write_text("# ~/agent is fine in a comment\ncd ~/agent/inbox\n"),
     "error: spine/bin/old:2: legacy coupling: names '~/agent'; use the spine's own paths (SPINE_ROOT / mailroom) "
     "instead of the legacy home directory"),
    ("D6", lambda r: (r / "receipts" / "sessions" / "SES-6" / "receipt.md").unlink(),
     "error: spine/receipts/sessions/SES-6: session has no receipt.md; write the session's receipt.md"),
    ("D7", lambda r: (r / "fixtures").mkdir() or (r / "fixtures" / "run.sh").write_text("echo\n"),
     "error: spine/fixtures/run.sh: shell script outside bin/, ops/ and surfaces/verify/; move it there or remove it"),
    ("D8", lambda r: (r / "ops" / "capabilities.yaml.bak").write_text("x\n"),
     "error: spine/ops/capabilities.yaml.bak: backup file clutter; delete it (git keeps the history)"),
    ("D9", lambda r: (r / "receipts" / "sessions" / "SES-6" / "receipt.md").write_text("Run ID: 6\nStatus: ok\n"),
     "error: spine/receipts/sessions/SES-6/receipt.md: receipt lacks Generated, Model, Inputs, Outputs; "
     "write every stamp: Run ID, Generated, Status, Model, Inputs, Outputs"),
    ("D10", lambda r: (r / "logs").mkdir(),
     "error: spine/logs: a logs/ directory exists at the repository root; move it to mailroom/logs/"),
    ("D12", lambda r: (r / "docs" / "core" / "CORE_LOCK.md").unlink(),
     "error: spine/docs/core/CORE_LOCK.md: docs/core/CORE_LOCK.md is missing; restore the core lock document"),
]  # fmt: skip


@pytest.mark.parametrize(("gate_id", "brk", "expected"), BREAKS, ids=[b[0] for b in BREAKS])
def test_inline_gate_names_what_is_wrong(ops: Path, gate_id: str, brk: object, expected: str) -> None:
    """Fails each tree check with the file (and line) and the fix, as drift-gate.sh's check would fail."""
    brk(ops)  # type: ignore[operator]
    if gate_id == "D9":  # the newest receipt is the one that lost its stamps
        os.utime(ops / "receipts" / "sessions" / "SES-6" / "receipt.md", (1_900_000_000, 1_900_000_000))
    assert findings(ops, gate_id) == [expected]


def test_d5_ignores_agentic_spine_paths_and_the_drift_gates(ops: Path) -> None:
    """Does not count `~/agentic-spine` as the legacy home, nor lines inside the drift gates themselves."""
    (ops / "bin" / "ok").write_text("cd ~/agentic-spine\n")
    (ops / "surfaces" / "verify" / "d20-legacy-drift.sh").write_text('ls "$HOME/agent"\n')
    assert findings(ops, "D5") == []


def test_d9_only_warns_when_there_is_no_receipt(ops: Path) -> None:
    """Warns (never fails) when no session has a receipt at all, as the ops repository's D9 does."""
    for receipt in (ops / "receipts" / "sessions").glob("*/receipt.md"):
        receipt.unlink()
    assert findings(ops, "D9") == [
        "warning: spine/receipts/sessions: no session receipt at all; "
        "run a session that writes receipts/sessions/<id>/receipt.md"
    ]


def test_d4_is_not_applicable_without_launchd(ops: Path) -> None:
    """Says D4 is not applicable on a host without launchd, and why."""
    if sys.platform == "darwin":
        pytest.skip("this host has launchd")
    with pytest.raises(NotApplicableError, match=r"launchd service com\.ronny\.agent-inbox; this host \(linux\)"):
        findings(ops, "D4")


def test_d4_warns_when_the_watcher_is_not_loaded(ops: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Warns, never fails, when launchctl does not know the inbox watcher (a stand-in launchctl on PATH)."""
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "launchctl").write_text("#!/bin/sh\necho 'Could not find service' >&2\nexit 113\n")
    (tools / "launchctl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(ops_inline, "HOST_PLATFORM", "darwin")
    [finding] = findings(ops, "D4")
    assert finding.startswith("warning: ")
    assert "launchd service com.ronny.agent-inbox is not loaded" in finding


def test_d11_is_not_applicable_off_the_operators_home(ops: Path) -> None:
    """Says D11 is not applicable when the repository is not in this user's home (not the operator's host)."""
    with pytest.raises(NotApplicableError, match=r"is not in this user's home"):
        findings(ops, "D11")


def test_d11_checks_the_home_symlink_on_the_operators_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Passes without ~/agent or with a symlink into agentic-spine/mailroom; fails on a plain directory."""
    home = tmp_path / "home"
    root = make_ops_repo(home / "code" / "agentic-spine")
    monkeypatch.setenv("HOME", str(home))
    assert findings(root, "D11") == []
    (home / "agent").symlink_to(root / "mailroom")
    assert findings(root, "D11") == []
    (home / "agent").unlink()
    (home / "agent").mkdir()
    assert findings(root, "D11") == [
        f"error: {home / 'agent'}: ~/agent exists and is not a symlink; replace it with a symlink to mailroom"
    ]


def test_inline_ports_apply_only_to_inline_entries() -> None:
    """Runs the D10 port for an inline D10, never for another registry's non-inline gate of the same id."""
    assert native_for(Gate("D10", "inline-check", inline=True)) is INLINE["D10"]
    assert native_for(Gate("D10", "infra-gate")) is None


def test_engine_reports_not_applicable_as_its_own_verdict(ops: Path) -> None:
    """Gives D4 and D11 the verdict not-applicable with the reason, not a pass and not a bare skip."""
    contracts = Contracts.open(ops, ops.parent)
    registry = Registry.from_doc(contracts.doc("registry"))
    engine = Engine(contracts, registry, Classifier.from_doc(contracts.doc("classification")), {})
    result = engine.run(registry.by_id["D11"])
    assert result.verdict == Verdict.NOT_APPLICABLE
    assert result.headline().startswith("D11 NOT APPLICABLE: D11 checks the operator's ~/agent")


# --- D55: the secret-output scan follows the contracts -------------------------------------------------


LEAKY_SHELL = """#!/usr/bin/env bash
# echo "$INFISICAL_TOKEN" in a comment is fine
echo "token is $INFISICAL_TOKEN"
printf '%s' "$INFISICAL_TOKEN" | secrets-exec login
TOKEN_FILE=/tmp/x; echo "$TOKEN_FILE"
value=$(echo "$CLIENT_SECRET" | base64)
echo "$ACCESS_TOKEN" > "$out"
echo "Authorization: Bearer $header" >&2
printenv
env | sort
curl -sv https://<infisical-url>/api/status
curl -s https://<infisical-url>/api/status
"""


def test_shell_scan_names_each_line_that_prints_a_secret(tmp_path: Path) -> None:
    """Flags echo of secret variables or headers, env dumps and verbose curl; not pipes, captures or files."""
    path = tmp_path / "leak.sh"
    path.write_text(LEAKY_SHELL)
    fix = "print a masked form or nothing; hand a secret to the command that needs it (printf '%s' \"$X\" | cmd)"
    assert [f.render() for f in scan_shell(path, "ops/leak.sh")] == [
        f"ops/leak.sh:3: echo writes the secret-looking variable '$INFISICAL_TOKEN'; {fix}",
        f"ops/leak.sh:8: echo writes 'Authorization'; {fix}",
        f"ops/leak.sh:9: dumps the whole environment (printenv / env | / set |); {fix}",
        f"ops/leak.sh:10: dumps the whole environment (printenv / env | / set |); {fix}",
        f"ops/leak.sh:11: verbose curl (-sv) prints request headers, tokens included; {fix}",
    ]


def test_d55_scans_the_ops_repository_scripts_not_the_suite(ops: Path) -> None:
    """Scans the repository's shell and Python scripts, naming file and line; finds nothing on a clean one."""
    view = ContractView(Contracts.open(ops, ops.parent), ())
    assert [f.render() for f in check_no_secret_output(view)] == []
    (ops / "ops" / "plugins" / "secrets" / "bin" / "secrets-show").write_text(
        '#!/bin/bash\nset -euo pipefail\necho "$INFISICAL_CLIENT_SECRET"\n'
    )
    (ops / "surfaces" / "verify" / "helper.py").write_text("api_token = 'x'\nprint(api_token)\n")
    (ops / "docs" / "example.sh").write_text('echo "$API_TOKEN"\n')  # docs hold no scripts of the repository
    rendered = [f.render().split(";")[0] for f in check_no_secret_output(view)]
    assert rendered == [
        "spine/ops/plugins/secrets/bin/secrets-show:3: echo writes the secret-looking variable '$INFISICAL_CLIENT_SECRET'",
        "spine/surfaces/verify/helper.py:2: print call writes the secret-looking value 'api_token'",
    ]


def test_d55_scans_the_suite_code_for_the_shipped_contracts() -> None:
    """Keeps scanning the suite's own package when the contracts are the shipped ones (suite layout)."""
    from infracore_verify.gates.checks.secrets_scan import scanned_files

    view = ContractView(Contracts.open(BUNDLED_CONTRACTS), ())
    assert list(check_no_secret_output(view)) == []
    assert "infracore_verify/gates/checks/secrets_scan.py" in {display for _, display in scanned_files()}
