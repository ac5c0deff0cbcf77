"""The one YAML loader: line numbers, duplicate-key rejection, size and alias limits, schema findings.

Every contract goes through `load_document`. It never raises for anything a user can put in a file:
problems come back as `Finding`s in `Document.errors`, rendered `file:line $.path: what; fix`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from jsonschema.exceptions import ValidationError, best_match

from infracore_verify.findings import Finding, did_you_mean, yaml_path

# libyaml's C loader is about five times faster; fall back to the pure-Python one where it is missing.
_Loader: type[yaml.SafeLoader] | type[yaml.CSafeLoader]
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_FILE_BYTES = 8 * 1024 * 1024
"""Contracts larger than this are refused unread (the largest real registry is a few hundred KB)."""
MAX_NODES = 1_000_000
"""Aliases may expand a document to at most this many nodes (stops 'billion laughs' documents)."""
MAX_DEPTH = 200
"""Nesting deeper than this is refused (real contracts nest fewer than ten levels)."""

Key = tuple[str | int, ...]

_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass
class Document:
    """A loaded contract file: its data, the line of every YAML path, its hash and its problems."""

    name: str
    path: Path
    display: str
    data: Any = None
    lines: dict[Key, int] = field(default_factory=dict)
    errors: list[Finding] = field(default_factory=list)
    sha256: str = ""

    @property
    def ok(self) -> bool:
        """Return True when the file parsed and matches its schema."""
        return not self.errors

    def line(self, parts: Sequence[str | int] = ()) -> int:
        """Return the line of the YAML path, or of its nearest ancestor that has one."""
        key = tuple(parts)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), 1)

    def finding(self, parts: Sequence[str | int], message: str, fix: str = "") -> Finding:
        """Build a finding located at the YAML path `parts` of this file."""
        return Finding(self.display, self.line(parts), yaml_path(parts), message, fix)


class _LoadError(Exception):
    """A problem that stops parsing; carries the finding to report."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.render())
        self.finding = finding


class _Builder:
    """Turns a composed YAML node tree into plain data, recording lines and rejecting duplicates."""

    def __init__(self, loader: Any, display: str) -> None:
        self.loader = loader
        self.display = display
        self.lines: dict[Key, int] = {}
        self.visited = 0

    def fail(self, node: yaml.Node, parts: Key, message: str, fix: str) -> _LoadError:
        return _LoadError(Finding(self.display, node.start_mark.line + 1, yaml_path(parts), message, fix))

    def build(self, node: yaml.Node, parts: Key) -> Any:
        self.visited += 1
        if self.visited > MAX_NODES:
            raise self.fail(
                node,
                parts,
                f"the document expands to more than {MAX_NODES:,} nodes through aliases",
                "remove the anchors and aliases (&name / *name) and write the data out",
            )
        if len(parts) > MAX_DEPTH:
            raise self.fail(node, parts, f"nesting is deeper than {MAX_DEPTH} levels", "flatten the data")
        self.lines.setdefault(parts, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, parts)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(child, (*parts, i)) for i, child in enumerate(node.value)]
        value = self.loader.construct_object(node)
        # Dates are written as strings in every contract; JSON Schema and the gates compare text.
        if isinstance(value, dt.datetime | dt.date):
            return value.isoformat()
        if isinstance(value, bytes):
            raise self.fail(node, parts, "binary values are not allowed", "write the value as text")
        return value

    def _mapping(self, node: yaml.MappingNode, parts: Key) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for source in sources:
                    data = self.build(source, parts)
                    if not isinstance(data, dict):
                        raise self.fail(source, parts, "a merge key (<<) must refer to a mapping", "fix the alias")
                    for k, v in data.items():
                        merged.setdefault(k, v)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail(key_node, parts, "a mapping key must be a plain value", "use a string key")
            key = self.loader.construct_object(key_node)
            if isinstance(key, dt.date | dt.datetime):
                key = key.isoformat()
            if key in out:
                first = self.lines.get((*parts, key), 0)
                raise self.fail(
                    key_node,
                    (*parts, key),
                    f"duplicate key '{key}' (first defined on line {first})",
                    "remove one of the two entries; YAML keeps only the last and hides the first",
                )
            self.lines[(*parts, key)] = key_node.start_mark.line + 1
            out[key] = self.build(value_node, (*parts, key))
        for k, v in merged.items():
            out.setdefault(k, v)
        return out


def _decode(raw: bytes, display: str) -> str:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise _LoadError(
            Finding(
                display,
                line,
                "",
                f"the file is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {column})",
                "save the file as UTF-8",
            )
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise _LoadError(Finding(display, line, "", "the file contains a NUL byte", "save it as plain text"))
    return text


def _parse(text: str, display: str) -> tuple[Any, dict[Key, int]]:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        builder = _Builder(loader, display)
        return builder.build(node, ()), builder.lines
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problem = exc.problem or exc.context or "invalid YAML"
        if "expected a single document" in str(exc):
            problem, fix = (
                "the file holds more than one YAML document",
                "keep one document (drop the extra ---)",
            )
        else:
            fix = "fix the YAML syntax at this line (check indentation, quotes and colons)"
        raise _LoadError(Finding(display, line, "", f"YAML syntax error: {problem}", fix)) from None
    except yaml.YAMLError as exc:
        raise _LoadError(Finding(display, 1, "", f"YAML error: {exc}", "fix the YAML syntax")) from None
    except RecursionError:
        raise _LoadError(
            Finding(display, 1, "", f"nesting is deeper than {MAX_DEPTH} levels", "flatten the data")
        ) from None
    finally:
        loader.dispose()


@lru_cache(maxsize=64)
def _validator(schema_path: Path, mtime_ns: int) -> jsonschema.protocols.Validator:
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _schema_finding(doc: Document, error: ValidationError, schema_name: str) -> Finding:
    if error.context:
        # oneOf/anyOf: report the branch that came closest instead of "is not valid under any".
        inner = best_match(error.context)
        if inner is not None and inner.validator != error.validator:
            error = inner
    parts: Key = tuple(error.absolute_path)
    schema: dict[str, Any] = dict(error.schema) if isinstance(error.schema, dict) else {}
    hint = str(schema.get("description", ""))
    validator, instance = error.validator, error.instance
    value: Any = error.validator_value
    if validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else str(value)
        prop = schema.get("properties", {}).get(missing, {})
        about = prop.get("description", "") if isinstance(prop, dict) else ""
        message = f"missing required key '{missing}'"
        fix = f"add '{missing}'" + (f" ({about})" if about else "")
    elif validator == "additionalProperties":
        allowed = schema.get("properties", {})
        extras = [k for k in instance if k not in allowed] if isinstance(instance, dict) else []
        extra = extras[0] if extras else "?"
        parts = (*parts, extra)
        message = f"unknown key '{extra}'"
        fix = f"remove it or fix its spelling{did_you_mean(extra, allowed)}"
    elif validator == "type":
        wanted = value if isinstance(value, str) else " or ".join(value)
        message = f"{_short(instance)} is a {type(instance).__name__.replace('NoneType', 'null')}, not a {wanted}"
        fix = f"write a {wanted} here" + (f" ({hint})" if hint else "")
    elif validator == "enum":
        message = f"{_short(instance)} is not an allowed value{did_you_mean(instance, value)}"
        fix = "use one of: " + ", ".join(str(v) for v in value)
    elif validator == "const":
        message = f"{_short(instance)} must be {_short(value)}"
        fix = f"write {_short(value)}"
    elif validator == "pattern":
        message = f"{_short(instance)} does not match the pattern {value}"
        fix = hint or f"write a value matching {value}"
    elif validator in ("minItems", "minProperties", "minLength"):
        message = "must not be empty" if value == 1 else f"needs at least {value} entries"
        fix = hint or "add the missing entries"
    elif validator in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        message = f"{_short(instance)} is out of range ({validator} {value})"
        fix = hint or f"use a value that satisfies {validator} {value}"
    elif validator == "uniqueItems":
        message = "has duplicate entries"
        fix = "remove the duplicates"
    else:
        message = error.message if len(error.message) < 160 else error.message[:157] + "..."
        fix = hint or f"see contracts/schemas/{schema_name}"
    return doc.finding(parts, message, fix)


def validate(doc: Document, schema_path: Path) -> list[Finding]:
    """Validate a parsed document against a JSON Schema file and return the findings, sorted by line."""
    try:
        validator = _validator(schema_path, schema_path.stat().st_mtime_ns)
    except (OSError, ValueError, jsonschema.SchemaError) as exc:
        return [Finding(str(schema_path), 1, "", f"the schema cannot be used: {exc}", "fix or restore the schema")]
    findings = [_schema_finding(doc, e, schema_path.name) for e in validator.iter_errors(doc.data)]
    return sorted(set(findings), key=lambda f: (f.line, f.path, f.message))


_cache: dict[tuple[str, Path, str], tuple[tuple[int, int], Document]] = {}
_cache_lock = threading.Lock()


def load_document(name: str, path: Path, display: str, schema_path: Path | None) -> Document:
    """Load one contract file once per process (re-read only when it changes on disk)."""
    try:
        stat = path.stat()
    except OSError:
        doc = Document(name, path, display)
        doc.errors.append(
            Finding(
                display,
                0,
                "",
                "the file does not exist",
                f"create it (see contracts/{path.name} in the suite)",
            )
        )
        return doc
    key = (name, path.resolve(), str(schema_path))
    stamp = (stat.st_mtime_ns, stat.st_size)
    with _cache_lock:
        cached = _cache.get(key)
    if cached and cached[0] == stamp:
        return cached[1]
    doc = _load_uncached(name, path, display, schema_path, stat.st_size)
    with _cache_lock:
        _cache[key] = (stamp, doc)
    return doc


def _load_uncached(name: str, path: Path, display: str, schema_path: Path | None, size: int) -> Document:
    doc = Document(name, path, display)
    if size > MAX_FILE_BYTES:
        doc.errors.append(
            Finding(
                display,
                0,
                "",
                f"the file is {size / 1024 / 1024:.1f} MiB; contracts are limited to {MAX_FILE_BYTES // 1024 // 1024} MiB",
                "split it or remove generated bulk",
            )
        )
        return doc
    try:
        raw = path.read_bytes()
        doc.sha256 = hashlib.sha256(raw).hexdigest()
        doc.data, doc.lines = _parse(_decode(raw, display), display)
    except _LoadError as exc:
        doc.errors.append(exc.finding)
        return doc
    except OSError as exc:
        doc.errors.append(Finding(display, 0, "", f"the file cannot be read: {exc.strerror}", "check permissions"))
        return doc
    if doc.data is None:
        doc.errors.append(Finding(display, 1, "", "the file is empty", "write the contract's top-level mapping"))
        return doc
    if schema_path is not None:
        doc.errors.extend(validate(doc, schema_path))
    return doc


def file_sha256(path: Path) -> str:
    """Return the sha256 of a file's bytes, or an empty string when it cannot be read."""
    try:
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
