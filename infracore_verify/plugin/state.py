"""The run's shared plugin state (in `config.stash`), the option readers and how items are marked.

Every plugin module reads the run through `STATE` and the readers here; nothing imports another plugin
module's private helpers. Gate, probe and recovery items are marked in `item.stash[ITEM]` at collection
(from the `infracore_item` marker of their parameters, never from test names); reports carry the mark to
the xdist controller as the `ITEM_PROPERTY` user property.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from infracore_verify.contracts.model import Gate, Registry, RunProfiles, Topology
from infracore_verify.contracts.sets import BUNDLED_CONTRACTS, PACKAGE_DIR, Contracts
from infracore_verify.gates.classify import Classifier
from infracore_verify.gates.engine import Engine, GateResult
from infracore_verify.gates.profiles import Selection
from infracore_verify.reporting import allure as report
from infracore_verify.reporting.waivers import WaiverBook

GATE_PROPERTY = "infracore.gate"
"""user_properties name under which a gate's row travels to the controller."""
PROBE_PROPERTY = "infracore.probe"
"""user_properties name under which a smoke probe's row travels to the controller."""
RECOVERY_PROPERTY = "infracore.recovery"
"""user_properties name under which a recovery action's row travels to the controller."""
ITEM_PROPERTY = "infracore.item"
"""user_properties name carrying an item's mark (`[kind, id]`) to the controller."""
KINDS = ("gate", "probe", "recovery")

ItemRef = tuple[str, str]
"""(kind, id): ("gate", "D320"), ("probe", "vaultwarden.alive"), ("recovery", "recover-...")."""
ITEM = pytest.StashKey[ItemRef]()
GateRunner = Callable[[Gate], GateResult]


@dataclass
class GatePlan:
    """Everything collection needs: the contract views, the fast set and the requested selection."""

    contracts: Contracts
    registry: Registry
    topology: Topology
    profiles: RunProfiles
    budgets: dict[str, int]
    classifier: Classifier
    fast_ids: tuple[str, ...]
    selection: Selection
    explicit: bool
    """True when --gate, --profile or --domain chose the gates (the ring is then the selection's)."""

    def engine(self) -> Engine:
        """Return an engine for this plan's contracts."""
        return Engine(self.contracts, self.registry, self.classifier, self.budgets)


@dataclass
class SuiteState:
    """Per-run plugin state, kept in `config.stash[STATE]`."""

    run_key: str
    is_worker: bool
    env_name: str
    started: float = field(default_factory=time.time)
    plan: GatePlan | None = None
    plan_error: str | None = None
    """Why the gates cannot be planned (shown as one failing gate test when nothing asked for gates)."""
    selected: dict[str, list[str]] | None = None
    """Ids per kind left after -m/-k deselection (None until collection finished)."""
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    probe_rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    recovery_rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    durations: dict[str, float] = field(default_factory=dict)
    receipt_path: Path | None = None
    receipt: dict[str, Any] | None = None
    links: report.LinkPatterns = field(default_factory=lambda: report.LinkPatterns(report.default_runbook_url()))
    waivers: WaiverBook | None = None
    """The gaps of the contract set, judged on today's UTC date (None when no plan)."""
    test_starts: dict[str, float] = field(default_factory=dict)
    """When each test started (controller side; dates the result of a test whose worker crashed)."""
    node_refs: dict[str, ItemRef] = field(default_factory=dict)
    """Node id -> mark of the items the xdist workers collected (sent in their workeroutput)."""
    unresolved: list[pytest.TestReport] = field(default_factory=list)
    """Controller-made reports (a crashed worker's test) waiting for the workers' node id map."""

    @property
    def selected_ids(self) -> list[str] | None:
        """Return the selected gate ids (None until collection finished)."""
        return None if self.selected is None else self.selected["gate"]

    @property
    def selected_probes(self) -> list[str]:
        """Return the selected probe ids."""
        return [] if self.selected is None else self.selected["probe"]

    def select(self, refs: list[ItemRef]) -> None:
        """Record the collected items' marks as the run's selection."""
        self.selected = {kind: [i for k, i in refs if k == kind] for kind in KINDS}


STATE = pytest.StashKey[SuiteState]()


def contracts_of(config: pytest.Config) -> Contracts | None:
    """Return the run's contract set, or None when the gates could not be planned."""
    plan = config.stash[STATE].plan
    return plan.contracts if plan is not None else None


def item_mark(kind: str, item_id: str) -> pytest.MarkDecorator:
    """Return the marker that the plugin's parametrization puts on each gate, probe and recovery param."""
    return pytest.mark.infracore_item(kind, item_id)


def mark_item(item: pytest.Item) -> ItemRef | None:
    """Stash the mark of a gate, probe or recovery item (`item.stash[ITEM]`) from its `infracore_item`
    marker, which only the plugin's own parametrization sets; return it (None for any other test)."""
    marker = item.get_closest_marker("infracore_item")
    if marker is None:
        return None
    ref = (str(marker.args[0]), str(marker.args[1]))
    item.stash[ITEM] = ref
    return ref


def item_ref(item: pytest.Item) -> ItemRef | None:
    """Return the item's mark, or None for any other test."""
    return item.stash.get(ITEM, None)


def report_ref(report: pytest.TestReport) -> ItemRef | None:
    """Return the mark a report carries (set from the item by the recorder's makereport hook)."""
    for name, value in report.user_properties:
        if name == ITEM_PROPERTY:
            kind, item_id = json.loads(str(value))
            return str(kind), str(item_id)
    return None


# -- option readers -------------------------------------------------------------------------------------


def contracts_path(config: pytest.Config) -> Path:
    """Return the contract set: --contracts, INFRACORE_CONTRACTS, the ini value, else the embedded default."""
    option = config.getoption("contracts")
    if option:
        return Path(option)
    if os.environ.get("INFRACORE_CONTRACTS"):
        return Path(os.environ["INFRACORE_CONTRACTS"])
    ini = str(config.getini("infracore_contracts"))
    if ini:
        return config.rootpath / ini
    return BUNDLED_CONTRACTS


def env_name(config: pytest.Config) -> str:
    """Return the target environment's name (default sandbox)."""
    return str(
        config.getoption("env") or os.environ.get("INFRACORE_ENV") or config.getini("infracore_env") or "sandbox"
    )


def base_dir(config: pytest.Config) -> Path:
    """Return where relative output paths start: the rootdir, or the invocation directory when the rootdir
    is inside the installed package (the embedded test layer run from anywhere)."""
    root = config.rootpath
    if root == PACKAGE_DIR or PACKAGE_DIR in root.parents:
        return config.invocation_params.dir
    return root


OPS_REPORTS_DIR = Path("receipts") / "infracore-verify"
"""The default reports directory inside an ops repository: below receipts/, a top-level folder D1 allows."""


def reports_dir(config: pytest.Config) -> Path:
    """Return the reports directory (--reports-dir, ini, default `reports` below the rootdir).

    When the default would land inside the ops repository the contracts come from, it is that repository's
    `receipts/infracore-verify/` instead: a new top-level `reports/` would fail the repository's D1.
    """
    value = config.getoption("reports_dir") or str(config.getini("infracore_reports_dir")) or "reports"
    path = Path(value)
    resolved = path if path.is_absolute() else base_dir(config) / path
    state = config.stash.get(STATE, None)
    plan = state.plan if state is not None else None
    if plan is not None and plan.contracts.layout == "ops" and not config.getoption("reports_dir"):
        root = plan.contracts.root.resolve()
        if resolved.resolve().is_relative_to(root):
            return root / OPS_REPORTS_DIR
    return resolved


def output_dir_problem(path: Path) -> str:
    """Return why the run cannot write into the directory `path` (empty when it can).

    Nothing is created: a missing directory is judged by its nearest existing ancestor, which must be a
    directory the run can create files in (tried with a temporary file, so root and read-only mounts count).
    """
    existing = path
    try:
        while not existing.exists():
            if existing.is_symlink():
                return f"{existing} is a symbolic link to nothing"
            if existing.parent == existing:
                break
            existing = existing.parent
        if not existing.is_dir():
            return f"{existing} is a file, not a directory" + ("" if existing == path else f" (a parent of {path})")
        fd, probe = tempfile.mkstemp(prefix=".infracore-write-check-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return f"{existing} is not writable ({exc.strerror or exc})"
    return ""


def check_reports_dir(config: pytest.Config) -> None:
    """Refuse, as a usage error, a reports directory the run could not write its receipt into."""
    path = reports_dir(config)
    problem = output_dir_problem(path / "receipts")
    if not problem:
        return
    if config.getoption("reports_dir"):
        source = f"--reports-dir {config.getoption('reports_dir')}"
    elif str(config.getini("infracore_reports_dir")) not in ("", "reports"):
        source = f"infracore_reports_dir = {config.getini('infracore_reports_dir')} ({config.inipath})"
    else:
        source = f"the default reports directory {path}"
    raise pytest.UsageError(
        f"{source}: {problem}; receipts go to {path}/receipts. Give a directory this run can write to with "
        "--reports-dir DIR (or infracore_reports_dir in the ini file), or fix the directory's permissions"
    )


def requested_ids(config: pytest.Config) -> list[str]:
    """Return the --gate ids (comma lists split, `d320` upper-cased, duplicates dropped)."""
    ids: list[str] = []
    for value in config.getoption("gate") or []:
        for part in str(value).split(","):
            part = part.strip()
            if part:
                ids.append(part.upper() if re.fullmatch(r"[dD]\d+", part) else part)
    return list(dict.fromkeys(ids))


def explicitly_asked(config: pytest.Config) -> bool:
    """Return True when an option asked for gates (then a planning error is a usage error)."""
    return bool(
        config.getoption("gate")
        or config.getoption("profile")
        or config.getoption("domain")
        or config.getoption("contracts")
    )


def link_patterns(config: pytest.Config) -> report.LinkPatterns:
    """Return the runbook and gap link patterns from the ini, refusing patterns that do not format."""
    runbook = str(config.getini("infracore_runbook_url")) or report.default_runbook_url()
    gap = str(config.getini("infracore_gap_url")) or report.DEFAULT_GAP_URL
    for name, pattern, example in (
        ("infracore_runbook_url", runbook, report.default_runbook_url()),
        ("infracore_gap_url", gap, report.DEFAULT_GAP_URL),
    ):
        problem = report.LinkPatterns.problem(pattern)
        if problem:
            raise pytest.UsageError(f"{name} = {pattern!r}: {problem}, e.g. {example}")
    return report.LinkPatterns(runbook, gap)
