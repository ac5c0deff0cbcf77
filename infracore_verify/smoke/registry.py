"""Smoke probe metadata from the contracts: which probes exist, their system and their implementation key.

A probe is a smoke capability listed in `infra.core.baseline.contract.yaml`
(`systems.<s>.lifecycle_requirements.smoke_capabilities`). Its implementation is looked up by the
capability's `probe` key in `capabilities.yaml` (extension; default: the capability id), so several
capabilities can share one implementation. The probes themselves live in `smoke/probes.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from infracore_verify.contracts.findings import Finding
from infracore_verify.contracts.model import as_list, mapping, text
from infracore_verify.contracts.sets import Contracts
from infracore_verify.contracts.verdict import Verdict


@dataclass(frozen=True)
class Probe:
    """One smoke probe: capability id, the baseline system it belongs to, and how it is implemented."""

    id: str
    system: str
    implementation: str
    description: str = ""


def load_probes(contracts: Contracts) -> tuple[list[Probe], list[Finding]]:
    """Return the probes in contract order (system by system), or the findings that prevent it."""
    baseline, capabilities = contracts.doc("baseline"), contracts.doc("capabilities")
    problems = baseline.errors + capabilities.errors
    if problems:
        return [], problems
    caps = mapping(capabilities.data.get("capabilities"))
    probes: list[Probe] = []
    seen: set[str] = set()
    for system, entry in mapping(baseline.data.get("systems")).items():
        lifecycle = mapping(mapping(entry).get("lifecycle_requirements"))
        for capability in as_list(lifecycle.get("smoke_capabilities")):
            cap_id = str(capability)
            if cap_id in seen:
                continue
            seen.add(cap_id)
            cap = mapping(caps.get(cap_id))
            probes.append(Probe(cap_id, str(system), str(cap.get("probe") or cap_id), text(cap.get("description"))))
    return probes, []


class ProbeVerdict(Protocol):
    """What a live gate needs from a probe run: verdict, failure class and message."""

    @property
    def verdict(self) -> Verdict:
        """Return PASS, FAIL or SKIP."""

    @property
    def failure_class(self) -> str | None:
        """Return the failure class of a failed probe."""

    @property
    def message(self) -> str:
        """Return the one-paragraph outcome (expected, actual, class)."""
