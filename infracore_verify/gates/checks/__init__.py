"""Native gate implementations; importing this package fills `NATIVE` (gate id -> check)."""

from __future__ import annotations

from infracore_verify.gates.checks import (
    baseline,
    capabilities,
    hygiene,
    ops_entry,
    ops_lineage,
    ops_orchestration,
    ops_runtime,
    ops_workbench,
    recovery,
    registry,
    secrets_scan,
    suite_capabilities,
    suite_contracts,
    topology,
)
from infracore_verify.gates.checks.base import NATIVE, ContractView, NativeCheck, native_gate
from infracore_verify.gates.checks.ops_common import GateBugError

OPS_PORTS = (
    "D3", "D126", "D153", "D163", "D164", "D165", "D166", "D297",
    "D330", "D331", "D338", "D339", "D340", "D347", "D348", "D349", "D350",
)  # fmt: skip
"""The ops repository's fast-profile gates ported natively (their scripts no longer run)."""

__all__ = [
    "NATIVE",
    "OPS_PORTS",
    "ContractView",
    "GateBugError",
    "NativeCheck",
    "baseline",
    "capabilities",
    "hygiene",
    "native_gate",
    "ops_entry",
    "ops_lineage",
    "ops_orchestration",
    "ops_runtime",
    "ops_workbench",
    "recovery",
    "registry",
    "secrets_scan",
    "suite_capabilities",
    "suite_contracts",
    "topology",
]
