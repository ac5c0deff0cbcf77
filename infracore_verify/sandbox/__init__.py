"""In-process emulation of Cloudflare, Vaultwarden, Infisical and Authentik on 127.0.0.1 (pytest-free).

    from infracore_verify.sandbox import Sandbox, FaultSpec, parse_fault_spec

    with Sandbox() as sb:                                  # seed derived from the shipped contracts
        sb.base_urls["cloudflare"]                         # http://127.0.0.1:PORT/client/v4
        sb.credentials["authentik"]["api_token"]           # fresh fake values per instance
        sb.inject(parse_fault_spec("cloudflare:rate_limit=2@/zones*x3"))
        sb.requests("cloudflare")                          # what arrived, headers as received

Fault grammar: see `infracore_verify.sandbox.faults` (`SYSTEM:KIND[=ARG][@[METHOD:]PATH][xTIMES]`).
Error hierarchy: `SandboxError` > `SandboxSeedError`; bad fault specs and names raise `ValueError`.
"""

from __future__ import annotations

from infracore_verify.sandbox._http import SANDBOX_HEADER, RecordedRequest
from infracore_verify.sandbox.faults import FAULT_KINDS, SYSTEMS, FaultSpec, parse_fault_spec
from infracore_verify.sandbox.sandbox import Sandbox, make_credentials
from infracore_verify.sandbox.seed import (
    CREDENTIAL_NAMES,
    INFISICAL_CREDENTIAL_KEYS,
    IngressRuleSeed,
    OutpostSeed,
    SandboxError,
    SandboxSeed,
    SandboxSeedError,
    SecretSeed,
    TunnelSeed,
    ZoneSeed,
)

__all__ = [
    "CREDENTIAL_NAMES",
    "FAULT_KINDS",
    "INFISICAL_CREDENTIAL_KEYS",
    "SANDBOX_HEADER",
    "SYSTEMS",
    "FaultSpec",
    "IngressRuleSeed",
    "OutpostSeed",
    "RecordedRequest",
    "Sandbox",
    "SandboxError",
    "SandboxSeed",
    "SandboxSeedError",
    "SecretSeed",
    "TunnelSeed",
    "ZoneSeed",
    "make_credentials",
    "parse_fault_spec",
]
