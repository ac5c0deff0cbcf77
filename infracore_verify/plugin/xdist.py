"""Controller-side xdist hooks: run key to workers, workers' secrets back, selection, crashed workers."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from infracore_verify.plugin.allure import report_meta, write_broken
from infracore_verify.plugin.state import STATE
from infracore_verify.redact import REDACTOR


class XdistHooks:
    """Controller-side xdist hooks (registered only when pytest-xdist is installed)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem: str, report: pytest.TestReport, sched: Any) -> None:
        """Write a `broken` Allure result for the test whose worker crashed (it would have none otherwise)."""
        alluredir = getattr(self.config.option, "allure_report_dir", None)
        if not alluredir:
            return
        state = self.config.stash[STATE]
        now = time.time()
        meta, parameter = report_meta(state, crashitem)
        detail = str(report.longrepr) if report.longrepr else f"the worker running {crashitem} died"
        write_broken(Path(alluredir), crashitem, meta, f"worker crashed: {detail}", state, now, parameter)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """Learn the secrets a worker resolved (for the final scrub) and the marks of the items it collected."""
        output = getattr(node, "workeroutput", {})
        for entry in output.get("infracore_secrets", []):
            value, label = (entry, "secret") if isinstance(entry, str) else (str(entry[0]), str(entry[1]))
            REDACTOR.register(value, label)
        state = node.config.stash[STATE]
        refs = {
            nodeid: (str(kind), str(item_id)) for nodeid, (kind, item_id) in output.get("infracore_items", {}).items()
        }
        state.node_refs.update(refs)
        if state.selected is None and refs:
            state.select(list(refs.values()))

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """Hand the controller's run key to each worker."""
        node.workerinput["infracore_run_key"] = node.config.stash[STATE].run_key
