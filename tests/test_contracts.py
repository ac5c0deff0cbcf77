"""The shipped contract set and its schemas: they load cleanly, and schema trouble is reported, not raised."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest

from infracore_verify.contracts.loader import load_document
from infracore_verify.contracts.sets import BUNDLED_CONTRACTS, FILES, Contracts

SCHEMAS = sorted((BUNDLED_CONTRACTS / "schemas").glob("*.schema.json"))


def test_copied_contracts_load(open_contracts: Callable[[], Contracts]) -> None:
    """Loads every shipped contract without findings from a private copy."""
    contracts = open_contracts()
    problems = [f.render() for doc in contracts.documents() for f in doc.errors]
    assert problems == []


@pytest.mark.parametrize("schema_path", SCHEMAS, ids=[p.name for p in SCHEMAS])
def test_bundled_schema_is_valid_2020_12(schema_path: Path) -> None:
    """Checks each bundled schema against the 2020-12 meta-schema (the loader skips this at run time)."""
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_every_contract_file_has_a_schema_and_editor_hint() -> None:
    """Gives every contract file a schema and a yaml-language-server line pointing at it."""
    for file_name, _ in FILES.values():
        path = BUNDLED_CONTRACTS / file_name
        if not path.exists():
            continue
        stem = file_name.removesuffix(".yaml")
        assert (BUNDLED_CONTRACTS / "schemas" / f"{stem}.schema.json").is_file(), stem
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first == f"# yaml-language-server: $schema=schemas/{stem}.schema.json"
    for path in (BUNDLED_CONTRACTS / "environments").glob("*.yaml"):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first == "# yaml-language-server: $schema=../schemas/environment.schema.json"


def test_broken_schema_is_a_finding_not_a_traceback(tmp_path: Path) -> None:
    """Reports an unusable schema as a finding naming the schema file."""
    schema = tmp_path / "thing.schema.json"
    schema.write_text(json.dumps({"$schema": "https://json-schema.org/draft/2020-12/schema", "type": 12}))
    contract = tmp_path / "thing.yaml"
    contract.write_text("a: 1\n")
    doc = load_document("thing", contract, "thing.yaml", schema)
    assert [f.render() for f in doc.errors] == [
        f"{schema}:1: the schema cannot be used: 12 is not valid under any of the given schemas;"
        " fix or restore the schema"
    ]


def test_edit_within_timestamp_granularity_is_seen(tmp_path: Path) -> None:
    """Parses a file again when its content changes, even with the same size and modification time."""
    contract = tmp_path / "c.yaml"
    contract.write_text("a: 1\n")
    first = load_document("c", contract, "c.yaml", None)
    stamp = contract.stat()
    contract.write_text("a: 2\n")
    os.utime(contract, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    second = load_document("c", contract, "c.yaml", None)
    assert (first.data, second.data) == ({"a": 1}, {"a": 2})
    assert load_document("c", contract, "c.yaml", None) is second
