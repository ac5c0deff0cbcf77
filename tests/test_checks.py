"""Native gates: helpers shared by the gate tests, the passing case, and a contract that does not load.

The gate tests live in `test_checks_<area>.py`: each writes tiny contract files into a private copy of
the shipped contracts and asserts the exact rendered findings. Line numbers in their expectations count
the lines of the YAML text constants in those modules (line 1 is the constant's first line).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

import pytest

from infracore_verify.contracts.model import Gate, Registry, ring_budgets
from infracore_verify.contracts.sets import Contracts
from infracore_verify.contracts.verdict import Verdict
from infracore_verify.gates.checks import NATIVE, OPS_PORTS, ContractView
from infracore_verify.gates.classify import Classifier
from infracore_verify.gates.engine import Engine, GateResult

OpenContracts = Callable[[], Contracts]

NATIVE_GATES = (
    "D55",
    "D63",
    "D67",
    "D85",
    "D127",
    "D149",
    "D320",
    "D900",
    "D901",
    "D902",
    "D903",
    "D904",
    "D905",
    "D906",
    "D908",
    "D909",
    "D910",
)


class Edit(NamedTuple):
    """Replace the one occurrence of `old` with `new` in the tiny contract `file_name`."""

    file_name: str
    old: str
    new: str


def swap(text: str, old: str, new: str) -> str:
    """Return `text` with its single occurrence of `old` replaced by `new` (fails when not exactly one)."""
    count = text.count(old)
    assert count == 1, f"{old!r} occurs {count} times in the contract text"
    return text.replace(old, new)


def write_contracts(contracts_dir: Path, files: Mapping[str, str], edits: Iterable[Edit] = ()) -> None:
    """Write tiny contract files (name -> YAML text) into the copied set, after applying `edits`."""
    texts = dict(files)
    for edit in edits:
        texts[edit.file_name] = swap(texts[edit.file_name], edit.old, edit.new)
    for file_name, text in texts.items():
        (contracts_dir / file_name).write_text(text, encoding="utf-8")


class PassingProbe(NamedTuple):
    """A probe outcome that passes: live gates' probe parts are tested in the smoke tests, not here."""

    probe_id: str
    verdict: Verdict = Verdict.PASS
    failure_class: str | None = None
    message: str = "passed (stub)"


def run_gate(contracts: Contracts, gate_id: str) -> GateResult:
    """Run one gate through the engine, built the way the plugin builds it (probe parts stubbed to pass)."""
    reg_doc = contracts.doc("registry")
    registry = Registry.from_doc(reg_doc) if isinstance(reg_doc.data, dict) else Registry([], {}, [])
    engine = Engine(
        contracts,
        registry,
        Classifier.from_doc(contracts.doc("classification")),
        ring_budgets(contracts.doc("ring_policy")),
        probe_runner=PassingProbe,
    )
    # A tiny registry may not list the gate under test; the engine dispatches natives by id alone.
    return engine.run(registry.by_id.get(gate_id) or Gate(gate_id, gate_id.lower()))


def gate_findings(contracts: Contracts, gate_id: str) -> list[str]:
    """Return the rendered findings of a gate run; a crash or a verdict that disagrees fails the test."""
    result = run_gate(contracts, gate_id)
    assert not result.gate_bug, result.message()
    assert result.verdict == ("fail" if result.findings else "pass"), result.message()
    return [f.render() for f in result.findings]


def check_findings(contracts: Contracts, gate_id: str) -> list[str]:
    """Return the rendered findings of the gate's own check, called without the engine's load step.

    Used where the JSON Schema already rejects a file: the engine then reports the schema finding, and
    this shows that the gate itself would catch the same problem.
    """
    check = NATIVE[gate_id]
    return [f.render() for f in check.func(ContractView(contracts, check.reads))]


def test_native_gates_are_the_tested_ones() -> None:
    """The native gate table holds exactly the gates the test_checks modules test, plus the ops ports.

    The ported ops fast gates (OPS_PORTS) read an ops repository's own files, not the contract set; they
    are tested in tests/test_ops_gates_*.py.
    """
    assert sorted(set(NATIVE) - set(OPS_PORTS)) == sorted(NATIVE_GATES)


@pytest.mark.parametrize("gate_id", NATIVE_GATES)
def test_shipped_contracts_pass(open_contracts: OpenContracts, gate_id: str) -> None:
    """Each native gate passes on a private copy of the shipped contracts."""
    assert gate_findings(open_contracts(), gate_id) == []


GAPS = "operational.gaps.yaml"
GAPF = f"contracts/{GAPS}"
BROKEN_GAPS = "gaps:\n  - {id: GAP-OP-1, status: open\n"
BROKEN_GAPS_FINDING = (
    f"{GAPF}:3: YAML syntax error: the mapping opened with '{{' on line 2 is not closed before this line; "
    "close it with '}' (and separate its entries with ',')"
)


@pytest.mark.parametrize("gate_id", NATIVE_GATES)
def test_unloadable_contract_fails_only_its_readers(
    contracts_dir: Path, open_contracts: OpenContracts, gate_id: str
) -> None:
    """A contract that does not load fails exactly the gates that read it, with the loader's finding."""
    write_contracts(contracts_dir, {GAPS: BROKEN_GAPS})
    readers = {g for g in NATIVE_GATES if "gaps" in NATIVE[g].reads}
    assert readers == {"D900", "D903", "D910"}
    expected = [BROKEN_GAPS_FINDING] if gate_id in readers else []
    assert gate_findings(open_contracts(), gate_id) == expected
