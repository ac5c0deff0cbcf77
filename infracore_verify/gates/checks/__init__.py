"""Native gate implementations; importing this package fills `NATIVE` (gate id -> check)."""

from __future__ import annotations

from infracore_verify.gates.checks import baseline, capabilities, hygiene, recovery, registry, secrets_scan, topology
from infracore_verify.gates.checks.base import NATIVE, ContractView, NativeCheck, native_gate

__all__ = [
    "NATIVE",
    "ContractView",
    "NativeCheck",
    "baseline",
    "capabilities",
    "hygiene",
    "native_gate",
    "recovery",
    "registry",
    "secrets_scan",
    "topology",
]
