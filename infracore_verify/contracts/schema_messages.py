"""JSON Schema errors as findings: one small function per validator, in the user's YAML terms.

`schema_findings` turns one `ValidationError` into findings; `_MESSAGES` maps a validator name
(`required`, `type`, `enum`...) to the function that words its message and fix, with `_generic` as the
fallback. Values under credential-like keys are never echoed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jsonschema.exceptions import ValidationError, best_match

from infracore_verify.contracts.document import Document, Key
from infracore_verify.contracts.findings import SENSITIVE_KEY, Finding, did_you_mean
from infracore_verify.contracts.urls import display_url, has_userinfo

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
_MIN_WORDS = {"minItems": "entry", "minProperties": "key", "minLength": "character"}
_MAX_WORDS = {"maxItems": "entries", "maxProperties": "keys", "maxLength": "characters"}


def _short(value: Any) -> str:
    # A URL's user name and password are never echoed, whatever key holds it.
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(display_url(value))
    return text if len(text) <= 60 else text[:57] + "..."


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


@dataclass(frozen=True)
class _Failure:
    """One schema error and what every message needs from it: location, schema, value and its display."""

    error: ValidationError
    schema_name: str
    root: dict[str, Any]
    parts: Key
    schema: dict[str, Any]
    hint: str
    """The description of the failing value's schema (none at the top level)."""
    secret: bool
    shown: str
    """How the value appears in a message: quoted, or 'the value' when it may be a credential."""

    @classmethod
    def of(cls, error: ValidationError, schema_name: str, root: dict[str, Any]) -> _Failure:
        parts: Key = tuple(error.absolute_path)
        schema: dict[str, Any] = dict(error.schema) if isinstance(error.schema, dict) else {}
        secret = _sensitive(parts)
        return cls(
            error=error,
            schema_name=schema_name,
            root=root,
            parts=parts,
            schema=schema,
            hint=str(schema.get("description", "")) if parts else "",
            secret=secret,
            shown="the value" if secret else _short(error.instance),
        )

    @property
    def value(self) -> Any:
        """The validator's argument (the allowed values, the pattern, the minimum...)."""
        return self.error.validator_value

    @property
    def instance(self) -> Any:
        return self.error.instance


Message = tuple[str, str]
"""A finding's message and fix."""


def _required(f: _Failure) -> Message:
    missing = f.error.message.split("'")[1] if "'" in f.error.message else str(f.value)
    about = _property_description(f.root, f.error, missing)
    return f"missing required key '{missing}'", _with_hint(f"add '{missing}'", about)


def _type(f: _Failure) -> Message:
    value = f.value
    wanted = " or ".join(_a(_TYPE_WORDS.get(t, t)) for t in ([value] if isinstance(value, str) else value))
    if not f.parts:
        return (
            f"the top level is {_a(_kind(f.instance))}, not {wanted}",
            f"write the contract as {wanted} (see contracts/schemas/{f.schema_name})",
        )
    return f"{f.shown} is {_a(_kind(f.instance))}, not {wanted}", _with_hint(f"write {wanted} here", f.hint)


def _enum(f: _Failure) -> Message:
    return (
        f"{f.shown} is not an allowed value{'' if f.secret else did_you_mean(f.instance, f.value)}",
        "use one of: " + ", ".join(str(v) for v in f.value),
    )


def _const(f: _Failure) -> Message:
    return f"{f.shown} must be {_short(f.value)}", f"write {_short(f.value)}"


def _pattern(f: _Failure) -> Message:
    if isinstance(f.instance, str) and "://" in f.instance and has_userinfo(f.instance):
        return (
            f"the URL {_short(f.instance)} holds a user name or password (user:password@ before the host)",
            "remove it from the URL; give credentials under credentials: as {env: VAR} or {secret: /path/KEY}",
        )
    return (
        f"{f.shown} does not match the pattern {f.value}",
        _with_hint(f"write a value matching {f.value}", f.hint),
    )


def _too_few(f: _Failure) -> Message:
    what, value = _MIN_WORDS[str(f.error.validator)], f.value
    message = "must not be empty" if value == 1 else f"needs at least {value} {what}s"
    return message, _with_hint(f"add at least one {what}" if value == 1 else f"add at least {value} {what}s", f.hint)


def _too_many(f: _Failure) -> Message:
    what, instance = _MAX_WORDS[str(f.error.validator)], f.instance
    count = len(instance) if isinstance(instance, list | dict | str) else 0
    return (
        f"has {count} {what}; at most {f.value} are allowed",
        _with_hint(f"remove {what} to leave at most {f.value}", f.hint),
    )


def _out_of_range(f: _Failure) -> Message:
    words = _RANGE_WORDS[str(f.error.validator)]
    return (
        f"{f.shown} is out of range (must be {words} {f.value})",
        _with_hint(f"use a value {words} {f.value}", f.hint),
    )


def _unique_items(f: _Failure) -> Message:
    items = f.instance if isinstance(f.instance, list) else []
    twice = next((item for i, item in enumerate(items) if item in items[:i]), None)
    message = "has duplicate entries" + ("" if twice is None or f.secret else f" ({_short(twice)} appears twice)")
    return message, "remove the duplicates"


def _one_of(f: _Failure) -> Message:
    if f.error.context:
        return _generic(f)
    # More than one branch matched: the value mixes alternatives (both {env:} and {secret:}, say).
    value, instance = f.value, f.instance
    alternatives = [b.get("required") for b in value if isinstance(b, dict)] if isinstance(value, list) else []
    keys = [str(r[0]) for r in alternatives if isinstance(r, list) and len(r) == 1]
    present = [k for k in keys if isinstance(instance, dict) and k in instance]
    if len(present) > 1:
        return (
            "sets " + " and ".join(f"'{k}'" for k in present) + ", which exclude each other",
            _with_hint("keep exactly one of them", f.hint),
        )
    return (
        "matches more than one of the allowed forms; it must match exactly one",
        _with_hint("keep the keys of one form only", f.hint),
    )


def _generic(f: _Failure) -> Message:
    """The fallback for validators without their own wording: jsonschema's message, shortened."""
    text = f"the value does not satisfy '{f.error.validator}'" if f.secret else display_url(f.error.message)
    message = text if len(text) < 160 else text[:157] + "..."
    return message, _with_hint(f"see contracts/schemas/{f.schema_name}", f.hint)


_MESSAGES: dict[str, Callable[[_Failure], Message]] = {
    "required": _required,
    "type": _type,
    "enum": _enum,
    "const": _const,
    "pattern": _pattern,
    **dict.fromkeys(_MIN_WORDS, _too_few),
    **dict.fromkeys(_MAX_WORDS, _too_many),
    **dict.fromkeys(_RANGE_WORDS, _out_of_range),
    "uniqueItems": _unique_items,
    "oneOf": _one_of,
}
"""Validator name -> the function that words its message and fix; others fall back to `_generic`."""


def _missing_alternatives(doc: Document, error: ValidationError) -> Finding:
    """oneOf/anyOf of `required` branches: the mapping lacks every alternative key."""
    outer: dict[str, Any] = dict(error.schema) if isinstance(error.schema, dict) else {}
    required = [c.validator_value for c in error.context]
    keys = [str(r[0]) for r in required if isinstance(r, list) and r]
    return doc.finding(
        tuple(error.absolute_path),
        "needs one of the keys " + " or ".join(f"'{k}'" for k in keys),
        _with_hint("add one of them", str(outer.get("description", ""))),
    )


def _bad_key(doc: Document, f: _Failure) -> Finding:
    """A `propertyNames` error: it is about a key of the mapping at `parts`, and the instance is that key."""
    key = str(f.instance)
    if f.error.validator == "enum":
        message = f"unknown key '{key}'{did_you_mean(key, f.value)}"
        fix = "use one of: " + ", ".join(str(v) for v in f.value)
    else:
        message = f"the key '{key}' is not allowed here ({f.error.message[:120]})"
        fix = _with_hint("rename the key", str(f.schema.get("description", "")))
    return doc.finding((*f.parts, key), message, fix)


def _unknown_keys(doc: Document, f: _Failure) -> list[Finding]:
    """An `additionalProperties` error: one finding per key that neither a property nor a pattern allows."""
    allowed = f.schema.get("properties", {})
    patterns = list(f.schema.get("patternProperties", {}))
    extras = [
        k
        for k in (f.instance if isinstance(f.instance, dict) else {})
        if k not in allowed and not any(re.search(pattern, str(k)) for pattern in patterns)
    ]
    return [
        doc.finding(
            (*f.parts, extra),
            f"unknown key '{extra}'",
            f"remove it or fix its spelling{did_you_mean(extra, allowed)}",
        )
        for extra in extras or ["?"]
    ]


def schema_findings(doc: Document, error: ValidationError, schema_name: str, root: dict[str, Any]) -> list[Finding]:
    """Return the findings for one schema error of `doc`, worded for its validator."""
    if error.context and all(c.validator == "required" for c in error.context):
        return [_missing_alternatives(doc, error)]
    if error.context:
        # oneOf/anyOf: report the branch that came closest instead of "is not valid under any".
        inner = best_match(error.context)
        if inner is not None and inner.validator != error.validator:
            error = inner
    f = _Failure.of(error, schema_name, root)
    if "propertyNames" in error.relative_schema_path:
        return [_bad_key(doc, f)]
    if error.validator == "additionalProperties":
        return _unknown_keys(doc, f)
    message, fix = _MESSAGES.get(str(error.validator), _generic)(f)
    return [doc.finding(f.parts, message, fix)]
