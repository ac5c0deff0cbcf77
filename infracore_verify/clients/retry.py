"""The retry policy of `ApiClient.send` as tenacity pieces: Retry-After or backoff waits, the wait budget.

The policy itself is described in `clients/http.py`.
"""

from __future__ import annotations

import email.utils
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tenacity import RetryCallState
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from infracore_verify.clients.limits import Limits
from infracore_verify.clients.results import Exchange


@dataclass
class Attempt:
    """One attempt's outcome, handed between the attempt function and tenacity."""

    status: int
    failure_class: str | None
    body: Any
    detail: str | None
    retryable: bool
    retry_after: str | None
    exchange: Exchange


def parse_retry_after(value: str | None, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> float | None:
    """Return the Retry-After value in seconds (delta-seconds or HTTP date), or None when absent or malformed."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now()).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    return max(seconds, 0.0)


class RetryAfterOrBackoff(wait_base):
    """Retry-After clamped to the limits, else exponential backoff with equal jitter."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        attempt: Attempt | None = outcome.result() if outcome is not None and not outcome.failed else None
        retry_after = parse_retry_after(attempt.retry_after if attempt else None)
        if retry_after is not None:
            low, high = self.limits.retry_after_clamp
            return min(max(retry_after, low), high)
        window = min(self.limits.backoff_max, self.limits.backoff_base * 2 ** (retry_state.attempt_number - 1))
        return random.uniform(window / 2, window)


class StopWhenBudgetSpent(stop_base):
    """Stops when the upcoming sleep would take the request's summed sleeps over the budget."""

    def __init__(self, budget: float) -> None:
        self.budget = budget

    def __call__(self, retry_state: RetryCallState) -> bool:
        return retry_state.idle_for + retry_state.upcoming_sleep > self.budget + 1e-9
