"""One pytest test per smoke probe (ids are capability ids: test_probe[cloudflare.zone.list])."""

from __future__ import annotations

from infracore_verify.plugin.smoke import ProbeRun
from infracore_verify.smoke.registry import Probe


def test_probe(probe: Probe, run_probe: ProbeRun) -> None:
    """Runs one read-only smoke probe against the selected environment; a failure says expected, got and class."""
    run_probe(probe)
