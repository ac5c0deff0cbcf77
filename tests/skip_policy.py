"""Skip policy of the suite's own tests: under CI=true a skip fails unless the test is marked allowed_skip.

A skip hides coverage: CI must prove that the sshd and browser paths ran. A test that may legitimately
skip (a platform feature that is absent) says so with `@pytest.mark.allowed_skip(reason="...")`; every
other skip is turned into a failure that names the skip's reason and the fix. Outside CI, skips stay
skips (with `-rs` printing their reasons). Loaded as a plugin by `tests/conftest.py`.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

MARKER = "allowed_skip"
STRICT_VALUES = frozenset({"1", "true", "yes"})


def strict_skips() -> bool:
    """Return True when skips must be allowed explicitly (CI=true, as CI sets it)."""
    return os.environ.get("CI", "").strip().lower() in STRICT_VALUES


def pytest_configure(config: pytest.Config) -> None:
    """Registers the allowed_skip marker."""
    config.addinivalue_line(
        "markers", f"{MARKER}(reason): this test may skip under CI=true; the reason says when and why"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuses an allowed_skip marker without a reason: the reason is the point of the marker."""
    for item in items:
        for marker in item.iter_markers(MARKER):
            reason = marker.kwargs.get("reason", marker.args[0] if marker.args else "")
            if not isinstance(reason, str) or not reason.strip():
                raise pytest.UsageError(
                    f"{item.nodeid}: @pytest.mark.{MARKER} needs a reason, e.g. "
                    f'@pytest.mark.{MARKER}(reason="named pipes need a POSIX system")'
                )


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Turns an unexpected skip into a failure under CI=true, naming the skip's reason and the fix."""
    report = yield
    if (
        report.skipped
        and not hasattr(report, "wasxfail")
        and strict_skips()
        and item.get_closest_marker(MARKER) is None
    ):
        reason = _skip_reason(report)
        report.outcome = "failed"
        report.longrepr = (
            f"unexpected skip under CI=true: {reason}\n"
            f"CI must run this test: install what it needs in .ci/run, or, if skipping is legitimate, "
            f'mark it @pytest.mark.{MARKER}(reason="...")'
        )
    return report
