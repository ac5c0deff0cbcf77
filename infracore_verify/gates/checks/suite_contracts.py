"""The suite's own contract findings: D908 repeated keys, D910 the style of operational.gaps.yaml.

An ops repository's files are read as its yq reads them (a repeated key is its last value; the gaps file
as its D332 accepts it), so the ported gates give the ops verdicts; these gates list what the suite would
like tighter, each with a fix.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from infracore_verify.contracts.findings import Finding, did_you_mean, yaml_path
from infracore_verify.contracts.loader import Document
from infracore_verify.contracts.model import as_list
from infracore_verify.gates.checks.base import ContractView, native_gate

SPEC_GAP_TYPES = ("stale-ssot", "missing-entry", "agent-behavior", "unclear-doc", "duplicate-truth", "runtime-bug")
"""The gap types the specification (and the ops repository's gap.schema.yaml) lists."""
GAP_ID = re.compile(r"GAP-OP-[0-9]+")
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _repeats(doc: Document) -> Iterator[Finding]:
    for parts, occurrences in sorted(doc.repeats.items(), key=lambda item: item[1][0][2] if item[1] else 0):
        lines: dict[Any, list[int]] = {}
        for key, _, line in occurrences:
            lines.setdefault(key, []).append(line)
        for key, at in lines.items():
            if len(at) < 2:
                continue
            shown = ", ".join(str(n) for n in at)
            yield Finding(
                doc.display,
                at[1],
                yaml_path((*parts, str(key) if not isinstance(key, int) else key)),
                f"key '{key}' is defined {len(at)} times (lines {shown}); yq, the ops gates and the suite read "
                f"only the last (line {at[-1]}), the others are silently ignored",
                "merge the entries into one and delete the rest",
            )


@native_gate("D908", reads=())
def check_repeated_keys(c: ContractView) -> Iterator[Finding]:
    """Checks that no contract defines a mapping key twice (an ops repository's files load with the last value)."""
    # Declares no reads on purpose: a contract that does not load is D900's finding, and must not fail this
    # gate too; every file that parsed is searched (in the suite's own layout a repeated key fails the load).
    for doc in c.contracts.documents():
        yield from _repeats(doc)


@native_gate("D910", reads=("gaps",))
def check_gap_style(c: ContractView) -> Iterator[Finding]:
    """Checks the gaps file's style: GAP-OP-<n> ids, the specification's gap types, a discovered_at date."""
    doc = c["gaps"]
    for i, gap in enumerate(as_list(doc.data.get("gaps") if isinstance(doc.data, dict) else None)):
        if not isinstance(gap, dict):
            continue
        gap_id = str(gap.get("id", ""))
        where = ("gaps", i)
        if not GAP_ID.fullmatch(gap_id):
            yield doc.finding(
                (*where, "id"),
                f"gap id '{gap_id}' is not of the form GAP-OP-<n>",
                "file it as the next GAP-OP-<n> (keep the old id in notes); the ops tools accept it as it is",
            )
        kind = gap.get("type")
        if kind not in SPEC_GAP_TYPES:
            yield doc.finding(
                (*where, "type"),
                f"gap '{gap_id}' has type {kind!r}, which the specification does not list{did_you_mean(str(kind), SPEC_GAP_TYPES)}",
                f"use one of: {', '.join(SPEC_GAP_TYPES)}; or add it to the type values of "
                "ops/bindings/gap.schema.yaml and the specification",
            )
        found = gap.get("discovered_at")
        if found in (None, ""):
            hint = f" (created_at says {gap['created_at']})" if gap.get("created_at") else ""
            yield doc.finding(where, f"gap '{gap_id}' has no discovered_at", f"add discovered_at: YYYY-MM-DD{hint}")
        elif not DATE.match(str(found)):
            yield doc.finding(
                (*where, "discovered_at"),
                f"gap '{gap_id}' has discovered_at {found!r}, which is not a date",
                "write the date as YYYY-MM-DD",
            )
