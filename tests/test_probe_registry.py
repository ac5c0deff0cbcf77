"""The smoke probe registry: each implementation key has exactly one probe; a second registration raises."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infracore_verify.smoke.probes import PROBES, ProbeContext, ProbeFunc, probe


def _first(ctx: ProbeContext) -> None:
    """A probe that checks nothing."""


def _second(ctx: ProbeContext) -> None:
    """Another probe that checks nothing."""


@pytest.fixture
def registry() -> Iterator[dict[str, ProbeFunc]]:
    """Yields the registry and restores its shipped content afterwards."""
    saved = dict(PROBES)
    yield PROBES
    PROBES.clear()
    PROBES.update(saved)


def test_registering_a_duplicate_probe_name_raises(registry: dict[str, ProbeFunc]) -> None:
    """Refuses a second implementation of a new name, naming the key and both functions, and keeps the first."""
    probe("test.duplicate")(_first)
    with pytest.raises(ValueError, match=r"probe 'test\.duplicate' is implemented twice") as raised:
        probe("test.duplicate")(_second)
    assert "test_probe_registry._first" in str(raised.value)
    assert "test_probe_registry._second" in str(raised.value)
    assert registry["test.duplicate"] is _first


def test_a_shipped_probe_name_cannot_be_replaced(registry: dict[str, ProbeFunc]) -> None:
    """Refuses to register another function under the name of a shipped probe."""
    shipped = registry["cloudflare.zone.list"]
    with pytest.raises(ValueError, match=r"probe 'cloudflare\.zone\.list' is implemented twice"):
        probe("cloudflare.zone.list")(_second)
    assert registry["cloudflare.zone.list"] is shipped
