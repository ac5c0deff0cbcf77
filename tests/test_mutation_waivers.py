"""Waiver cases that kill mutmut's survivors (issue 8, item 4); see bench/MUTATION.md.

What a loaded gap keeps (title, no owner), the receipt's waiver counts, the UTC day review dates are judged
on. Nothing here depends on whole-gate waiving.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from infracore_verify.contracts.sets import Contracts
from infracore_verify.reporting.waivers import Waiver, load_gaps, summary, utc_today
from tests.conftest import ContractEditor
from tests.test_waivers import GAP_ID, gap


def test_a_loaded_gap_keeps_its_title_and_has_no_owner_when_none_is_named(
    open_contracts: Callable[[], Contracts], edit_contract: ContractEditor
) -> None:
    """The title is read; a gap naming no owner is `unassigned` in messages and has no owner in the receipt."""
    entry = gap(review_by=dt.date(2027, 1, 1), title="Core count limit under review")
    del entry["owner"]
    edit_contract("operational.gaps.yaml", lambda d: d["gaps"].append(entry))
    [loaded] = [g for g in load_gaps(open_contracts().doc("gaps")) if g.id == GAP_ID]
    assert (loaded.title, loaded.owner, loaded.owner_text) == ("Core count limit under review", "", "unassigned")
    assert Waiver("D127", loaded, "applied").row()["owner"] is None


def test_summary_counts_every_row_by_status() -> None:
    """The receipt's waiver summary counts each status, an unexpected one too."""
    rows: list[dict[str, Any]] = [
        {"status": "applied"},
        {"status": "applied"},
        {"status": "expired"},
        {"status": "lapsed-by-hand"},
    ]
    assert summary(rows) == {"applied": 2, "expired": 1, "closable": 0, "lapsed-by-hand": 1}


@pytest.fixture
def local_zone() -> Iterator[Callable[[str], None]]:
    """Returns `use(zone)`, which sets the process's local time zone; the original one is put back afterwards."""
    saved = os.environ.get("TZ")

    def use(zone: str) -> None:
        os.environ["TZ"] = zone
        time.tzset()

    yield use
    if saved is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = saved
    time.tzset()


def test_review_dates_are_judged_on_the_utc_day_whatever_the_local_zone(local_zone: Callable[[str], None]) -> None:
    """14 hours ahead of or 12 behind UTC, today is still the UTC date (one of the two is another local day)."""
    for zone in ("Etc/GMT-14", "Etc/GMT+12"):
        local_zone(zone)
        assert utc_today() == dt.datetime.now(dt.UTC).date(), zone
