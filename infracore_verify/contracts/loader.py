"""The one YAML loader: reads a contract file safely, parses it and validates it against its schema.

Every contract goes through `load_document`. It never raises for anything a user can put in a file:
problems come back as `Finding`s in `Document.errors`, rendered `file:line $.path: what; fix`.

The work is split by concern: `document` (the Document, the limits), `yaml_safety` (building data while
refusing duplicates, tags, alias bombs and non-UTF-8 text), `yaml_errors` (parser errors in the user's
terms) and `schema_messages` (JSON Schema errors, one wording per validator). This module ties them
together and keeps every name other code imports from it.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat as st
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from infracore_verify.contracts.document import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES, Document, Key, LoadError
from infracore_verify.contracts.environment_checks import environment_findings
from infracore_verify.contracts.findings import Finding
from infracore_verify.contracts.schema_messages import schema_findings
from infracore_verify.contracts.yaml_errors import reader_finding, syntax_finding
from infracore_verify.contracts.yaml_safety import Builder, check_aliases, decode, json_key

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "Document",
    "Key",
    "file_sha256",
    "load_document",
    "relative_display",
    "validate",
]

# libyaml's C loader is about five times faster; fall back to the pure-Python one where it is missing.
# Looked up here at each parse, so a test can switch parsers by setting `loader._Loader`.
_Loader: type[yaml.SafeLoader] | type[yaml.CSafeLoader]
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _json_view(data: Any) -> Any:
    """Return `data` with every mapping key a string, as JSON Schema expects (the same object when it is)."""
    if isinstance(data, dict):
        items = [(k if isinstance(k, str) else str(json_key(k)), _json_view(v)) for k, v in data.items()]
        if all(k is k2 and v is data[k] for (k2, v), k in zip(items, data, strict=True)):
            return data
        return dict(items)
    if isinstance(data, list):
        items_list = [_json_view(v) for v in data]
        return data if all(a is b for a, b in zip(items_list, data, strict=True)) else items_list
    return data


def _parse(text: str, display: str, ops: bool = False, repeated_keys: bool = False) -> tuple[Any, Builder]:
    try:
        # The pure-Python reader checks every character as it is created; libyaml checks while parsing.
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:
        raise LoadError(reader_finding(exc, text, display)) from None
    try:
        builder = Builder(loader, display, ops, repeated_keys)
        node = loader.get_single_node()
        if node is None:
            return None, builder
        check_aliases(node, display)
        return builder.build(node, ()), builder
    except yaml.MarkedYAMLError as exc:
        raise LoadError(syntax_finding(exc, text, display)) from None
    except yaml.reader.ReaderError as exc:
        raise LoadError(reader_finding(exc, text, display)) from None
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "invalid YAML"
        raise LoadError(Finding(display, 1, "", f"YAML error: {first}", "fix the YAML syntax")) from None
    except RecursionError:
        # Only the pure-Python composer recurses per level; find the line with a flat event scan.
        raise LoadError(
            Finding(display, _too_deep_line(text), "", f"nesting is deeper than {MAX_DEPTH} levels", "flatten the data")
        ) from None
    finally:
        loader.dispose()


def _too_deep_line(text: str) -> int:
    """Return the line where nesting first exceeds MAX_DEPTH, scanning parser events (no recursion)."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    return event.start_mark.line + 1 if event.start_mark else 1
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        pass
    return 1


@lru_cache(maxsize=64)
def _validator(schema_path: Path, mtime_ns: int) -> jsonschema.protocols.Validator:
    # check_schema costs ~10 ms per schema on every start; it runs only when validation itself breaks
    # (see `validate`), and tests/ checks the bundled schemas once.
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _schema_problem(validator: jsonschema.protocols.Validator, exc: Exception) -> str:
    schema: Any = validator.schema
    try:
        type(validator).check_schema(schema)
    except jsonschema.SchemaError as bad:
        return bad.message
    return str(exc)


def validate(doc: Document, schema_path: Path) -> list[Finding]:
    """Validate a parsed document against a JSON Schema file and return the findings, sorted by line."""
    try:
        validator = _validator(schema_path, schema_path.stat().st_mtime_ns)
    except (OSError, ValueError, jsonschema.SchemaError) as exc:
        return [Finding(str(schema_path), 1, "", f"the schema cannot be used: {exc}", "fix or restore the schema")]
    try:
        errors = list(validator.iter_errors(_json_view(doc.data)))
    except Exception as exc:  # a broken schema fails inside jsonschema in many ways
        problem = _schema_problem(validator, exc)
        return [Finding(str(schema_path), 1, "", f"the schema cannot be used: {problem}", "fix or restore the schema")]
    # A value of the wrong type fails its other keywords too (oneOf, required...); only the type error helps.
    mistyped = {tuple(e.absolute_path) for e in errors if e.validator == "type"}
    errors = [e for e in errors if e.validator == "type" or tuple(e.absolute_path) not in mistyped]
    root = validator.schema if isinstance(validator.schema, dict) else {}
    findings = [f for e in errors for f in schema_findings(doc, e, schema_path.name, root)]
    return sorted(set(findings), key=lambda f: (f.line, f.path, f.message))


_cache: dict[tuple[str, Path, str, str], tuple[str, Document]] = {}
_cache_lock = threading.Lock()


def load_document(
    name: str, path: Path, display: str, schema_path: Path | None, *, ops: bool = False, repeated_keys: bool = False
) -> Document:
    """Load one contract file, parsing each content once per process (a changed file is parsed again).

    `ops=True` reads a file the way the ops repository's own tools do (for the ported ops gates): a
    repeated key is its last value (every occurrence is kept in `Document.repeats`), dates stay dates, and
    an empty file is data None rather than an error. Every other refusal (tags, alias bombs, size) stays.
    `repeated_keys=True` keeps the suite's reading but takes a repeated key as its last value, as yq does
    (every occurrence in `Document.repeats`); the contracts of an ops repository are read so.
    """
    doc = Document(name, path, display)
    raw = _read(doc)
    if raw is None:
        return doc
    digest = hashlib.sha256(raw).hexdigest()
    # Keyed by content, not mtime: an edit within the file system's timestamp granularity is still seen.
    key = (name, path.resolve(), display, f"{schema_path}|ops={ops}|repeated={repeated_keys}")
    with _cache_lock:
        cached = _cache.get(key)
    if cached and cached[0] == digest:
        return cached[1]
    doc.sha256 = digest
    _parse_into(doc, raw, schema_path, ops, repeated_keys)
    with _cache_lock:
        _cache[key] = (digest, doc)
    return doc


def _not_a_file(mode: int) -> str:
    """Return what a non-regular file is ('a directory', 'a named pipe'...), or '' for a regular file."""
    if st.S_ISREG(mode):
        return ""
    if st.S_ISDIR(mode):
        return "a directory"
    if st.S_ISFIFO(mode):
        return "a named pipe"
    if st.S_ISSOCK(mode):
        return "a socket"
    return "a device" if st.S_ISCHR(mode) or st.S_ISBLK(mode) else "a special file"


def _too_large(display: str, size: int) -> Finding:
    return Finding(
        display,
        0,
        "",
        f"the file is {size / 1024 / 1024:.1f} MiB; contracts are limited to {MAX_FILE_BYTES // 1024 // 1024} MiB",
        "split it or remove generated bulk",
    )


def _read(doc: Document) -> bytes | None:
    """Return the file's bytes, or None after recording why it cannot be used."""
    display = doc.display
    try:
        stat = doc.path.stat()
    except OSError:
        doc.errors.append(
            Finding(
                display, 0, "", "the file does not exist", f"create it (see contracts/{doc.path.name} in the suite)"
            )
        )
        return None
    kind = _not_a_file(stat.st_mode)
    if kind:
        # Reading a pipe blocks and reading /dev/zero never ends: refuse anything but a regular file unread.
        doc.errors.append(
            Finding(display, 0, "", f"the path is {kind}, not a file", "replace it with the contract file")
        )
        return None
    if stat.st_size > MAX_FILE_BYTES:
        doc.errors.append(_too_large(display, stat.st_size))
        return None
    try:
        with doc.path.open("rb") as fh:
            # Bounded even here: the file may have grown since it was measured.
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        doc.errors.append(Finding(display, 0, "", f"the file cannot be read: {exc.strerror}", "check permissions"))
        return None
    if len(raw) > MAX_FILE_BYTES:
        doc.errors.append(_too_large(display, len(raw)))
        return None
    return raw


def _parse_into(
    doc: Document, raw: bytes, schema_path: Path | None, ops: bool = False, repeated_keys: bool = False
) -> None:
    try:
        doc.data, builder = _parse(decode(raw, doc.display), doc.display, ops, repeated_keys)
    except LoadError as exc:
        doc.errors.append(exc.finding)
        return
    doc.lines, doc.repeats = builder.lines, builder.repeats
    if doc.data is None and ops:
        return
    if doc.data is None:
        doc.errors.append(Finding(doc.display, 1, "", "the file is empty", "write the contract's top-level mapping"))
        return
    if schema_path is not None:
        doc.errors.extend(validate(doc, schema_path))
    if doc.name.startswith("environment:"):
        # Checks the schema cannot express (usable URLs, no base URL in a sandbox); where one says more about
        # a path than the schema did, its finding replaces the schema's.
        extra = environment_findings(doc)
        paths = {f.path for f in extra}
        doc.errors[:] = [e for e in doc.errors if e.path not in paths] + extra


def file_sha256(path: Path) -> str:
    """Return the sha256 of a file's bytes, or an empty string when it cannot be read or is not a regular file."""
    try:
        if _not_a_file(path.stat().st_mode):
            return ""
        with path.open("rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError:
        return ""


def relative_display(path: Path, base: Path) -> str:
    """Return `path` relative to `base` when it lies below it, else the path as given."""
    try:
        return os.path.relpath(path, base) if path.is_relative_to(base) else str(path)
    except ValueError:
        return str(path)
