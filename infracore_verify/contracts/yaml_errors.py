"""YAML parser errors explained in the user's terms, at the line where the fix goes."""

from __future__ import annotations

import re
import unicodedata

import yaml

from infracore_verify.contracts.document import MAX_DEPTH
from infracore_verify.contracts.findings import Finding

_INDENT_PROBLEMS = ("did not find expected key", "did not find expected '-' indicator", "expected <block end>")
"""Parser problems that, in a block (not flow) collection, mean a line is indented wrongly."""


def _source_line(text: str, line: int) -> str:
    lines = text.splitlines()
    return lines[line - 1] if 0 < line <= len(lines) else ""


def syntax_finding(exc: yaml.MarkedYAMLError, text: str, display: str) -> Finding:
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


def reader_finding(exc: yaml.reader.ReaderError, text: str, display: str) -> Finding:
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
