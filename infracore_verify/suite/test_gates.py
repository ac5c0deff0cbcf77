"""One pytest test per selected gate of the registry (ids are gate ids: test_gate[D320])."""

from __future__ import annotations

from infracore_verify.contracts.model import Gate
from infracore_verify.plugin.state import GateRunner


def test_gate(gate: Gate, run_gate: GateRunner) -> None:
    """Runs one registry gate; a failure lists every finding with file, line, YAML path and fix."""
    run_gate(gate)
