"""Client limits of one system (`Limits`), read from an environment file's `systems.<s>.limits` mapping.

Every limit has sane bounds (`BOUNDS`, mirrored in contracts/schemas/environment.schema.json): a value outside
them is a `LimitsError` naming the key, the value and the allowed range, so a typo such as
`requests_per_second: 0.001` (one probe start every 17 minutes) is refused instead of stalling a run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infracore_verify.clients.results import ApiClientError


class LimitsError(ApiClientError, ValueError):
    """A limits mapping (systems.<s>.limits of an environment file) is malformed."""


_LIMIT_KEYS: dict[str, str] = {
    "concurrency": "concurrency",
    "requests_per_second": "requests_per_second",
    "max_retry_wait_seconds": "max_total_wait",
    "max_attempts": "max_attempts",
    "connect_timeout": "connect_timeout",
    "connect_timeout_seconds": "connect_timeout",
    "read_timeout": "read_timeout",
    "read_timeout_seconds": "read_timeout",
    "backoff_base_seconds": "backoff_base",
    "backoff_max_seconds": "backoff_max",
}
"""Environment-file limit keys and the `Limits` field each one sets."""


BOUNDS: dict[str, tuple[float, float]] = {
    "connect_timeout": (0.01, 300.0),
    "read_timeout": (0.01, 300.0),
    "max_attempts": (1, 20),
    "backoff_base": (0.0, 300.0),
    "backoff_max": (0.0, 300.0),
    "max_total_wait": (0.0, 600.0),
    "concurrency": (1, 64),
    "requests_per_second": (0.1, 10_000.0),
}
"""Inclusive [min, max] of each `Limits` field; `retry_after_clamp` values lie in [0, 600]."""
RETRY_AFTER_MAX = 600.0


@dataclass(frozen=True)
class Limits:
    """Client limits of one system: timeouts, retry bounds and the probe runner's pacing."""

    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    max_attempts: int = 4
    retry_after_clamp: tuple[float, float] = (2.0, 30.0)
    backoff_base: float = 1.0
    backoff_max: float = 8.0
    max_total_wait: float = 30.0
    concurrency: int = 4
    requests_per_second: float = 20.0

    def __post_init__(self) -> None:
        problems: list[str] = []
        for name, (low_bound, high_bound) in BOUNDS.items():
            value = getattr(self, name)
            if not low_bound <= value <= high_bound:
                problems.append(f"{name} must be between {low_bound:g} and {high_bound:g}, got {value:g}")
        low, high = self.retry_after_clamp
        if low < 0 or high < low or high > RETRY_AFTER_MAX:
            problems.append(
                f"retry_after_clamp must be [min, max] with 0 <= min <= max <= {RETRY_AFTER_MAX:g}, got [{low}, {high}]"
            )
        if problems:
            raise LimitsError("invalid limits: " + "; ".join(problems))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> Limits:
        """Build limits from an environment file's `systems.<s>.limits` mapping; absent keys keep defaults."""
        if not data:
            return cls()
        values: dict[str, Any] = {}
        for key, raw in data.items():
            if key == "retry_after_clamp_seconds":
                if not isinstance(raw, list | tuple) or len(raw) != 2 or not all(_is_number(v) for v in raw):
                    raise LimitsError(f"limits.retry_after_clamp_seconds must be [min, max] numbers, got {raw!r}")
                values["retry_after_clamp"] = (float(raw[0]), float(raw[1]))
                continue
            target = _LIMIT_KEYS.get(str(key))
            if target is None:
                allowed = ", ".join(sorted([*_LIMIT_KEYS, "retry_after_clamp_seconds"]))
                raise LimitsError(f"limits.{key} is not a known limit; allowed: {allowed}")
            if not _is_number(raw):
                raise LimitsError(f"limits.{key} must be a number, got {raw!r}")
            if target in ("max_attempts", "concurrency"):
                if int(raw) != raw:
                    raise LimitsError(f"limits.{key} must be an integer, got {raw!r}")
                values[target] = int(raw)
            else:
                values[target] = float(raw)
            low, high = BOUNDS[target]
            if not low <= values[target] <= high:
                raise LimitsError(f"limits.{key} must be between {low:g} and {high:g}, got {raw!r}")
        return cls(**values)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
