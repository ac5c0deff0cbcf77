"""Issue 11 item 2: ported gates give the ops verdict on real shapes; the suite's own gates report the rest.

Each test builds an ops-shaped repository (`tests/ops_repo.py`) with the real repository's shapes
(`tests/ops_shapes.py`: a repeated capability, `plugin: ~`, real gap types and ids) and runs gates through
the engine as the plugin does.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from infracore_verify.contracts.model import Registry
from infracore_verify.contracts.sets import Contracts
from infracore_verify.gates.checks.suite_gates import suite_catalog, with_suite_gates
from infracore_verify.reporting.waivers import WaiverBook
from tests.ops_repo import make_ops_repo
from tests.ops_shapes import real_shapes
from tests.test_checks import run_gate

CAPS = "ops/capabilities.yaml"
CAPMAP = "ops/bindings/capability_map.yaml"
GAPS = "ops/bindings/operational.gaps.yaml"
REGISTRY = "ops/bindings/gate.registry.yaml"


@pytest.fixture
def ops(tmp_path: Path) -> Path:
    """Returns an ops-shaped repository with the real shapes, without any suite gate in its registry."""
    return real_shapes(make_ops_repo(tmp_path / "spine"))


def _open(root: Path) -> Contracts:
    return Contracts.open(root, root)


def _line(root: Path, rel: str, text: str, nth: int = 1) -> int:
    """Return the line number of the nth line of a file that starts with `text` (after indentation)."""
    hits = [i for i, line in enumerate((root / rel).read_text().splitlines(), 1) if line.strip().startswith(text)]
    return hits[nth - 1]


@pytest.mark.parametrize("gate_id", ["D63", "D67", "D85", "D127"])
def test_ported_gates_pass_on_the_real_shapes(ops: Path, gate_id: str) -> None:
    """Passes D63, D67, D85 and D127 on a repeated capability, `plugin: ~` and the real gaps, as the ops gates do."""
    result = run_gate(_open(ops), gate_id)
    assert result.verdict == "pass", result.message()


def test_the_files_load_for_the_ported_gates_and_the_waivers(ops: Path) -> None:
    """Loads every contract (the last copy of a repeated key wins); the gaps file keeps the waivers on."""
    contracts = _open(ops)
    for name in ("capabilities", "capability_map", "gaps"):
        assert contracts.doc(name).errors == [], name
    caps = contracts.doc("capabilities").data["capabilities"]
    assert caps["coordinator.lane.closeout"]["safety"] == "read-only"
    assert contracts.doc("capability_map").data["capabilities"]["infra.docker_ps"]["plugin"] is None
    assert WaiverBook.from_doc(contracts.doc("gaps")).disabled == ()
    assert run_gate(contracts, "D900").verdict == "pass"


def test_suite_layout_still_refuses_a_repeated_key(ops: Path, contracts_dir: Path) -> None:
    """Keeps the suite's own contract set strict: a repeated key there is a load failure, not a tolerated repeat."""
    (contracts_dir / "capabilities.yaml").write_text((ops / CAPS).read_text())
    doc = Contracts.open(contracts_dir, contracts_dir.parent).doc("capabilities")
    assert [f.message for f in doc.errors] == [
        f"duplicate key 'coordinator.lane.closeout' (first defined on line {_line(ops, CAPS, 'coordinator.lane')})"
    ]


def test_d908_lists_every_repeated_key(ops: Path) -> None:
    """Reports each repeated key with all its lines, at the copy that hides the first, in every file."""
    result = run_gate(_open(ops), "D908")
    assert result.verdict == "fail"
    caps = [_line(ops, CAPS, "coordinator.lane.closeout:", n) for n in (1, 2)]
    cmap = [_line(ops, CAPMAP, "coordinator.lane.closeout:", n) for n in (1, 2)]
    tail = "; merge the entries into one and delete the rest"
    assert [f.render() for f in result.findings] == [
        f"{CAPS}:{caps[1]} $.capabilities['coordinator.lane.closeout']: key 'coordinator.lane.closeout' is defined "
        f"2 times (lines {caps[0]}, {caps[1]}); yq, the ops gates and the suite read only the last (line {caps[1]}), "
        f"the others are silently ignored{tail}",
        f"{CAPMAP}:{cmap[1]} $.capabilities['coordinator.lane.closeout']: key 'coordinator.lane.closeout' is "
        f"defined 2 times (lines {cmap[0]}, {cmap[1]}); yq, the ops gates and the suite read only the last "
        f"(line {cmap[1]}), the others are silently ignored{tail}",
    ]


def test_d910_names_the_gap_style_the_spec_asks_for(ops: Path) -> None:
    """Reports the unlisted gap type, the GAP-PEK id and the missing discovered_at, each with its fix."""
    result = run_gate(_open(ops), "D910")
    gaps = yaml.safe_load((ops / GAPS).read_text())["gaps"]
    index = {g["id"]: i for i, g in enumerate(gaps)}
    process, pek = index["GAP-OP-1400"], index["GAP-PEK-001"]
    assert [(f.path, f.message, f.fix) for f in result.findings] == [
        (
            f"$.gaps[{process}].type",
            "gap 'GAP-OP-1400' has type 'missing-process', which the specification does not list "
            "(did you mean 'missing-entry'?)",
            "use one of: stale-ssot, missing-entry, agent-behavior, unclear-doc, duplicate-truth, runtime-bug; "
            "or add it to the type values of ops/bindings/gap.schema.yaml and the specification",
        ),
        (
            f"$.gaps[{pek}].id",
            "gap id 'GAP-PEK-001' is not of the form GAP-OP-<n>",
            "file it as the next GAP-OP-<n> (keep the old id in notes); the ops tools accept it as it is",
        ),
        (
            f"$.gaps[{pek}]",
            "gap 'GAP-PEK-001' has no discovered_at",
            "add discovered_at: YYYY-MM-DD (created_at says 2026-02-24)",
        ),
    ]


def test_d903_keeps_the_missing_regression_lock(ops: Path) -> None:
    """Reports the fixed high gap without regression_lock_id in the suite's D903, not as a schema failure."""
    messages = [f.message for f in run_gate(_open(ops), "D903").findings]
    assert "fixed high gap 'GAP-OP-1401' has no regression_lock_id" in messages


def test_d909_takes_what_d67_no_longer_checks(ops: Path) -> None:
    """Moves the plugin-script existence check out of D67: D67 passes, D909 names the missing script."""
    (ops / "ops" / "plugins" / "ops" / "bin" / "coordinator-lane-closeout").unlink()
    (ops / CAPS).write_text((ops / CAPS).read_text().replace("./ops/plugins/ops/bin/coordinator-lane-closeout", "true"))
    text = (ops / CAPMAP).read_text()
    (ops / CAPMAP).write_text(
        text.replace(
            "    script: ~\n    safety: read-only\n    note", "    script: docker\n    safety: read-only\n    note", 1
        )
    )
    contracts = _open(ops)
    assert run_gate(contracts, "D67").verdict == "pass"
    line = _line(ops, CAPMAP, "coordinator.lane.closeout:", 2)
    assert [f.render() for f in run_gate(contracts, "D909").findings] == [
        f"{CAPMAP}:{line} $.capabilities['coordinator.lane.closeout']: 'coordinator.lane.closeout' maps to plugin "
        "'ops' script 'coordinator-lane-closeout', but neither ops/plugins/ops/bin/coordinator-lane-closeout nor "
        "ops/plugins/ops/coordinator-lane-closeout exists; fix plugin/script in capability_map.yaml, or add the script",
        f"{CAPMAP}:{_line(ops, CAPMAP, 'infra.docker_ps:')} $.capabilities['infra.docker_ps']: 'infra.docker_ps' has "
        "a script but plugin: ~; set plugin, or set both plugin and script to ~ for a capability without a plugin "
        "script",
    ]


def test_d85_gives_the_ops_verdict_for_natively_ported_gates(ops: Path) -> None:
    """Fails D85 when a gate the suite runs natively (D63, D3...) has no check_script, as the ops D85 does."""
    registry = yaml.safe_load((ops / REGISTRY).read_text())
    [entry] = [g for g in registry["gates"] if g["id"] == "D63"]
    del entry["check_script"]
    (ops / REGISTRY).write_text(yaml.safe_dump(registry, sort_keys=False))
    result = run_gate(_open(ops), "D85")
    assert [f.message for f in result.findings] == [
        "active gate 'D63' has no check_script (the ops runner fails it as a gate bug)"
    ]


def test_the_registry_view_gets_the_static_suite_gates(ops: Path) -> None:
    """Adds D900-D906 and D908-D910 (not the live D907) to a registry without them, leaving the file's view alone."""
    contracts = _open(ops)
    registry = Registry.from_doc(contracts.doc("registry"))
    view, added = with_suite_gates(registry)
    expected = ("D900", "D901", "D902", "D903", "D904", "D905", "D906", "D908", "D909", "D910")
    assert added == expected == tuple(g.id for g in suite_catalog())
    assert all(g in view.by_id for g in expected)
    assert not any(g in registry.by_id for g in expected)
    assert with_suite_gates(view) == (view, ())
