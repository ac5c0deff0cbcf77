"""D85 cases that kill mutmut's survivors (issue 8, item 4): a missing gate_count, the ops drift-gate.sh ids.

See bench/MUTATION.md. The registry and scripts are written by the test; findings are compared whole.
"""

from __future__ import annotations

from pathlib import Path

from infracore_verify.contracts.sets import Contracts
from tests.test_checks import check_findings, gate_findings, run_gate, write_contracts
from tests.test_checks_registry import COUNTS, PARITY_REGISTRY, REG, REGISTRY, write_script

DRIFT_GATE = "surfaces/verify/drift-gate.sh"
DRIFT_GATE_TEXT = """\
#!/usr/bin/env bash
set -euo pipefail
echo -n "D85 gate-registry-parity "
echo "unrelated line"
echo -n "D999 unregistered-gate "
echo -n "D500 script-gate "
echo -n "D7777 another-unregistered "
"""
JUNK = b"# a comment saved in Latin-1: caf\xe9\n"
"""drift-gate.sh is read leniently: a byte that is not UTF-8 must not turn D85 into a gate bug."""


def write_drift_gate(path: Path, text: str) -> None:
    """Write drift-gate.sh: the text, then a line that is not valid UTF-8."""
    path.write_bytes(text.encode("utf-8") + JUNK)


OPS_D85_SCRIPT = "checks/d85.sh"
OPS_PARITY_REGISTRY = PARITY_REGISTRY.replace(
    "ring: instant}\n  - {id: D500", f"ring: instant, check_script: {OPS_D85_SCRIPT}}}\n  - {{id: D500"
)
"""The tiny registry as an ops repository writes it: like the ops D85, the suite's D85 wants a check_script for
every gate that is neither retired nor inline (issue 11), D85 included."""


def write_ops_root(root: Path) -> Contracts:
    """Lay out an ops repository root holding only the tiny registry, its scripts and drift-gate.sh."""
    bindings = root / "ops" / "bindings"
    bindings.mkdir(parents=True)
    assert OPS_PARITY_REGISTRY != PARITY_REGISTRY
    (bindings / REGISTRY).write_text(OPS_PARITY_REGISTRY, encoding="utf-8")
    write_script(root)
    d85 = root / OPS_D85_SCRIPT
    d85.write_text("#!/usr/bin/env bash\n# TRIAGE: fix whatever D85 reports\necho 'D85 PASS: ok'\n", encoding="utf-8")
    d85.chmod(0o755)
    drift = root / DRIFT_GATE
    drift.parent.mkdir(parents=True)
    write_drift_gate(drift, DRIFT_GATE_TEXT)
    return Contracts.open(root, root.parent)


def test_d85_check_reports_a_missing_gate_count(contracts_dir: Path) -> None:
    """Without gate_count (which the schema also requires), D85's own check says so at the document and stops."""
    write_contracts(contracts_dir, {REGISTRY: PARITY_REGISTRY.replace(COUNTS + "\n", "")})
    write_script(contracts_dir.parent)
    contracts = Contracts.open(contracts_dir, contracts_dir.parent)
    assert check_findings(contracts, "D85") == [
        f"{REG}:1 $: gate_count is missing; add gate_count: {{total, active, retired}}"
    ]


def test_d85_ops_layout_reports_drift_gate_ids_not_in_the_registry(tmp_path: Path) -> None:
    """In the ops layout, every `echo -n "D<n>` line of drift-gate.sh names a registered gate; others fail D85."""
    contracts = write_ops_root(tmp_path / "ops-repo")
    assert gate_findings(contracts, "D85") == [
        f"ops-repo/{DRIFT_GATE}:5: drift-gate.sh runs 'D999', which is not in the gate registry; "
        "register the gate or remove it from drift-gate.sh",
        f"ops-repo/{DRIFT_GATE}:7: drift-gate.sh runs 'D7777', which is not in the gate registry; "
        "register the gate or remove it from drift-gate.sh",
    ]
    assert [f.path for f in run_gate(contracts, "D85").findings] == ["", ""]


def test_d85_ops_layout_passes_when_drift_gate_runs_only_registered_gates(tmp_path: Path) -> None:
    """A drift-gate.sh naming only registered gates adds nothing: the tiny ops registry passes D85."""
    contracts = write_ops_root(tmp_path / "ops-repo")
    drift = contracts.root / DRIFT_GATE
    write_drift_gate(drift, DRIFT_GATE_TEXT.replace("D999", "D85").replace("D7777", "D500"))
    assert gate_findings(contracts, "D85") == []


def test_d85_suite_layout_ignores_a_drift_gate_script(contracts_dir: Path, tmp_path: Path) -> None:
    """drift-gate.sh is an ops-layout file: below a suite-layout set's root it is not read."""
    write_contracts(contracts_dir, {REGISTRY: PARITY_REGISTRY})
    write_script(contracts_dir.parent)
    drift = contracts_dir.parent / DRIFT_GATE
    drift.parent.mkdir(parents=True, exist_ok=True)
    drift.write_text(DRIFT_GATE_TEXT, encoding="utf-8")
    assert gate_findings(Contracts.open(contracts_dir, contracts_dir.parent), "D85") == []


def test_d85_ops_layout_wants_a_check_script_for_every_active_gate_not_inline(tmp_path: Path) -> None:
    """In an ops repository, an active gate without check_script fails D85 at its registry entry, as the ops
    runner would fail it as a gate bug, and the fix names the script path the ops repository uses."""
    contracts = write_ops_root(tmp_path / "ops-repo")
    write_drift_gate(contracts.root / DRIFT_GATE, DRIFT_GATE_TEXT.replace("D999", "D85").replace("D7777", "D500"))
    (contracts.root / "ops" / "bindings" / REGISTRY).write_text(PARITY_REGISTRY, encoding="utf-8")
    contracts = Contracts.open(contracts.root, contracts.root.parent)
    assert gate_findings(contracts, "D85") == [
        f"ops-repo/ops/bindings/{REGISTRY}:4 $.gates[1]: active gate 'D85' has no check_script (the ops runner "
        "fails it as a gate bug); set check_script: surfaces/verify/d85-<name>.sh (or mark the gate retired or inline)"
    ]
