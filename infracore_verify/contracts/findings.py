"""Findings: the one shape every check, loader and gate uses to report a problem."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

SENSITIVE_KEY = re.compile(r"(token|secret|password|passwd|api_?key|private_?key)$", re.IGNORECASE)
"""Mapping keys whose values may be credentials: never echoed in a message, never literal in a contract."""


@dataclass(frozen=True, order=True)
class Finding:
    """One problem: where it is (file, line, YAML path), what is wrong and how to fix it."""

    file: str
    line: int
    path: str
    message: str
    fix: str = ""
    gate_id: str = ""
    severity: str = "error"

    def render(self) -> str:
        """Return the finding as `file:line $.path: what is wrong; how to fix it`."""
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where} {self.path}: {self.message}" if self.path else f"{where}: {self.message}"
        return f"{text}; {self.fix}" if self.fix else text


def render_all(findings: Iterable[Finding]) -> str:
    """Render findings sorted by file and line, one per line."""
    return "\n".join(f.render() for f in sorted(findings, key=lambda f: (f.file, f.line, f.path, f.message)))


def yaml_path(parts: Iterable[str | int]) -> str:
    """Return a JSONPath-like string such as `$.actions[3].trigger` for a sequence of keys and indexes."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part and all(c.isalnum() or c in "_-" for c in part):
            out += f".{part}"
        else:
            out += f"[{part!r}]"
    return out


def did_you_mean(word: object, choices: Iterable[object]) -> str:
    """Return ` (did you mean 'x'?)` for the closest choice, or an empty string."""
    match = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""
