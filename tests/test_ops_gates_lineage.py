"""Ported ops gates D338, D339 and D340 (intake lineage) on an ops-shaped fixture."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from infracore_verify.gates.checks.ops_common import HOST_ROOT_ENV
from tests.ops_fixture import OpsFixture, build, outcome

LIFE = "ops/bindings/intake.lifecycle.contract.yaml"
MASTER = "ops/bindings/master.inventory.registry.yaml"
PROJ = "ops/bindings/domain.projection.contract.yaml"


@pytest.fixture
def fx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> OpsFixture:
    """Returns a fresh ops-shaped fixture."""
    fixture = build(tmp_path)
    monkeypatch.setenv(HOST_ROOT_ENV, str(fixture.host))
    return fixture


def test_d338_coverage_and_projection_links(fx: OpsFixture) -> None:
    """Coverage must equal the topology's domains; a row's projection must list the row back."""
    fx.edit(LIFE, lambda d: d["domain_coverage"]["applies_to_domain_ids"].append("ghost"))
    fx.edit(PROJ, lambda d: d["projections"][0].update(source_master_rows=["other-row"]))
    status, findings = outcome(fx, "D338")
    assert status == "fail"
    assert [f.split(": ", 1)[1] for f in findings] == [
        "domain coverage has unknown domains: ['ghost']; remove them or define them in the topology",
        "infra-core-services: projection infra-services does not list this row in source_master_rows; add the row to it",
        "infra-services: unknown source master row: other-row; fix the row id",
    ]


def test_d338_invalid_yaml_and_missing_file(fx: OpsFixture) -> None:
    """A file that is not a mapping, or missing, fails first."""
    fx.write(MASTER, "- just a list\n")
    assert outcome(fx, "D338")[1] == [
        f"{MASTER}:1 $: {fx.root / MASTER}: YAML root must be a mapping; make the top level a mapping"
    ]
    (fx.root / MASTER).unlink()
    assert outcome(fx, "D338")[1] == [f"{MASTER}: missing required file: {fx.root / MASTER}; restore {MASTER}"]


def test_d339_generated_only_string_false_and_markers(fx: OpsFixture) -> None:
    """`generated_only: "false"` fails (bool() fixed); markers compare str(value) with str(equals), dates as PyYAML types."""
    when = dt.date(2026, 3, 5)
    fx.edit(PROJ, lambda d: d["projections"][0].update(generated_only="false"))
    fx.edit(PROJ, lambda d: d["projections"][0]["required_markers"].append({"key": "as_of", "equals": when}))
    fx.write(
        "ops/bindings/generated/infra.services.yaml",
        "# GENERATED - do not edit\ngenerated_by: x\nsource: master.inventory.registry\nas_of: 2026-03-05\n",
    )
    assert [f.split(": ", 1)[1] for f in outcome(fx, "D339")[1]] == [
        "infra-services: generated_only must be true; set generated_only: true"
    ]
    fx.edit(PROJ, lambda d: d["projections"][0].update(generated_only=True))
    fx.write(
        "ops/bindings/generated/infra.services.yaml",
        "generated_by: ''\nsource: master.inventory.registry\nas_of: 2026-03-06\n",
    )
    out = "ops/bindings/generated/infra.services.yaml"
    assert [f.split(": ", 1)[1] for f in outcome(fx, "D339")[1]] == [
        f"infra-services: {out} missing required comment marker: GENERATED - do not edit; regenerate the output",
        f"infra-services: {out} missing required marker: generated_by; regenerate the output",
        f"infra-services: {out} marker as_of expected '2026-03-05', got '2026-03-06'; regenerate the output",
    ]


def test_d340_evidence_and_intake(fx: OpsFixture) -> None:
    """Evidence must include an existing concrete ops/ or docs/ path; intake refs must be non-blank strings."""
    fx.edit(
        MASTER,
        lambda d: d["rows"][0].update(
            evidence_refs=["docs/missing.md", "receipts/x"], intake_lineage={"accepted_intake_refs": [" "]}
        ),
    )
    assert [f.split(": ", 1)[1] for f in outcome(fx, "D340")[1]] == [
        "infra-core-services: orphan row missing intake_lineage.accepted_intake_refs; complete the row's lineage",
        "infra-core-services: evidence path does not exist: docs/missing.md; complete the row's lineage",
        "infra-core-services: evidence_refs must include at least one concrete local ops/ or docs/ path; complete the row's lineage",
    ]
    fx.edit(
        MASTER,
        lambda d: d["rows"][0].update(
            evidence_refs=[], intake_lineage={"accepted_intake_refs": ["I"], "evidence_required": True}
        ),
    )
    assert [f.split(": ", 1)[1] for f in outcome(fx, "D340")[1]] == [
        "infra-core-services: evidence_required=true but evidence_refs is empty; complete the row's lineage"
    ]
