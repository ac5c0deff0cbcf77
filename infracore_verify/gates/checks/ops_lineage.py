"""Ported ops gates on intake lineage: D338 lineage completeness, D339 generated-only projections, D340 orphans.

They follow the ops repository's python3 snippets (PyYAML, `x or {}`, `str(...).strip()`), reading the
files through the suite's loader in ops mode, so dates stay dates and a repeated key is its last value.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from infracore_verify.contracts.findings import Finding
from infracore_verify.contracts.loader import Document
from infracore_verify.gates.checks.base import ContractView, native_gate
from infracore_verify.gates.checks.ops_common import MISSING, OpsRepo, flag, get, py_str, repo

LIFECYCLE = "ops/bindings/intake.lifecycle.contract.yaml"
MASTER = "ops/bindings/master.inventory.registry.yaml"
PROJECTION = "ops/bindings/domain.projection.contract.yaml"
TOPOLOGY = "ops/bindings/gate.execution.topology.yaml"
CHAIN = ["intake", "master_registry", "domain_projection"]
ENVELOPE = "ops/bindings/intake.envelope.schema.yaml"


def _mappings(r: OpsRepo, rels: tuple[str, ...], missing: str) -> tuple[dict[str, Document], list[Finding]]:
    """Load the files as mappings (`safe_load or {}`); return (docs, the first problem)."""
    docs: dict[str, Document] = {}
    for rel in rels:
        if not r.path(rel).is_file():
            return docs, [r.file_finding(rel, missing.format(path=r.path(rel), rel=rel), f"restore {rel}")]
    for rel in rels:
        doc = r.load(rel, reuse=rel == TOPOLOGY)
        if doc.errors:
            return docs, [
                Finding(e.file, e.line, e.path, f"{r.path(rel)}: invalid YAML ({e.message})", e.fix) for e in doc.errors
            ]
        if doc.data is not None and not isinstance(doc.data, dict):
            return docs, [
                doc.finding((), f"{r.path(rel)}: YAML root must be a mapping", "make the top level a mapping")
            ]
        docs[rel] = doc
    return docs, []


def _data(doc: Document) -> dict[Any, Any]:
    return doc.data if isinstance(doc.data, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _exists(root: Path, rel: str) -> bool:
    """Return True when a repository path exists (an absolute path is taken as it is, as `root / abs` does)."""
    return bool(rel) and (root / rel).exists()


@native_gate("D338", reads=())
def check_intake_lineage(c: ContractView) -> Iterator[Finding]:
    """Checks the intake -> master registry -> domain projection lineage for completeness (ops D338)."""
    r = repo(c)
    docs, problems = _mappings(r, (LIFECYCLE, MASTER, PROJECTION, TOPOLOGY), "missing required file: {path}")
    if problems:
        yield from problems
        return
    life, master, proj, topo = (_data(docs[k]) for k in (LIFECYCLE, MASTER, PROJECTION, TOPOLOGY))
    ld, md, pd = docs[LIFECYCLE], docs[MASTER], docs[PROJECTION]
    order = get(life, "chain", "required_order")
    if order != CHAIN:
        yield ld.finding(
            ("chain", "required_order"),
            f"chain.required_order must be {CHAIN} (got: {None if order is MISSING else order})",
            f"set it to {CHAIN}",
        )
    coverage = set(_list(get(life, "domain_coverage", "applies_to_domain_ids")))
    topology_ids = {py_str(get(d, "domain_id")) for d in _list(topo.get("domain_metadata")) if isinstance(d, dict)} - {
        ""
    }
    if topology_ids - coverage:
        yield ld.finding(
            ("domain_coverage",),
            f"domain coverage missing topology domains: {sorted(topology_ids - coverage)}",
            "add them to applies_to_domain_ids",
        )
    if coverage - topology_ids:
        yield ld.finding(
            ("domain_coverage",),
            f"domain coverage has unknown domains: {sorted(map(str, coverage - topology_ids))}",
            "remove them or define them in the topology",
        )
    rows = _list(master.get("rows"))
    if not rows:
        yield md.finding(("rows",), "master registry rows[] is empty", "add the master rows")
    projections: dict[str, dict[Any, Any]] = {}
    for i, entry in enumerate(_list(proj.get("projections"))):
        if not isinstance(entry, dict):
            continue
        pid = py_str(get(entry, "id"))
        if not pid:
            yield pd.finding(("projections", i), "projection entry missing id", "give the projection an id")
        elif pid in projections:
            yield pd.finding(("projections", i), f"duplicate projection id: {pid}", "remove the duplicate")
        else:
            projections[pid] = entry
    row_ids: list[str] = []
    for i, row in enumerate(rows):
        yield from _row_findings(r, md, i, row, row_ids, coverage, projections)
    for pid, entry in projections.items():
        yield from _projection_findings(r, pd, pid, entry, set(row_ids))


def _row_findings(
    r: OpsRepo,
    md: Document,
    i: int,
    row: Any,
    row_ids: list[str],
    coverage: set[Any],
    projections: dict[str, dict[Any, Any]],
) -> Iterator[Finding]:
    """Yield D338's findings for one master row (and record its id)."""
    where = ("rows", i)
    rid = py_str(get(row, "id")) if isinstance(row, dict) else ""
    if not rid:
        yield md.finding(where, "row entry must be a mapping with an id", "give the row an id")
        return
    if rid in row_ids:
        yield md.finding(where, f"duplicate master row id: {rid}", "remove the duplicate")
        return
    row_ids.append(rid)
    domain = py_str(get(row, "domain_id"))
    if not domain:
        yield md.finding(where, f"{rid}: missing domain_id", "set domain_id")
    elif domain not in coverage:
        yield md.finding(
            where, f"{rid}: domain_id '{domain}' not in domain_coverage.applies_to_domain_ids", "use a covered domain"
        )
    authority = py_str(get(row, "authority", "path"))
    if not authority:
        yield md.finding(where, f"{rid}: missing authority.path", "set authority.path")
    elif not _exists(r.root, authority):
        yield md.finding(where, f"{rid}: authority.path does not exist: {authority}", "fix the path")
    if py_str(get(row, "intake_lineage", "envelope_schema_ref")) != ENVELOPE:
        yield md.finding(
            where, f"{rid}: intake_lineage.envelope_schema_ref must be {ENVELOPE}", f"set it to {ENVELOPE}"
        )
    if not _list(get(row, "intake_lineage", "accepted_intake_refs")):
        yield md.finding(
            where, f"{rid}: intake_lineage.accepted_intake_refs must be a non-empty list", "list the intake refs"
        )
    refs = _list(get(row, "projection_refs"))
    if not refs:
        yield md.finding(where, f"{rid}: projection_refs must be a non-empty list", "list the projections")
    for ref in refs:
        ref_id = py_str(ref)
        if not ref_id:
            yield md.finding(where, f"{rid}: projection_refs has a blank entry", "remove it")
        elif ref_id not in projections:
            yield md.finding(where, f"{rid}: unknown projection ref: {ref_id}", "add the projection or fix the ref")
        elif rid not in [py_str(x) for x in _list(projections[ref_id].get("source_master_rows"))]:
            yield md.finding(
                where, f"{rid}: projection {ref_id} does not list this row in source_master_rows", "add the row to it"
            )


def _projection_findings(
    r: OpsRepo, pd: Document, pid: str, entry: dict[Any, Any], row_ids: set[str]
) -> Iterator[Finding]:
    """Yield D338's findings for one projection."""
    where = ("projections",)
    output = py_str(get(entry, "output_path"))
    if not _exists(r.root, output):
        yield pd.finding(
            where, f"{pid}: output_path does not exist: {output}", "generate the projection or fix the path"
        )
    if not py_str(get(entry, "generator_capability")) or get(entry, "generator_capability") is None:
        yield pd.finding(where, f"{pid}: missing generator_capability", "set generator_capability")
    sources = _list(entry.get("source_master_rows"))
    if not sources:
        yield pd.finding(where, f"{pid}: source_master_rows must be non-empty", "list the master rows")
    for source in sources:
        if py_str(source) not in row_ids:
            yield pd.finding(where, f"{pid}: unknown source master row: {py_str(source)}", "fix the row id")


@native_gate("D339", reads=())
def check_projection_generated_only(c: ContractView) -> Iterator[Finding]:
    """Checks that every projection output exists, is generated-only, and carries its required markers (ops D339)."""
    r = repo(c)
    docs, problems = _mappings(r, (PROJECTION,), "missing projection contract: {path}")
    if problems:
        yield from problems
        return
    pd = docs[PROJECTION]
    entries = _list(_data(pd).get("projections"))
    if not entries:
        yield pd.finding(("projections",), "projections[] is empty", "declare the projections")
        return
    outputs: set[str] = set()
    for i, entry in enumerate(entries):
        where = ("projections", i)
        if not isinstance(entry, dict):
            yield pd.finding(where, "projection entry must be a mapping", "write it as a mapping")
            continue
        pid = py_str(get(entry, "id")) or "unknown"
        output = py_str(get(entry, "output_path")) if entry.get("output_path") is not None else ""
        if not output:
            yield pd.finding(where, f"{pid}: missing output_path", "set output_path")
            continue
        if output in outputs:
            yield pd.finding(where, f"{pid}: duplicate output_path: {output}", "give each projection its own output")
        outputs.add(output)
        path = r.root / output
        if not path.is_file():
            yield pd.finding(where, f"{pid}: projection output missing on disk: {output}", "generate the projection")
            continue
        yield from _output_findings(r, pd, where, pid, entry, path, output)


def _output_findings(
    r: OpsRepo, pd: Document, where: tuple[str, int], pid: str, entry: dict[Any, Any], path: Path, output: str
) -> Iterator[Finding]:
    """Yield D339's findings on one projection output file."""
    # The ops snippet uses bool(): the string "false" would count as generated-only. Fixed (ops_common.flag).
    if not flag(get(entry, "generated_only"), default=False):
        yield pd.finding(where, f"{pid}: generated_only must be true", "set generated_only: true")
    text = path.read_text(encoding="utf-8", errors="replace")
    for marker in _list(entry.get("required_comment_markers")):
        if isinstance(marker, str) and marker.strip() and marker.lower() not in text.lower():
            yield pd.finding(
                where, f"{pid}: {output} missing required comment marker: {marker}", "regenerate the output"
            )
    doc = r.load(path)
    if doc.errors or not isinstance(doc.data, dict):
        why = doc.errors[0].message if doc.errors else "YAML root must be a mapping"
        yield pd.finding(where, f"{pid}: {output}: invalid YAML ({why})", "regenerate the output")
        return
    for marker in _list(entry.get("required_markers")):
        key = get(marker, "key")
        if key is MISSING or key is None or not py_str(key):
            yield pd.finding(where, f"{pid}: required_markers entry missing key", "give the marker a key")
            continue
        value = doc.data.get(key)
        if py_str(get(marker, "presence")) == "required" and (value is None or not str(value).strip()):
            yield pd.finding(where, f"{pid}: {output} missing required marker: {key}", "regenerate the output")
        equals = get(marker, "equals")
        if equals is not MISSING and equals is not None and str(value) != str(equals):
            yield pd.finding(
                where, f"{pid}: {output} marker {key} expected '{equals}', got '{value}'", "regenerate the output"
            )


@native_gate("D340", reads=())
def check_master_orphan_evidence(c: ContractView) -> Iterator[Finding]:
    """Checks that no master row lacks intake lineage, evidence or projections (ops D340)."""
    r = repo(c)
    for rel, label in ((MASTER, "master registry"), (PROJECTION, "projection contract")):
        if not r.path(rel).is_file():
            yield r.file_finding(rel, f"missing {label}: {r.path(rel)}", f"restore {rel}")
            return
    docs, problems = _mappings(r, (MASTER, PROJECTION), "missing file: {path}")
    if problems:
        yield from (
            Finding(p.file, p.line, p.path, f"unable to parse registry files ({p.message})", p.fix) for p in problems
        )
        return
    md = docs[MASTER]
    rows = _list(_data(md).get("rows"))
    if not rows:
        yield md.finding(("rows",), "master registry rows[] is empty", "add the master rows")
        return
    projection_ids = {
        py_str(get(p, "id")) for p in _list(_data(docs[PROJECTION]).get("projections")) if isinstance(p, dict)
    } - {""}
    for i, row in enumerate(rows):
        row = row if isinstance(row, dict) else {}
        rid = py_str(get(row, "id"), "unknown") or "unknown"
        for message in _orphan_messages(r, row, projection_ids):
            yield md.finding(("rows", i), f"{rid}: {message}", "complete the row's lineage")


def _orphan_messages(r: OpsRepo, row: dict[Any, Any], projection_ids: set[str]) -> Iterator[str]:
    """Yield D340's problems with one master row."""
    authority = py_str(get(row, "authority", "path"))
    if not authority or get(row, "authority", "path") is None:
        yield "missing authority.path"
    elif not _exists(r.root, authority):
        yield f"authority.path does not exist: {authority}"
    intake = _list(get(row, "intake_lineage", "accepted_intake_refs"))
    if not any(isinstance(x, str) and x.strip() for x in intake):
        yield "orphan row missing intake_lineage.accepted_intake_refs"
    refs = [x.strip() for x in _list(row.get("evidence_refs")) if isinstance(x, str) and x.strip()]
    if not refs:
        required = get(row, "intake_lineage", "evidence_required")
        yield (
            "evidence_required=true but evidence_refs is empty"
            if required is not MISSING and required
            else "orphan row missing evidence_refs"
        )
    concrete = [x for x in refs if x.startswith(("ops/", "docs/")) and not any(ch in x for ch in "*?[")]
    for ref in concrete:
        if not (r.root / ref).exists():
            yield f"evidence path does not exist: {ref}"
    if refs and not any((r.root / x).exists() for x in concrete):
        yield "evidence_refs must include at least one concrete local ops/ or docs/ path"
    projection_refs = _list(row.get("projection_refs"))
    if not projection_refs:
        yield "projection_refs must be non-empty"
    for ref in projection_refs:
        if py_str(ref) not in projection_ids:
            yield f"projection ref missing from domain.projection.contract.yaml: {py_str(ref)}"
