"""Every call to Allure goes through this module: labels and links as marks, run-time attachments, result files.

Label scheme (all derived from the registry, the topology and the baseline contract):

    gates     epic = primary domain (first topology domain of the gate; `unassigned` without one)
              feature = first of the gate's `systems`, else its category
              story = "<id> <name>"; severity = registry severity mapped by SEVERITY
              tags class:<gate_class>, ring:<ring>, profile:fast (fast gates only)
              labels gate_id, gate_name, domain (every domain of the gate)
    probes    epic = infra (the domain of the baseline systems); feature = system; story = probe id
              tags smoke, system:<system>; label probe_id
    recovery  epic = recovery; feature = action type; story = action id

Links: `runbook` (`infracore_runbook_url` with `{id}` = gate id, probe id or recovery action id) and, for
gates, `issue` links to every gap that names the gate (`infracore_gap_url` with `{id}` = gap id).

Waivers add labels at run time: `waiver` (`applied: GAP-...`, `expired: ...`, `closable: ...`), `owner`,
`review_by`, tag `waived` or `gap-may-be-closable`, and `failure_class=waiver_expired` for an expired one.

Categories (categories.json, first match wins and the regexes are mutually exclusive): Waiver expired,
Worker crashed, Auth failure, Rate limited, Unreachable, Gate bug, Freshness, Contract drift, Waived. They match
the markers the messages already carry: `waiver expired: `, `worker crashed`, and the class suffixes
`[deterministic]` (gate headlines) or `[class rate_limited]` (probe messages).

Result files written next to allure-pytest's (never deleting anything): environment.properties,
executor.json, categories.json, and a `broken` result for a test whose xdist worker crashed.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import socket
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import allure
import pytest
from allure_commons.utils import md5, platform_label, represent

from infracore_verify.contracts.findings import Finding
from infracore_verify.contracts.model import Gate
from infracore_verify.contracts.sets import SUITE_ROOT
from infracore_verify.redact import REDACTOR
from infracore_verify.reporting.waivers import Gap
from infracore_verify.smoke.registry import Probe

SEVERITY = {"critical": "blocker", "high": "critical", "medium": "normal", "low": "minor", "none": "trivial"}
"""Registry severity -> Allure severity."""
PROBE_EPIC = "infra"
"""Epic of smoke probes: the topology domain the four baseline systems belong to."""
RUNBOOK_LINK = "runbook"
GAP_LINK = "issue"
"""Link type of gap links (Allure shows `issue` links with the issue icon)."""
DEFAULT_GAP_URL = "https://tracker.invalid/gaps/{id}"
"""Placeholder gap tracker (`.invalid` never resolves); set `infracore_gap_url` to the real one."""
CLOSABLE_TAG = "gap-may-be-closable"

LabelList = list[tuple[str, str]]


def default_runbook_url() -> str:
    """Return the default runbook pattern: the checkout's docs/runbook.md as a file URI plus `#{id}`."""
    return (SUITE_ROOT / "docs" / "runbook.md").as_uri() + "#{id}"


@dataclass(frozen=True)
class LinkPatterns:
    """URL patterns for report links; `{id}` is replaced by a gate, probe, action or gap id."""

    runbook: str
    gap: str = DEFAULT_GAP_URL

    @staticmethod
    def problem(pattern: str) -> str | None:
        """Return why a URL pattern is unusable, or None."""
        if "{id}" not in pattern:
            return "the pattern needs an {id} placeholder"
        try:
            pattern.format(id="X")
        except (KeyError, IndexError, ValueError) as exc:
            return f"the pattern does not format: {type(exc).__name__}: {exc}; only {{id}} may appear in braces"
        return None

    def runbook_url(self, item_id: str) -> str:
        """Return the runbook link of a gate, probe or recovery action (its anchor is the id)."""
        return self.runbook.format(id=item_id)

    def gap_url(self, gap_id: str) -> str:
        """Return the tracker link of a gap."""
        return self.gap.format(id=gap_id)


@dataclass(frozen=True)
class ReportMeta:
    """Everything the report knows about a test before it runs: labels, links and description."""

    labels: LabelList
    links: list[tuple[str, str, str]] = field(default_factory=list)
    """(link type, url, name)."""
    description: str = ""
    title: str = ""

    def marks(self) -> list[pytest.MarkDecorator]:
        """Return the allure-pytest marks carrying this metadata (one label mark per label type)."""
        grouped: dict[str, list[str]] = {}
        for name, value in self.labels:
            grouped.setdefault(name, []).append(value)
        marks = [pytest.mark.allure_label(*values, label_type=name) for name, values in grouped.items()]
        marks += [pytest.mark.allure_link(url, link_type=kind, name=name) for kind, url, name in self.links]
        if self.description:
            marks.append(pytest.mark.allure_description(self.description))
        return marks


def gate_meta(
    gate: Gate, domains: Sequence[str], in_fast: bool, links: LinkPatterns, gaps: Iterable[Gap] = ()
) -> ReportMeta:
    """Return the report metadata of a gate, all derived from the registry, topology and gaps."""
    labels: LabelList = [
        ("epic", domains[0] if domains else "unassigned"),
        ("feature", gate.systems[0] if gate.systems else gate.category or "uncategorised"),
        ("story", f"{gate.id} {gate.name}"),
        ("severity", SEVERITY.get(gate.severity, "normal")),
        ("gate_id", gate.id),
        ("gate_name", gate.name),
        ("tag", f"class:{gate.gate_class}"),
        ("tag", f"ring:{gate.ring}"),
    ]
    if in_fast:
        labels.append(("tag", "profile:fast"))
    labels += [("domain", d) for d in domains]
    gate_links = [(RUNBOOK_LINK, links.runbook_url(gate.id), f"runbook: {gate.id}")]
    gate_links += [(GAP_LINK, links.gap_url(g.id), f"{g.id} ({g.status})") for g in gaps]
    return ReportMeta(labels, gate_links, gate_description(gate), f"{gate.id} {gate.name}")


def gate_marks(
    gate: Gate, domains: Sequence[str], in_fast: bool, links: LinkPatterns, gaps: Iterable[Gap] = ()
) -> list[pytest.MarkDecorator]:
    """Return the Allure marks of a gate (see `gate_meta`)."""
    return gate_meta(gate, domains, in_fast, links, gaps).marks()


def probe_meta(probe: Probe, links: LinkPatterns | None = None) -> ReportMeta:
    """Return the report metadata of a smoke probe: epic infra, feature = system, story = probe id."""
    labels: LabelList = [
        ("epic", PROBE_EPIC),
        ("feature", probe.system),
        ("story", probe.id),
        ("severity", "normal"),
        ("probe_id", probe.id),
        ("tag", "smoke"),
        ("tag", f"system:{probe.system}"),
    ]
    patterns = links or LinkPatterns(default_runbook_url())
    probe_links = [(RUNBOOK_LINK, patterns.runbook_url(probe.id), f"runbook: {probe.id}")]
    return ReportMeta(labels, probe_links, probe.description or probe.id, probe.id)


def probe_marks(probe: Probe, links: LinkPatterns | None = None) -> list[pytest.MarkDecorator]:
    """Return the Allure marks of a smoke probe (see `probe_meta`)."""
    return probe_meta(probe, links).marks()


def recovery_meta(action_id: str, action_type: str, links: LinkPatterns | None = None) -> ReportMeta:
    """Return the report metadata of a recovery action: epic recovery, feature = type, story = action id."""
    labels: LabelList = [
        ("epic", "recovery"),
        ("feature", action_type),
        ("story", action_id),
        ("severity", "critical"),
        ("recovery_id", action_id),
        ("tag", "recovery"),
        ("tag", f"type:{action_type}"),
    ]
    patterns = links or LinkPatterns(default_runbook_url())
    return ReportMeta(labels, [(RUNBOOK_LINK, patterns.runbook_url(action_id), f"runbook: {action_id}")])


def recovery_marks(action_id: str, action_type: str, links: LinkPatterns | None = None) -> list[pytest.MarkDecorator]:
    """Return the Allure marks of a recovery action (see `recovery_meta`)."""
    return recovery_meta(action_id, action_type, links).marks()


def gate_description(gate: Gate) -> str:
    """Return the report description of a gate: what it checks, then how to fix a failure."""
    text = gate.description or gate.name
    return f"{text}\n\nFix hint: {gate.fix_hint}" if gate.fix_hint else text


# --- run time ------------------------------------------------------------------------------------------


def title(text: str) -> None:
    """Set the displayed title of the running test."""
    allure.dynamic.title(REDACTOR.mask(text))  # type: ignore[no-untyped-call]


def attach_text(name: str, body: str, *, extension: str = "txt") -> None:
    """Attach a text body to the running test's result."""
    kinds = {"txt": allure.attachment_type.TEXT, "csv": allure.attachment_type.CSV, "json": allure.attachment_type.JSON}
    kind: Any = kinds[extension]
    # Masked here, the one gateway to Allure: the file is written at once, before any final scrub.
    allure.attach(REDACTOR.mask(body), name=REDACTOR.mask(name), attachment_type=kind)


def attach_findings(findings: Iterable[Finding], name: str = "findings") -> None:
    """Attach findings as a CSV table (gate, file, line, path, message, fix), sorted by file and line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["gate", "file", "line", "path", "message", "fix"])
    for f in sorted(findings, key=lambda f: (f.file, f.line, f.path, f.message)):
        writer.writerow([f.gate_id, f.file, f.line, f.path, f.message, f.fix])
    attach_text(name, out.getvalue(), extension="csv")


def label(name: str, value: str) -> None:
    """Add a label to the running test's result."""
    allure.dynamic.label(name, REDACTOR.mask(value))  # type: ignore[no-untyped-call]


def tag(*values: str) -> None:
    """Add tags to the running test's result."""
    allure.dynamic.tag(*values)  # type: ignore[no-untyped-call]


def waiver_labels(status: str, gap_id: str, owner: str, review_by: str) -> None:
    """Label the running gate with the waiver that touched it (applied, expired or closable)."""
    label("waiver", f"{status}: {gap_id}")
    if owner:
        label("owner", owner)
    if review_by:
        label("review_by", review_by)
    if status == "expired":
        label("failure_class", "waiver_expired")
    elif status == "closable":
        tag(CLOSABLE_TAG)
    elif status == "applied":
        tag("waived")


# --- categories ----------------------------------------------------------------------------------------

_ANY = r"[\s\S]*"


def _literal(text: str) -> str:
    # Escape only regex metacharacters: re.escape also escapes spaces and dashes, which JavaScript's unicode
    # mode rejects; this keeps the regexes valid in Java, JavaScript and Python alike.
    return re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\1", text)


def _class_marker(*classes: str) -> str:
    # Gate headlines end in `[deterministic]`, probe messages in `[class rate_limited]`.
    return r"\[(?:class )?(?:" + "|".join(_literal(c) for c in classes) + r")\]"


@dataclass(frozen=True)
class Category:
    """One Allure category: the statuses it takes and the marker its message must carry."""

    name: str
    description: str
    statuses: tuple[str, ...]
    marker: str
    """Regex fragment the message contains."""


CATEGORIES = (
    Category(
        "Waiver expired",
        "A gate failed and the open gap that waived it is past its review_by date",
        ("failed",),
        _literal("waiver expired: "),
    ),
    Category("Worker crashed", "The xdist worker running the test died", ("broken",), _literal("worker crashed")),
    Category(
        "Auth failure",
        "Credentials rejected or missing: token_invalid, http_401, http_403, no_token, setup_error",
        ("failed", "broken"),
        _class_marker("token_invalid", "http_401", "http_403", "no_token", "setup_error"),
    ),
    Category(
        "Rate limited",
        "The API answered 429 until the retries ran out",
        ("failed", "broken"),
        _class_marker("rate_limited"),
    ),
    Category(
        "Unreachable",
        "No answer: connection refused or reset, DNS failure, timeout",
        ("failed", "broken"),
        _class_marker("network_error", "timeout"),
    ),
    Category(
        "Gate bug",
        "The gate's own implementation is missing or broken",
        ("failed", "broken"),
        _class_marker("gate_bug"),
    ),
    Category(
        "Freshness", "A freshness gate failed (advisory during the hold)", ("failed",), _class_marker("freshness")
    ),
    Category(
        "Contract drift",
        "A deterministic gate failed, or live data drifts from a schema, the inventory or an expected state",
        ("failed",),
        _class_marker("deterministic", "schema_drift", "inventory_drift", "status_drift"),
    ),
    Category(
        "Waived",
        "An expected failure: an open gap waives the gate until review_by",
        ("skipped",),
        _literal("XFAIL waived by "),
    ),
)
"""In match order; each regex excludes the markers of the categories before it, so exactly one matches."""


def category_regex(index: int) -> str:
    """Return the message regex of CATEGORIES[index]: its marker, and none of the earlier ones (same statuses)."""
    category = CATEGORIES[index]
    earlier = [c.marker for c in CATEGORIES[:index] if set(c.statuses) & set(category.statuses)]
    guard = f"(?!{_ANY}(?:{'|'.join(earlier)}))" if earlier else ""
    # Anchored and [\s\S] instead of a DOTALL flag: the same regex full-matches in Java (Allure 2), searches in
    # JavaScript (Allure 3) and in Python.
    return f"^{guard}{_ANY}(?:{category.marker}){_ANY}$"


def categories() -> list[dict[str, Any]]:
    """Return categories.json: one entry per category, in match order."""
    return [
        {
            "name": c.name,
            "description": c.description,
            "matchedStatuses": list(c.statuses),
            "messageRegex": category_regex(i),
        }
        for i, c in enumerate(CATEGORIES)
    ]


# --- result folder files -------------------------------------------------------------------------------


def _write_atomically(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(body, encoding="utf-8")
    os.replace(tmp, path)


def _property(value: str) -> str:
    # Java .properties escaping for values: backslash first, then line breaks.
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def write_run_files(alluredir: Path, environment: Mapping[str, str], executor: Mapping[str, Any]) -> list[Path]:
    """Write environment.properties, executor.json and categories.json into the results folder (replacing only them)."""
    files = {
        "environment.properties": "".join(f"{key}={_property(value)}\n" for key, value in environment.items()),
        "executor.json": json.dumps(dict(executor), indent=2) + "\n",
        "categories.json": json.dumps(categories(), indent=2) + "\n",
    }
    written = []
    for name, body in files.items():
        _write_atomically(alluredir / name, body)
        written.append(alluredir / name)
    return written


def _full_name(nodeid: str) -> tuple[str, str, str]:
    """Return (fullName, parent suite, suite) the way allure-pytest derives them from a node id."""
    path, *rest = nodeid.split("::")
    function = rest[-1].split("[", 1)[0] if rest else path
    classes = rest[:-1]
    parts = path.split("/")
    module = parts[-1].rsplit(".", 1)[0]
    parent = ".".join(parts[:-1])
    package = ".".join(p for p in (parent, module) if p)
    class_part = ("." + ".".join(classes)) if classes else ""
    return f"{package}{class_part}#{function}", parent, module


def write_broken_result(
    alluredir: Path,
    nodeid: str,
    meta: ReportMeta | None,
    message: str,
    *,
    start_ms: int,
    stop_ms: int,
    parameter: tuple[str, Any] | None = None,
) -> Path:
    """Write a `broken` result for a test that left none (its xdist worker died), and return its path."""
    full_name, parent, module = _full_name(nodeid)
    meta = meta or ReportMeta([])
    labels = [{"name": name, "value": value} for name, value in meta.labels]
    suites = [("parentSuite", parent), ("suite", module)] if parent else [("suite", module)]
    labels += [{"name": name, "value": value} for name, value in suites]
    labels += [
        {"name": "host", "value": socket.gethostname()},
        {"name": "framework", "value": "pytest"},
        {"name": "language", "value": str(platform_label())},  # type: ignore[no-untyped-call]
        {"name": "package", "value": full_name.split("#", 1)[0]},
    ]
    history: list[Any] = [full_name]
    parameters = []
    if parameter is not None:
        # The same history id allure-pytest computes for the parametrized test, so trends line up.
        parameters.append({"name": parameter[0], "value": represent(parameter[1])})  # type: ignore[no-untyped-call]
        history.append(parameter[1])
    elif "[" in nodeid:
        history.append(nodeid)
    result_uuid = str(uuid.uuid4())
    result: dict[str, Any] = {
        "uuid": result_uuid,
        "name": meta.title or nodeid.rsplit("::", 1)[-1],
        "fullName": full_name,
        "historyId": md5(*history),  # type: ignore[no-untyped-call]
        "testCaseId": md5(full_name),  # type: ignore[no-untyped-call]
        "status": "broken",
        "stage": "finished",
        "statusDetails": {"message": REDACTOR.mask(message), "trace": REDACTOR.mask(message)},
        "start": start_ms,
        "stop": stop_ms,
        "labels": labels,
        "links": [{"type": kind, "url": url, "name": name} for kind, url, name in meta.links],
        "parameters": parameters,
        "titlePath": [p for p in nodeid.split("::", 1)[0].split("/") if p],
    }
    if meta.description:
        result["description"] = meta.description
    path = alluredir / f"{result_uuid}-result.json"
    _write_atomically(path, json.dumps(result, ensure_ascii=False))
    return path
