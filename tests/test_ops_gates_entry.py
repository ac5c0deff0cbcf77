"""Ported ops gates D3 and D126 on an ops-shaped fixture: verdicts and exact findings, quirks included."""

from __future__ import annotations

from pathlib import Path

import pytest

from infracore_verify.gates.checks.ops_common import HOST_ROOT_ENV
from tests.ops_fixture import PORTED, WORKBENCH, OpsFixture, build, outcome

CAPS = "ops/capabilities.yaml"


@pytest.fixture
def fx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> OpsFixture:
    """Returns a fresh ops-shaped fixture whose operator host lives below tmp_path (never the real home)."""
    fixture = build(tmp_path)
    monkeypatch.setenv(HOST_ROOT_ENV, str(fixture.host))
    monkeypatch.delenv("CAPABILITIES_FILE", raising=False)
    monkeypatch.delenv("FABRIC_BOUNDARY_FILE", raising=False)
    return fixture


@pytest.mark.parametrize("gate_id", PORTED)
def test_fixture_passes_every_ported_gate(fx: OpsFixture, gate_id: str) -> None:
    """Each of the 17 ported gates passes on the fixture built from the specification."""
    assert outcome(fx, gate_id) == ("pass", [])


def test_d3_missing_executable(fx: OpsFixture) -> None:
    """D3 fails first on a bin/ops that is not executable, naming it."""
    (fx.root / "bin/ops").chmod(0o644)
    assert outcome(fx, "D3") == (
        "fail",
        [f"bin/ops: missing executable bin/ops at {fx.root}/bin/ops; restore bin/ops and make it executable"],
    )


def test_d3_null_capabilities_list_empty(fx: OpsFixture) -> None:
    """D3 passes when capabilities is null (yq lists nothing) and fails when it is a scalar."""
    fx.write(CAPS, "version: '1'\ncapabilities: ~\n")
    assert outcome(fx, "D3") == ("pass", [])
    fx.write(CAPS, "version: '1'\ncapabilities: none\n")
    assert outcome(fx, "D3") == (
        "fail",
        [
            "ops/capabilities.yaml:2 $.capabilities: bin/ops smoke checks failed (--help/cap list): capabilities is a str,"
            " not a map (yq's to_entries fails); make capabilities a mapping of capability names"
        ],
    )


def test_d3_duplicate_key_lists_every_occurrence(fx: OpsFixture) -> None:
    """A repeated capability is tolerated, but to_entries lists its first occurrence too: a map there fails @tsv."""
    text = "capabilities:\n  a.b: {safety: read-only, description: one}\n  a.b: {safety: read-only, description: two}\n"
    fx.write(CAPS, text)
    assert outcome(fx, "D3") == ("pass", [])
    fx.write(CAPS, text.replace("description: one", "description: {x: 1}"))
    assert outcome(fx, "D3") == (
        "fail",
        [
            "ops/capabilities.yaml:2 $.capabilities['a.b'].description: bin/ops smoke checks failed (--help/cap list):"
            " capability 'a.b' description is a mapping; yq's @tsv cannot list it;"
            " write description as one line of text (quote a value that contains ': ')"
        ],
    )


def _external(fx: OpsFixture, body: str) -> None:
    """Replace the capabilities with domain_external ones given as YAML text."""
    fx.write(CAPS, f"capabilities:\n{body}")


def test_d126_missing_host_path_is_named(fx: OpsFixture) -> None:
    """D126 fails on an implementation path missing on this host, naming the operator's path; passes once it exists."""
    _external(
        fx,
        f"  media.sync: {{plane: domain_external, implementation_repo: {WORKBENCH}, implementation_path: agents/photos}}\n",
    )
    fix = "run ./bin/ops cap run workbench.impl.audit --list"
    assert outcome(fx, "D126") == (
        "fail",
        [
            f"ops/capabilities.yaml:2 $.capabilities['media.sync']: media.sync: implementation path missing on this host:"
            f" {WORKBENCH}/agents/photos; {fix}"
        ],
    )
    (fx.host / WORKBENCH.lstrip("/") / "agents/photos").mkdir(parents=True)
    assert outcome(fx, "D126") == ("pass", [])


def test_d126_false_reads_as_missing_and_empty_domain_shifts_fields(fx: OpsFixture) -> None:
    """`implementation_path: false` is missing under yq's //; an empty domain collapses the tab-split row."""
    (fx.host / WORKBENCH.lstrip("/") / "x").mkdir(parents=True)
    _external(
        fx,
        f"  a.one: {{plane: domain_external, implementation_repo: {WORKBENCH}, implementation_path: false}}\n"
        f"  a.two: {{plane: domain_external, domain: '', implementation_repo: {WORKBENCH}, implementation_path: x}}\n"
        f"  a.three: {{plane: false, implementation_repo: /elsewhere, implementation_path: x}}\n",
    )
    status, findings = outcome(fx, "D126")
    assert status == "fail"
    assert findings == [
        "ops/capabilities.yaml:2 $.capabilities['a.one']: a.one: metadata error: implementation_repo or"
        f" implementation_path is empty (repo={WORKBENCH} path=-); run ./bin/ops cap run workbench.impl.audit --list",
        "ops/capabilities.yaml:3 $.capabilities['a.two']: a.two: metadata error: implementation_repo or"
        " implementation_path is empty (repo=x path=-); run ./bin/ops cap run workbench.impl.audit --list",
    ]


def test_d126_repeated_key_checks_both_occurrences(fx: OpsFixture) -> None:
    """to_entries sees both occurrences of a repeated key: the first's repo error fails, though the last is fine."""
    (fx.host / WORKBENCH.lstrip("/") / "x").mkdir(parents=True)
    row = "  dup.cap: {{plane: domain_external, implementation_repo: {repo}, implementation_path: x}}\n"
    _external(fx, row.format(repo="/Users/ronnyworks/code/workbench2") + row.format(repo=WORKBENCH))
    assert outcome(fx, "D126") == (
        "fail",
        [
            "ops/capabilities.yaml:2 $.capabilities['dup.cap']: dup.cap: repo error: repo=/Users/ronnyworks/code/workbench2"
            f" expected={WORKBENCH}; run ./bin/ops cap run workbench.impl.audit --list"
        ],
    )


def test_d126_non_scalar_field_is_reported_not_swallowed(fx: OpsFixture) -> None:
    """The ops audit's swallowed @tsv error passes D126 silently; the port reports the field (a listed difference)."""
    _external(fx, f"  a.map: {{plane: domain_external, implementation_repo: {WORKBENCH}, implementation_path: [x]}}\n")
    assert outcome(fx, "D126") == (
        "fail",
        [
            "ops/capabilities.yaml:2 $.capabilities['a.map']: a.map: metadata error: implementation_path is a list,"
            " not text; write the field as one line of text"
        ],
    )


def test_d126_canonical_repo_and_audit_preconditions(fx: OpsFixture) -> None:
    """D126 needs the audit helper and a workbench.canonical_repo (false counts as unset)."""
    fx.yaml("ops/bindings/fabric.boundary.contract.yaml", {"workbench": {"canonical_repo": False}})
    assert outcome(fx, "D126") == (
        "fail",
        [
            "ops/bindings/fabric.boundary.contract.yaml:2 $.workbench.canonical_repo: workbench.impl.audit:"
            " workbench.canonical_repo is not set; set workbench.canonical_repo to the workbench checkout's absolute path"
        ],
    )
    (fx.root / "ops/plugins/verify/bin/workbench-impl-audit").unlink()
    status, [finding] = outcome(fx, "D126")
    assert (status, finding.split(": ", 1)[1].split(";")[0]) == (
        "fail",
        f"missing executable: {fx.root}/ops/plugins/verify/bin/workbench-impl-audit",
    )
