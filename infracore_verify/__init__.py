"""infracore-verify: a pytest verification suite for the infra-core stack.

The public API, imported on first use so that `import infracore_verify.clients` stays free of everything
else (the pytest plugin is registered through the `pytest11` entry point, not from here):

- contracts: `Contracts`, `Document`, `Finding`, `load_document`;
- gates: `Engine`, `GateResult`, `native_gate`;
- clients: `CloudflareClient`, `VaultwardenClient`, `InfisicalClient`, `AuthentikClient`, `Limits`, `ApiResult`;
- sandbox: `Sandbox`, `FaultSpec`;
- smoke: `Probe`, `load_probes`, `probe`;
- recovery: `Ledger`;
- reporting: `Receipt`;
- redaction: `REDACTOR`.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_PUBLIC = {
    "Contracts": "infracore_verify.contracts.sets",
    "Document": "infracore_verify.contracts.loader",
    "Finding": "infracore_verify.contracts.findings",
    "load_document": "infracore_verify.contracts.loader",
    "Engine": "infracore_verify.gates.engine",
    "GateResult": "infracore_verify.gates.engine",
    "native_gate": "infracore_verify.gates.checks.base",
    "CloudflareClient": "infracore_verify.clients.cloudflare",
    "VaultwardenClient": "infracore_verify.clients.vaultwarden",
    "InfisicalClient": "infracore_verify.clients.infisical",
    "AuthentikClient": "infracore_verify.clients.authentik",
    "Limits": "infracore_verify.clients.http",
    "ApiResult": "infracore_verify.clients.http",
    "Sandbox": "infracore_verify.sandbox",
    "FaultSpec": "infracore_verify.sandbox",
    "Probe": "infracore_verify.smoke.registry",
    "load_probes": "infracore_verify.smoke.registry",
    "probe": "infracore_verify.smoke.probes",
    "Ledger": "infracore_verify.recovery.ledger",
    "Receipt": "infracore_verify.reporting.receipt",
    "REDACTOR": "infracore_verify.redact",
}
__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    """Import a public name from its sub-package on first use."""
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'infracore_verify' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
