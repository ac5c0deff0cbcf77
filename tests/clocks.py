"""Clocks the tests inject instead of time.monotonic/time.time: durations and cooldowns asserted exactly."""

from __future__ import annotations


class SettableClock:
    """A clock that only moves when the test moves it (set `now`, or `advance`)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += seconds


class TickingClock:
    """A clock that moves on by `tick` seconds every time it is read."""

    def __init__(self, tick: float) -> None:
        self.now = 0.0
        self.tick = tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now
