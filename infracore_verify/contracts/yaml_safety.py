"""YAML safety: build plain data from a composed node tree, refusing what a contract must not hold.

Duplicate keys, tags, binary values, impossible dates, recursive aliases, alias expansion beyond MAX_NODES,
nesting beyond MAX_DEPTH and files that are not UTF-8 all become a `LoadError` carrying the finding.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import yaml

from infracore_verify.contracts.document import MAX_DEPTH, MAX_NODES, Key, LoadError
from infracore_verify.contracts.findings import Finding, yaml_path

_MERGE_TAG = "tag:yaml.org,2002:merge"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_PLAIN_COLLECTION_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
_TAG_FIX = "remove the tag (contracts hold plain YAML: mappings, lists, strings, numbers, booleans and dates)"
_DEPTH_PATH_SHOWN = 4
"""Segments of the YAML path shown when nesting is too deep."""


def json_key(key: Any) -> str | int:
    """Return a mapping key as a path segment: strings and integers as they are, anything else as JSON text.

    JSON Schema only knows string keys, and YAML paths render str and int only; `1.5:`, `true:` or `null:`
    keys become "1.5", "true" and "null".
    """
    if isinstance(key, str) or (isinstance(key, int) and not isinstance(key, bool)):
        return key
    return json.dumps(key, default=str).strip('"')


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org,2002:") else tag


class Builder:
    """Turns a composed YAML node tree into plain data, recording lines and rejecting duplicates."""

    def __init__(self, loader: Any, display: str, ops: bool = False, repeated_keys: bool = False) -> None:
        self.loader = loader
        self.display = display
        self.lines: dict[Key, int] = {}
        self.visited = 0
        self.ops = ops
        self.repeated_keys = ops or repeated_keys
        """A repeated key reads as its last value (recorded in `repeats`) instead of failing the load."""
        """Ops semantics (the ops repository's yq and PyYAML): a repeated key reads as its last value, and
        dates stay date objects. Every occurrence is kept in `repeats` for yq's `to_entries`."""
        self.repeats: dict[Key, list[tuple[Any, Any, int]]] = {}

    def fail(self, node: yaml.Node, parts: Key, message: str, fix: str) -> LoadError:
        return LoadError(Finding(self.display, node.start_mark.line + 1, yaml_path(parts), message, fix))

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
        if isinstance(value, dt.datetime | dt.date) and not self.ops:
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
        occurrences: list[tuple[Any, Any, int]] = []
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
            segment = json_key(key)
            if key in out and self.repeated_keys:
                self.repeats[parts] = occurrences
            elif key in out:
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
            occurrences.append((key, out[key], key_node.start_mark.line + 1))
        for k, v in merged.items():
            out.setdefault(k, v)
        return out


_OTHER_BOMS = (
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\xfe\xff", "UTF-16"),
    (b"\xff\xfe", "UTF-16"),
)


def decode(raw: bytes, display: str) -> str:
    for bom, encoding in _OTHER_BOMS:
        if raw.startswith(bom):
            raise LoadError(
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
        raise LoadError(
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
        raise LoadError(
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


def check_aliases(root: yaml.Node, display: str) -> None:
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
                raise LoadError(
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
    raise LoadError(
        Finding(
            display,
            node.start_mark.line + 1,
            yaml_path(parts),
            f"aliases expand this value to {size[id(node)]:,} nodes, more than the {MAX_NODES:,} a contract may hold",
            "remove the anchors and aliases (&name / *name) and write the data out",
        )
    )
