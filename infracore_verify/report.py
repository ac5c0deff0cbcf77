"""Every call to Allure goes through this module: labels as marks, and attachments at run time."""

from __future__ import annotations

from typing import Any

import allure
import pytest

from infracore_verify.model import Gate
from infracore_verify.probes import Probe

SEVERITY = {"critical": "blocker", "high": "critical", "medium": "normal", "low": "minor", "none": "trivial"}
"""Registry severity -> Allure severity."""


def _label(label_type: str, *values: str) -> pytest.MarkDecorator:
    return pytest.mark.allure_label(*values, label_type=label_type)


def gate_marks(gate: Gate, domains: list[str], in_fast: bool) -> list[pytest.MarkDecorator]:
    """Return the Allure label marks of a gate, all derived from the registry and topology."""
    marks = [
        _label("epic", domains[0] if domains else "unassigned"),
        _label("feature", gate.category or "uncategorised"),
        _label("story", f"{gate.id} {gate.name}"),
        _label("severity", SEVERITY.get(gate.severity, "normal")),
        _label("gate_id", gate.id),
        _label("gate_name", gate.name),
        _label("tag", f"class:{gate.gate_class}", f"ring:{gate.ring}", *(["profile:fast"] if in_fast else [])),
        pytest.mark.allure_description(gate_description(gate)),
    ]
    if domains:
        marks.append(_label("domain", *domains))
    return marks


def probe_marks(probe: Probe) -> list[pytest.MarkDecorator]:
    """Return the Allure label marks of a smoke probe: epic smoke, feature = system, story = probe id."""
    return [
        _label("epic", "smoke"),
        _label("feature", probe.system),
        _label("story", probe.id),
        _label("severity", "normal"),
        _label("tag", f"system:{probe.system}", "smoke"),
        pytest.mark.allure_description(probe.description or probe.id),
    ]


def recovery_marks(action_id: str, action_type: str) -> list[pytest.MarkDecorator]:
    """Return the Allure label marks of a recovery action: epic recovery, feature = type, story = action id."""
    return [
        _label("epic", "recovery"),
        _label("feature", action_type),
        _label("story", action_id),
        _label("severity", "critical"),
        _label("tag", "recovery", f"type:{action_type}"),
    ]


def gate_description(gate: Gate) -> str:
    """Return the report description of a gate: what it checks, then how to fix a failure."""
    text = gate.description or gate.name
    return f"{text}\n\nFix hint: {gate.fix_hint}" if gate.fix_hint else text


def title(text: str) -> None:
    """Set the displayed title of the running test."""
    allure.dynamic.title(text)  # type: ignore[no-untyped-call]


def attach_text(name: str, body: str, *, extension: str = "txt") -> None:
    """Attach a text body to the running test's result."""
    kinds = {"txt": allure.attachment_type.TEXT, "csv": allure.attachment_type.CSV, "json": allure.attachment_type.JSON}
    kind: Any = kinds[extension]
    allure.attach(body, name=name, attachment_type=kind)


def label(name: str, value: str) -> None:
    """Add a label to the running test's result."""
    allure.dynamic.label(name, value)  # type: ignore[no-untyped-call]
