"""The one YAML loader: line numbers, duplicate-key rejection, size and alias limits, schema findings.

Every contract goes through `load_document`. It never raises for anything a user can put in a file:
problems come back as `Finding`s in `Document.errors`, rendered `file:line $.path: what; fix`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import stat as st
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from jsonschema.exceptions import ValidationError, best_match

from infracore_verify.contracts.findings import SENSITIVE_KEY, Finding, did_you_mean, yaml_path

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
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_PLAIN_COLLECTION_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
_TAG_FIX = "remove the tag (contracts hold plain YAML: mappings, lists, strings, numbers, booleans and dates)"
_DEPTH_PATH_SHOWN = 4
"""Segments of the YAML path shown when nesting is too deep."""


def _json_key(key: Any) -> str | int:
    """Return a mapping key as a path segment: strings and integers as they are, anything else as JSON text.

    JSON Schema only knows string keys, and YAML paths render str and int only; `1.5:`, `true:` or `null:`
    keys become "1.5", "true" and "null".
    """
    if isinstance(key, str) or (isinstance(key, int) and not isinstance(key, bool)):
        return key
    return json.dumps(key, default=str).strip('"')


def _json_view(data: Any) -> Any:
    """Return `data` with every mapping key a string, as JSON Schema expects (the same object when it is)."""
    if isinstance(data, dict):
        items = [(k if isinstance(k, str) else str(_json_key(k)), _json_view(v)) for k, v in data.items()]
        if all(k is k2 and v is data[k] for (k2, v), k in zip(items, data, strict=True)):
            return data
        return dict(items)
    if isinstance(data, list):
        items_list = [_json_view(v) for v in data]
        return data if all(a is b for a, b in zip(items_list, data, strict=True)) else items_list
    return data


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org,2002:") else tag


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
            # The full path would be hundreds of segments long; name the top of the deep branch instead.
            raise self.fail(
                node,
                parts[:_DEPTH_PATH_SHOWN],
                f"nesting below this point is deeper than {MAX_DEPTH} levels",
                "flatten the data",
            )
        self.lines.setdefault(parts, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.tag not in _PLAIN_COLLECTION_TAGS:
            raise self.fail(node, parts, f"the tag '{_short_tag(node.tag)}' is not allowed", _TAG_FIX)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, parts)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(child, (*parts, i)) for i, child in enumerate(node.value)]
        value = self._construct(node, parts)
        # Dates are written as strings in every contract; JSON Schema and the gates compare text.
        if isinstance(value, dt.datetime | dt.date):
            return value.isoformat()
        if isinstance(value, bytes):
            raise self.fail(node, parts, "binary values are not allowed", "write the value as text")
        return value

    def _construct(self, node: yaml.Node, parts: Key) -> Any:
        """Construct a scalar, turning constructor failures (unknown tags, impossible dates) into findings."""
        if node.tag not in self.loader.yaml_constructors:
            raise self.fail(node, parts, f"the tag '{_short_tag(node.tag)}' is not allowed", _TAG_FIX)
        try:
            return self.loader.construct_object(node)
        except (ValueError, OverflowError) as exc:
            # PyYAML matches dates by pattern, then datetime rejects 2026-13-45 with a bare ValueError.
            if node.tag == _TIMESTAMP_TAG:
                raise self.fail(
                    node,
                    parts,
                    f"'{node.value}' is not a valid date ({exc})",
                    "write a real date as YYYY-MM-DD, or quote the value to keep it as text",
                ) from None
            raise self.fail(
                node, parts, f"'{node.value}' cannot be read as {_short_tag(node.tag)} ({exc})", "quote the value"
            ) from None

    def _mapping(self, node: yaml.MappingNode, parts: Key) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        merged: dict[Any, Any] = {}
        spelled: dict[Any, str] = {}
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
            key = self._construct(key_node, parts)
            if isinstance(key, dt.date | dt.datetime):
                key = key.isoformat()
            segment = _json_key(key)
            if key in out:
                first = self.lines.get((*parts, segment), 0)
                # `yes:` and `on:` (or `1:` and `0x1:`) are the same key to YAML; say so when the spelling differs.
                same = "" if spelled[key] == key_node.value else f" as '{spelled[key]}', which YAML reads the same"
                raise self.fail(
                    key_node,
                    parts,
                    f"duplicate key '{key_node.value}' (first defined on line {first}{same})",
                    "remove one of the two entries; YAML keeps only the last and hides the first",
                )
            spelled[key] = key_node.value
            self.lines[(*parts, segment)] = key_node.start_mark.line + 1
            out[key] = self.build(value_node, (*parts, segment))
        for k, v in merged.items():
            out.setdefault(k, v)
        return out


_OTHER_BOMS = (
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\xfe\xff", "UTF-16"),
    (b"\xff\xfe", "UTF-16"),
)


def _decode(raw: bytes, display: str) -> str:
    for bom, encoding in _OTHER_BOMS:
        if raw.startswith(bom):
            raise _LoadError(
                Finding(
                    display,
                    1,
                    "",
                    f"the file is encoded as {encoding} (it starts with a {encoding} byte-order mark)",
                    "save the file as UTF-8",
                )
            )
    if b"\x00" in raw:
        # Checked before decoding: a NUL means a binary file (or a UTF-16 one without a BOM), whatever else is wrong.
        at = raw.index(b"\x00")
        line = raw[:at].count(b"\n") + 1
        column = at - (raw.rfind(b"\n", 0, at) + 1) + 1
        raise _LoadError(
            Finding(
                display,
                line,
                "",
                f"the file contains a NUL byte (at column {column}); it looks like a binary file",
                "save the contract as plain UTF-8 text",
            )
        )
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
    return text


def _children(node: yaml.Node) -> list[tuple[str | int | None, yaml.Node, int]]:
    """Return a node's children: the path segment each adds (None for keys and merges) and its line.

    The line is that of the mapping key, or of the list itself: an alias node carries its anchor's line.
    """
    if isinstance(node, yaml.SequenceNode):
        return [(i, child, node.start_mark.line + 1) for i, child in enumerate(node.value)]
    if isinstance(node, yaml.MappingNode):
        out: list[tuple[str | int | None, yaml.Node, int]] = []
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            plain = isinstance(key_node, yaml.ScalarNode) and key_node.tag != _MERGE_TAG
            out += [(None, key_node, line), (key_node.value if plain else None, value_node, line)]
        return out
    return []


def _check_aliases(root: yaml.Node, display: str) -> None:
    """Refuse recursive aliases and alias expansion beyond MAX_NODES before building anything.

    The composed tree shares one node object per anchor, so sizes are computed once per distinct node:
    a 'billion laughs' document is measured without being expanded.
    """
    size: dict[int, int] = {}
    first_path: dict[int, Key] = {}
    active: set[int] = set()
    # Iterative post-order walk: a deep document must not hit Python's recursion limit here.
    stack: list[tuple[yaml.Node, Key, bool]] = [(root, (), False)]
    while stack:
        node, parts, done = stack.pop()
        if done:
            active.discard(id(node))
            size[id(node)] = 1 + sum(size[id(child)] for _, child, _ in _children(node))
            continue
        if id(node) in size:
            continue
        active.add(id(node))
        first_path.setdefault(id(node), parts)
        stack.append((node, parts, True))
        for segment, child, line in reversed(_children(node)):
            here = parts if segment is None else (*parts, segment)
            if id(child) in active:
                raise _LoadError(
                    Finding(
                        display,
                        line,
                        yaml_path(here),
                        f"a recursive alias: it refers to the value anchored on line {child.start_mark.line + 1}, "
                        "which contains this alias",
                        "point the alias (*name) at a value outside its own anchor (&name), or write the data out",
                    )
                )
            if id(child) not in size:
                stack.append((child, here, False))
    if size[id(root)] <= MAX_NODES:
        return
    # Point at the value whose own expansion is too large, stopping where the data is only an alias.
    node, parts = root, ()
    while True:
        bigger = [
            (segment, child)
            for segment, child, _ in _children(node)
            if segment is not None and size[id(child)] > MAX_NODES and first_path.get(id(child)) == (*parts, segment)
        ]
        if not bigger:
            break
        segment, node = bigger[0]
        parts = (*parts, segment)
    raise _LoadError(
        Finding(
            display,
            node.start_mark.line + 1,
            yaml_path(parts),
            f"aliases expand this value to {size[id(node)]:,} nodes, more than the {MAX_NODES:,} a contract may hold",
            "remove the anchors and aliases (&name / *name) and write the data out",
        )
    )


_INDENT_PROBLEMS = ("did not find expected key", "did not find expected '-' indicator", "expected <block end>")
"""Parser problems that, in a block (not flow) collection, mean a line is indented wrongly."""


def _source_line(text: str, line: int) -> str:
    lines = text.splitlines()
    return lines[line - 1] if 0 < line <= len(lines) else ""


def _syntax_finding(exc: yaml.MarkedYAMLError, text: str, display: str) -> Finding:
    """Explain a parser error in the user's terms, at the line where the fix goes."""
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else 1
    problem = exc.problem or exc.context or "invalid YAML"
    context_line = exc.context_mark.line + 1 if exc.context_mark else 0
    source = _source_line(text, line)
    syntax_fix = "fix the YAML syntax at this line (check indentation, quotes and colons)"
    if "expected a single document" in str(exc):
        return Finding(
            display, line, "", "the file holds more than one YAML document", "keep one document (drop the extra ---)"
        )
    if "maximum nesting depth" in problem:
        return Finding(display, line, "", f"nesting is deeper than {MAX_DEPTH} levels", "flatten the data")
    if "\t" in source[: len(source) - len(source.lstrip(" \t"))] or "'\\t'" in problem:
        return Finding(
            display,
            line,
            "",
            "a tab character is used for indentation (YAML allows only spaces there)",
            "replace the tab with spaces",
        )
    if "end of stream" in problem and exc.context and "quoted scalar" in exc.context and context_line:
        # The parser notices at the end of the file; the fix belongs where the quote was opened.
        return Finding(
            display,
            context_line,
            "",
            "a quoted value is never closed (the file ends inside it)",
            "add the closing quote, or escape the quote character inside the value",
        )
    if "undefined alias" in problem:
        found = re.match(r"\*([^\s,\]\}]+)", source[mark.column :]) if mark else None
        name = found.group(1) if found else "name"
        return Finding(
            display,
            line,
            "",
            f"the alias '*{name}' refers to no anchor",
            f"define '&{name}' on an earlier value, or write the value out",
        )
    if "could not find expected ':'" in problem and context_line:
        # Reported where the scanner gave up (often the next line); the key without a colon is earlier.
        return Finding(
            display,
            context_line,
            "",
            "YAML syntax error: this line has no ':' after its key",
            "write 'key: value', or indent the line as a continuation of the value above",
        )
    if "mapping values are not allowed" in problem:
        value_part = source.strip().removeprefix("- ")
        if value_part.count(": ") + value_part.endswith(":") >= 2:
            return Finding(
                display,
                line,
                "",
                "YAML syntax error: the value contains ': ', which starts a mapping",
                "put the value in quotes",
            )
        return Finding(
            display,
            line,
            "",
            "YAML syntax error: this line is indented deeper than the key above it",
            "indent it with the same number of spaces as its siblings",
        )
    closing = next((c for c in "]}" if f"expected ',' or '{c}'" in problem), "")
    if closing and context_line and context_line != line:
        opening, kind = ("[", "list") if closing == "]" else ("{", "mapping")
        return Finding(
            display,
            line,
            "",
            f"YAML syntax error: the {kind} opened with '{opening}' on line {context_line} is not closed before this line",
            f"close it with '{closing}' (and separate its entries with ',')",
        )
    if any(p in problem for p in _INDENT_PROBLEMS):
        block = f" that starts on line {context_line}" if context_line and context_line != line else " around it"
        return Finding(
            display,
            line,
            "",
            f"YAML syntax error: the indentation of this line does not match the block{block}",
            "indent it with the same number of spaces as its siblings",
        )
    if isinstance(exc, yaml.constructor.ConstructorError):
        return Finding(display, line, "", f"YAML error: {problem}", "write plain YAML values")
    message = f"YAML syntax error: {problem}"
    if exc.context and context_line and context_line != line:
        message += f" ({exc.context} that starts on line {context_line})"
    return Finding(display, line, "", message, syntax_fix)


def _reader_finding(exc: yaml.reader.ReaderError, text: str, display: str) -> Finding:
    """Locate a character YAML refuses (a control character pasted from a terminal, say)."""
    character = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "?")
    at = text.find(chr(character))
    if at < 0:
        return Finding(display, 1, "", f"the file contains the character U+{character:04X}", "remove it")
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    return Finding(
        display,
        line,
        "",
        f"the file contains the {'control ' if unicodedata.category(chr(character)) == 'Cc' else ''}"
        f"character U+{character:04X} at column {column}",
        "remove it (YAML allows tabs, line breaks and printable characters only)",
    )


def _parse(text: str, display: str) -> tuple[Any, dict[Key, int]]:
    try:
        # The pure-Python reader checks every character as it is created; libyaml checks while parsing.
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:
        raise _LoadError(_reader_finding(exc, text, display)) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        _check_aliases(node, display)
        builder = _Builder(loader, display)
        return builder.build(node, ()), builder.lines
    except yaml.MarkedYAMLError as exc:
        raise _LoadError(_syntax_finding(exc, text, display)) from None
    except yaml.reader.ReaderError as exc:
        raise _LoadError(_reader_finding(exc, text, display)) from None
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "invalid YAML"
        raise _LoadError(Finding(display, 1, "", f"YAML error: {first}", "fix the YAML syntax")) from None
    except RecursionError:
        # Only the pure-Python composer recurses per level; find the line with a flat event scan.
        raise _LoadError(
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


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# YAML words for JSON Schema types: users write mappings and lists, not objects and arrays.
_TYPE_WORDS = {
    "object": "mapping",
    "array": "list",
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "null": "null",
}
_SENSITIVE_PARENTS = ("credentials", "identity")
_RANGE_WORDS = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}


def _kind(value: Any) -> str:
    """Return the YAML word for a loaded value's type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return "string"


def _a(word: str) -> str:
    """Return the word with its indefinite article ('an integer', 'a list'; plain 'null')."""
    if word == "null":
        return word
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def _sensitive(parts: Key) -> bool:
    """Return True when the value at `parts` may be a credential, so messages must not echo it."""
    return any(
        isinstance(part, str) and (part in _SENSITIVE_PARENTS or SENSITIVE_KEY.search(part) is not None)
        for part in parts
    )


def _resolve(root: dict[str, Any], schema: Any) -> dict[str, Any]:
    """Follow a local `$ref` (`#/$defs/x`) so a property's description can be shown."""
    for _ in range(10):
        if not isinstance(schema, dict):
            return {}
        ref = schema.get("$ref")
        if not (isinstance(ref, str) and ref.startswith("#/")):
            return schema
        target: Any = root
        for segment in ref[2:].split("/"):
            target = target.get(segment, {}) if isinstance(target, dict) else {}
        schema = target
    return {}


def _property_description(root: dict[str, Any], error: ValidationError, name: str) -> str:
    """Return the description of property `name` from the nearest enclosing schema that defines it.

    Walks the error's schema path so that a key required by an `if`/`then` still finds its description
    in the object schema around it.
    """
    chain: list[dict[str, Any]] = []
    node: Any = root
    for segment in list(error.absolute_schema_path)[:-1]:
        node = _resolve(root, node)
        chain.append(node)
        if isinstance(node, dict):
            node = node.get(segment, {}) if isinstance(segment, str) else {}
        elif isinstance(node, list) and isinstance(segment, int) and segment < len(node):
            node = node[segment]
        else:
            return ""
    chain.append(_resolve(root, node))
    for schema in reversed(chain):
        props = schema.get("properties") if isinstance(schema, dict) else None
        if isinstance(props, dict) and name in props:
            return str(_resolve(root, props[name]).get("description", ""))
    return ""


def _with_hint(fix: str, hint: str) -> str:
    return f"{fix} ({hint.rstrip('.')})" if hint else fix


def _schema_findings(doc: Document, error: ValidationError, schema_name: str, root: dict[str, Any]) -> list[Finding]:
    outer: dict[str, Any] = dict(error.schema) if isinstance(error.schema, dict) else {}
    if error.context and all(c.validator == "required" for c in error.context):
        # oneOf/anyOf of `required` branches: the mapping lacks every alternative key.
        required = [c.validator_value for c in error.context]
        keys = [str(r[0]) for r in required if isinstance(r, list) and r]
        return [
            doc.finding(
                tuple(error.absolute_path),
                "needs one of the keys " + " or ".join(f"'{k}'" for k in keys),
                _with_hint("add one of them", str(outer.get("description", ""))),
            )
        ]
    if error.context:
        # oneOf/anyOf: report the branch that came closest instead of "is not valid under any".
        inner = best_match(error.context)
        if inner is not None and inner.validator != error.validator:
            error = inner
    parts: Key = tuple(error.absolute_path)
    schema: dict[str, Any] = dict(error.schema) if isinstance(error.schema, dict) else {}
    hint = str(schema.get("description", "")) if parts else ""
    validator, instance = error.validator, error.instance
    value: Any = error.validator_value
    secret = _sensitive(parts)
    shown = "the value" if secret else _short(instance)
    if "propertyNames" in error.relative_schema_path:
        # The error is about a key of the mapping at `parts`, and `instance` is that key.
        key = str(instance)
        parts = (*parts, key)
        if validator == "enum":
            message = f"unknown key '{key}'{did_you_mean(key, value)}"
            fix = "use one of: " + ", ".join(str(v) for v in value)
        else:
            message = f"the key '{key}' is not allowed here ({error.message[:120]})"
            fix = _with_hint("rename the key", str(schema.get("description", "")))
        return [doc.finding(parts, message, fix)]
    if validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else str(value)
        about = _property_description(root, error, missing)
        message = f"missing required key '{missing}'"
        fix = _with_hint(f"add '{missing}'", about)
    elif validator == "additionalProperties":
        allowed = schema.get("properties", {})
        patterns = list(schema.get("patternProperties", {}))
        extras = [
            k
            for k in (instance if isinstance(instance, dict) else {})
            if k not in allowed and not any(re.search(pattern, str(k)) for pattern in patterns)
        ]
        return [
            doc.finding(
                (*parts, extra),
                f"unknown key '{extra}'",
                f"remove it or fix its spelling{did_you_mean(extra, allowed)}",
            )
            for extra in extras or ["?"]
        ]
    elif validator == "type":
        wanted = " or ".join(_a(_TYPE_WORDS.get(t, t)) for t in ([value] if isinstance(value, str) else value))
        if not parts:
            message = f"the top level is {_a(_kind(instance))}, not {wanted}"
            fix = f"write the contract as {wanted} (see contracts/schemas/{schema_name})"
        else:
            message = f"{shown} is {_a(_kind(instance))}, not {wanted}"
            fix = _with_hint(f"write {wanted} here", hint)
    elif validator == "enum":
        message = f"{shown} is not an allowed value{'' if secret else did_you_mean(instance, value)}"
        fix = "use one of: " + ", ".join(str(v) for v in value)
    elif validator == "const":
        message = f"{shown} must be {_short(value)}"
        fix = f"write {_short(value)}"
    elif validator == "pattern":
        message = f"{shown} does not match the pattern {value}"
        fix = _with_hint(f"write a value matching {value}", hint)
    elif validator in ("minItems", "minProperties", "minLength"):
        what = {"minItems": "entry", "minProperties": "key", "minLength": "character"}[validator]
        message = "must not be empty" if value == 1 else f"needs at least {value} {what}s"
        fix = _with_hint(f"add at least one {what}" if value == 1 else f"add at least {value} {what}s", hint)
    elif validator in ("maxItems", "maxProperties", "maxLength"):
        what = {"maxItems": "entries", "maxProperties": "keys", "maxLength": "characters"}[validator]
        count = len(instance) if isinstance(instance, list | dict | str) else 0
        message = f"has {count} {what}; at most {value} are allowed"
        fix = _with_hint(f"remove {what} to leave at most {value}", hint)
    elif validator in _RANGE_WORDS:
        message = f"{shown} is out of range (must be {_RANGE_WORDS[validator]} {value})"
        fix = _with_hint(f"use a value {_RANGE_WORDS[validator]} {value}", hint)
    elif validator == "uniqueItems":
        items = instance if isinstance(instance, list) else []
        twice = next((item for i, item in enumerate(items) if item in items[:i]), None)
        message = "has duplicate entries" + ("" if twice is None or secret else f" ({_short(twice)} appears twice)")
        fix = "remove the duplicates"
    elif validator == "oneOf" and not error.context:
        # More than one branch matched: the value mixes alternatives (both {env:} and {secret:}, say).
        alternatives = [b.get("required") for b in value if isinstance(b, dict)] if isinstance(value, list) else []
        keys = [str(r[0]) for r in alternatives if isinstance(r, list) and len(r) == 1]
        present = [k for k in keys if isinstance(instance, dict) and k in instance]
        if len(present) > 1:
            message = "sets " + " and ".join(f"'{k}'" for k in present) + ", which exclude each other"
            fix = _with_hint("keep exactly one of them", hint)
        else:
            message = "matches more than one of the allowed forms; it must match exactly one"
            fix = _with_hint("keep the keys of one form only", hint)
    else:
        text = f"the value does not satisfy '{validator}'" if secret else error.message
        message = text if len(text) < 160 else text[:157] + "..."
        fix = _with_hint(f"see contracts/schemas/{schema_name}", hint)
    return [doc.finding(parts, message, fix)]


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
    findings = [f for e in errors for f in _schema_findings(doc, e, schema_path.name, root)]
    return sorted(set(findings), key=lambda f: (f.line, f.path, f.message))


_cache: dict[tuple[str, Path, str, str], tuple[str, Document]] = {}
_cache_lock = threading.Lock()


def load_document(name: str, path: Path, display: str, schema_path: Path | None) -> Document:
    """Load one contract file, parsing each content once per process (a changed file is parsed again)."""
    doc = Document(name, path, display)
    raw = _read(doc)
    if raw is None:
        return doc
    digest = hashlib.sha256(raw).hexdigest()
    # Keyed by content, not mtime: an edit within the file system's timestamp granularity is still seen.
    key = (name, path.resolve(), display, str(schema_path))
    with _cache_lock:
        cached = _cache.get(key)
    if cached and cached[0] == digest:
        return cached[1]
    doc.sha256 = digest
    _parse_into(doc, raw, schema_path)
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


def _parse_into(doc: Document, raw: bytes, schema_path: Path | None) -> None:
    try:
        doc.data, doc.lines = _parse(_decode(raw, doc.display), doc.display)
    except _LoadError as exc:
        doc.errors.append(exc.finding)
        return
    if doc.data is None:
        doc.errors.append(Finding(doc.display, 1, "", "the file is empty", "write the contract's top-level mapping"))
        return
    if schema_path is not None:
        doc.errors.extend(validate(doc, schema_path))


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
