"""D85 gate-registry parity on a tiny registry and gate scripts written in the test."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_checks import Edit, OpenContracts, gate_findings, write_contracts

REGISTRY = "gate.registry.yaml"
REG = f"contracts/{REGISTRY}"
PARITY_REGISTRY = """\
gate_count: {total: 3, active: 2, retired: 1}
gates:
  - {id: D1, name: retired-gate, gate_class: invariant, ring: instant, retired: true}
  - {id: D85, name: gate-registry-parity-lock, gate_class: invariant, ring: instant}
  - {id: D500, name: script-gate, gate_class: invariant, ring: standard, check_script: checks/d500.sh}
"""
SCRIPT = "checks/d500.sh"
SCRIPT_TEXT = "#!/usr/bin/env bash\nset -euo pipefail\n# TRIAGE: fix whatever D500 reports\necho 'D500 PASS: ok'\n"
COUNTS = "gate_count: {total: 3, active: 2, retired: 1}"
COUNTS_PLUS_ONE = "gate_count: {total: 4, active: 3, retired: 1}"
LAST_GATE = "check_script: checks/d500.sh}\n"


def write_script(root: Path, text: str = SCRIPT_TEXT, mode: int = 0o755) -> Path:
    """Write the gate script `checks/d500.sh` below the contract set's root with the given mode."""
    path = root / SCRIPT
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def test_d85_tiny_registry_passes(contracts_dir: Path, open_contracts: OpenContracts) -> None:
    """A registry whose counts match and whose script gate has an executable script with a TRIAGE line passes."""
    write_contracts(contracts_dir, {REGISTRY: PARITY_REGISTRY})
    write_script(contracts_dir.parent)
    assert gate_findings(open_contracts(), "D85") == []


D85_CASES = [
    pytest.param(
        [Edit(REGISTRY, COUNTS, "gate_count: {total: 4, active: 2, retired: 1}")],
        [f"{REG}:1 $.gate_count.total: gate_count.total (4) != actual gates list length (3); set gate_count.total: 3"],
        id="gate-count-total",
    ),
    pytest.param(
        [Edit(REGISTRY, COUNTS, "gate_count: {total: 3, active: 3, retired: 0}")],
        [
            f"{REG}:1 $.gate_count.retired: gate_count.retired (0) != actual retired count (1); "
            "set gate_count.retired: 1",
            f"{REG}:1 $.gate_count.active: gate_count.active (3) != actual active count (2); set gate_count.active: 2",
        ],
        id="gate-count-active-retired",
    ),
    pytest.param(
        [
            Edit(REGISTRY, COUNTS, COUNTS_PLUS_ONE),
            Edit(
                REGISTRY,
                LAST_GATE,
                LAST_GATE + "  - {id: D500, name: script-gate-copy, gate_class: invariant, ring: deep}\n",
            ),
        ],
        [
            f"{REG}:6 $.gates[3].id: gate id 'D500' is registered twice (first at line 5); "
            "give the second entry a new id or remove it"
        ],
        id="duplicate-id",
    ),
    pytest.param(
        [
            Edit(REGISTRY, COUNTS, COUNTS_PLUS_ONE),
            Edit(
                REGISTRY,
                LAST_GATE,
                LAST_GATE + "  - {id: D501, name: unimplemented-gate, gate_class: invariant, ring: deep}\n",
            ),
        ],
        [
            f"{REG}:6 $.gates[3]: active gate 'D501' has no implementation (no native check and no check_script); "
            "implement it in infracore_verify/checks or set check_script"
        ],
        id="no-implementation",
    ),
    pytest.param(
        [
            Edit(REGISTRY, COUNTS, COUNTS_PLUS_ONE),
            Edit(
                REGISTRY,
                LAST_GATE,
                LAST_GATE + "  - {id: D501, name: drift-gate-part, gate_class: invariant, ring: deep, inline: true}\n",
            ),
        ],
        [],
        id="inline-gate-needs-no-script",
    ),
    pytest.param(
        [
            Edit(REGISTRY, COUNTS, COUNTS_PLUS_ONE),
            Edit(
                REGISTRY,
                LAST_GATE,
                LAST_GATE
                + "  - {id: D600, name: composite-gate, gate_class: invariant, ring: deep, composite_of: [D85, D86]}\n",
            ),
        ],
        [
            f"{REG}:6 $.gates[3].composite_of[1]: composite part 'D86' of D600 is not a registered gate "
            "(did you mean 'D85'?); register the part or remove it from composite_of"
        ],
        id="composite-part-not-registered",
    ),
    pytest.param(
        [
            Edit(REGISTRY, COUNTS, COUNTS_PLUS_ONE),
            Edit(
                REGISTRY,
                LAST_GATE,
                LAST_GATE
                + "  - {id: D600, name: composite-gate, gate_class: invariant, ring: deep, composite_of: [D85, D1]}\n",
            ),
        ],
        [f"{REG}:6 $.gates[3].composite_of[1]: composite part 'D1' of D600 is retired; remove it from composite_of"],
        id="composite-part-retired",
    ),
]


@pytest.mark.parametrize(("edits", "expected"), D85_CASES)
def test_d85_fails(contracts_dir: Path, open_contracts: OpenContracts, edits: list[Edit], expected: list[str]) -> None:
    """D85 reports count drift, duplicate ids, gates without an implementation and broken composites."""
    write_contracts(contracts_dir, {REGISTRY: PARITY_REGISTRY}, edits)
    write_script(contracts_dir.parent)
    assert gate_findings(open_contracts(), "D85") == expected


SCRIPT_CASES = [
    pytest.param(
        # The ops gate tested the script with -f only, so this passed and then failed at run time.
        SCRIPT_TEXT,
        0o644,
        f"check_script '{SCRIPT}' is not executable; run: chmod +x {SCRIPT}",
        id="script-not-executable",
    ),
    pytest.param(
        SCRIPT_TEXT.replace("# TRIAGE: fix whatever D500 reports\n", ""),
        0o755,
        f"check_script '{SCRIPT}' has no '# TRIAGE:' line; add '# TRIAGE: <how to fix>' near the top of the script",
        id="script-without-triage-line",
    ),
    pytest.param(
        SCRIPT_TEXT.replace("# TRIAGE:", "#TRIAGE:"),
        0o755,
        f"check_script '{SCRIPT}' has no '# TRIAGE:' line; add '# TRIAGE: <how to fix>' near the top of the script",
        id="script-with-misspelt-triage-line",
    ),
]


@pytest.mark.parametrize(("text", "mode", "problem"), SCRIPT_CASES)
def test_d85_script_problems(
    contracts_dir: Path, open_contracts: OpenContracts, text: str, mode: int, problem: str
) -> None:
    """D85 rejects a check_script that cannot run or lacks the ops `# TRIAGE:` convention."""
    write_contracts(contracts_dir, {REGISTRY: PARITY_REGISTRY})
    write_script(contracts_dir.parent, text, mode)
    assert gate_findings(open_contracts(), "D85") == [f"{REG}:5 $.gates[2].check_script: {problem}"]


def test_d85_script_missing(contracts_dir: Path, open_contracts: OpenContracts) -> None:
    """D85 rejects a check_script that does not exist below the contract set's root."""
    write_contracts(contracts_dir, {REGISTRY: PARITY_REGISTRY})
    contracts = open_contracts()
    assert gate_findings(contracts, "D85") == [
        f"{REG}:5 $.gates[2].check_script: check_script '{SCRIPT}' does not exist; "
        f"create {contracts.root / SCRIPT} or fix check_script"
    ]
