"""Ported ops gates on the capability registry: D3 entrypoint smoke and D126 workbench implementation paths.

Both read `ops/capabilities.yaml` the way the ops repository's yq does: a repeated capability key is
listed once per occurrence (`to_entries`), `false` counts as missing under `//`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from infracore_verify.contracts.findings import Finding, yaml_path
from infracore_verify.contracts.loader import Document
from infracore_verify.gates.checks.base import ContractView, native_gate
from infracore_verify.gates.checks.ops_common import (
    MISSING,
    OpsRepo,
    get,
    host_path,
    is_scalar,
    repo,
    yq_alt,
    yq_text,
)

CAPABILITIES = "ops/capabilities.yaml"
BOUNDARY = "ops/bindings/fabric.boundary.contract.yaml"
AUDIT = "ops/plugins/verify/bin/workbench-impl-audit"
D3_FAILED = "bin/ops smoke checks failed (--help/cap list)"
D126_FIX = "run ./bin/ops cap run workbench.impl.audit --list"


def _entries(doc: Document, parts: tuple[str, ...], value: Any) -> list[tuple[Any, Any, int]]:
    """Return yq's `to_entries` of a map (every repeated key) or a list (index keys)."""
    if isinstance(value, dict):
        return doc.entries(parts, value)
    return [(i, item, doc.line((*parts, i))) for i, item in enumerate(value)]


@native_gate("D3", reads=())
def check_entrypoint_smoke(c: ContractView) -> Iterator[Finding]:
    """Checks that bin/ops is executable and `bin/ops cap list` can list ops/capabilities.yaml (ops D3)."""
    r = repo(c)
    ops = r.path("bin/ops")
    if not os.access(ops, os.X_OK):
        yield r.file_finding(ops, f"missing executable bin/ops at {ops}", "restore bin/ops and make it executable")
        return
    caps_path = r.path(CAPABILITIES)
    if not caps_path.is_file():
        yield r.file_finding(
            caps_path, f"missing capabilities registry at {caps_path}", "restore ops/capabilities.yaml"
        )
        return
    doc = r.load(CAPABILITIES, reuse=True)
    if doc.errors:
        yield from (
            Finding(e.file, e.line, e.path, f"{D3_FAILED}: {e.message}", e.fix or "fix the YAML") for e in doc.errors
        )
        return
    caps = get(doc.data, "capabilities") if doc.data is not None else None
    if caps is MISSING and doc.data is not None and not isinstance(doc.data, dict):
        yield doc.finding((), f"{D3_FAILED}: the file is not a mapping", "make the top level a mapping")
        return
    if caps is MISSING or caps is None:
        return  # an empty listing: the ops gate passes
    if not isinstance(caps, dict | list):
        yield doc.finding(
            ("capabilities",),
            f"{D3_FAILED}: capabilities is a {type(caps).__name__}, not a map (yq's to_entries fails)",
            "make capabilities a mapping of capability names",
        )
        return
    for key, value, line in _entries(doc, ("capabilities",), caps):
        for name in ("safety", "description"):
            field = yq_alt(get(value, name), "")
            if not is_scalar(field):
                kind = "mapping" if isinstance(field, dict) else "list"
                yield Finding(
                    doc.display,
                    line,
                    yaml_path(("capabilities", key, name)),
                    f"{D3_FAILED}: capability '{key}' {name} is a {kind}; yq's @tsv cannot list it",
                    f"write {name} as one line of text (quote a value that contains ': ')",
                )


def _audit_rows(doc: Document, caps: dict[Any, Any] | list[Any]) -> Iterator[tuple[str, list[str], int, str]]:
    """Yield (key, [cap, domain, repo, path], line, problem) per domain_external capability, as the audit reads it."""
    for key, value, line in _entries(doc, ("capabilities",), caps):
        if yq_text(yq_alt(get(value, "plane"), "")) != "domain_external":
            continue
        raw = [
            key,
            yq_alt(get(value, "domain"), "none"),
            yq_alt(get(value, "implementation_repo"), ""),
            yq_alt(get(value, "implementation_path"), ""),
        ]
        names = ("domain", "implementation_repo", "implementation_path")
        bad = [(n, v) for n, v in zip(names, raw[1:], strict=True) if not is_scalar(v)]
        if bad:
            yield (
                str(key),
                ["", "", "", ""],
                line,
                f"{bad[0][0]} is a {'mapping' if isinstance(bad[0][1], dict) else 'list'}",
            )
            continue
        # `IFS=$'\t' read`: tab is IFS whitespace, so empty fields collapse and shift the rest left.
        fields = [_tsv(yq_text(v)) for v in raw]
        kept = [f for f in fields if f]
        yield str(key), kept + [""] * (4 - len(kept)), line, ""


def _tsv(text: str) -> str:
    """Return a field as yq's @tsv writes it (quoted when it holds a tab, a quote, a newline or leads with space)."""
    if any(ch in text for ch in '\t"\n') or text[:1].isspace():
        return '"' + text.replace('"', '""') + '"'
    return text


def _audit_preconditions(r: OpsRepo) -> Iterator[Finding]:
    """The audit helper's own preconditions, in its order (first failure only)."""
    if not r.executable(AUDIT):
        yield r.file_finding(AUDIT, f"missing executable: {r.path(AUDIT)}", "restore the audit and make it executable")
        return
    for label, rel in (("capabilities", _caps_rel()), ("fabric boundary", _boundary_rel())):
        path = r.path(rel)
        if not path.is_file():
            yield r.file_finding(path, f"workbench.impl.audit: {label} file missing: {path}", f"restore {rel}")
            return
    for rel in (_caps_rel(), _boundary_rel()):
        doc = r.load(rel, reuse=True)
        if doc.errors:
            yield from (
                Finding(e.file, e.line, e.path, f"workbench.impl.audit: invalid YAML: {e.message}", e.fix)
                for e in doc.errors
            )
            return


def _caps_rel() -> str:
    return os.environ.get("CAPABILITIES_FILE") or CAPABILITIES


def _boundary_rel() -> str:
    return os.environ.get("FABRIC_BOUNDARY_FILE") or BOUNDARY


@native_gate("D126", reads=())
def check_workbench_implementation_paths(c: ContractView) -> Iterator[Finding]:
    """Checks that every domain_external capability points inside the canonical workbench, at a path that exists on this host (ops D126)."""
    r = repo(c)
    problems = list(_audit_preconditions(r))
    if problems:
        yield from problems
        return
    boundary = r.load(_boundary_rel())
    canonical = yq_text(yq_alt(get(boundary.data, "workbench", "canonical_repo"), ""))
    if canonical in ("", "null"):
        yield boundary.finding(
            ("workbench", "canonical_repo"),
            "workbench.impl.audit: workbench.canonical_repo is not set",
            "set workbench.canonical_repo to the workbench checkout's absolute path",
        )
        return
    doc = r.load(_caps_rel(), reuse=True)
    caps = get(doc.data, "capabilities")
    if caps is MISSING or caps is None:
        return
    if not isinstance(caps, dict | list):
        # The ops audit's yq fails inside a process substitution, reads zero rows and passes: fixed here.
        yield doc.finding(
            ("capabilities",),
            f"capabilities is a {type(caps).__name__}, not a map; the audit cannot list domain_external capabilities",
            "make capabilities a mapping",
        )
        return
    for key, (cap, _domain, repo_dir, path), line, problem in _audit_rows(doc, caps):
        where = yaml_path(("capabilities", key))
        if problem:
            # In the ops audit one such value empties the whole listing (a swallowed @tsv error): D126 passes.
            yield Finding(
                doc.display,
                line,
                where,
                f"{key}: metadata error: {problem}, not text",
                "write the field as one line of text",
            )
            continue
        message = _classify(cap, repo_dir, path, canonical, r)
        if message:
            yield Finding(doc.display, line, where, message, D126_FIX)


def _classify(cap: str, repo_dir: str, path: str, canonical: str, r: OpsRepo) -> str:
    """Return the audit's verdict on one row: '' when the implementation path is fine."""
    if not repo_dir or not path:
        return f"{cap}: metadata error: implementation_repo or implementation_path is empty (repo={repo_dir or '-'} path={path or '-'})"
    if repo_dir != canonical:
        return f"{cap}: repo error: repo={repo_dir} expected={canonical}"
    target = path if path.startswith("/") else f"{repo_dir}/{path}"
    if not target.startswith(canonical):
        return f"{cap}: repo error: path {target} is outside {canonical}"
    if not host_path(target, r.root).exists():
        return f"{cap}: implementation path missing on this host: {target}"
    return ""
