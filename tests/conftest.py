"""Fixtures for the suite's own tests: pytester, copies of the shipped contracts, a 127.0.0.1 httpserver."""

from __future__ import annotations

import functools
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pytest_httpserver import HTTPServer

from infracore_verify.contracts.sets import BUNDLED_CONTRACTS, CHECKOUT_ROOT, Contracts
from infracore_verify.reporting.receipt import RECEIPT_SCHEMA
from infracore_verify.sandbox import Sandbox

pytest_plugins = ["pytester", "tests.skip_policy"]

CHECKOUT = CHECKOUT_ROOT or Path(__file__).resolve().parents[1]
"""The checkout the suite's own tests run from."""
PROJECT_CONFTEST = '"""A project laid out like the checkout; the plugin is the installed pytest11 entry point."""\n'
"""The conftest.py of a pytester project (the checkout's own wires only its client fixtures)."""

ContractEditor = Callable[[str, Callable[[Any], Any]], Path]


@pytest.fixture
def contracts_dir(tmp_path: Path) -> Path:
    """Returns a private copy of the shipped contracts (suite layout) that a test may edit."""
    target = tmp_path / "contracts"
    shutil.copytree(BUNDLED_CONTRACTS, target)
    return target


@pytest.fixture
def edit_contract(contracts_dir: Path) -> ContractEditor:
    """Returns `edit(file_name, mutate)`: loads a copied contract, applies `mutate(data)`, writes it back."""

    def edit(file_name: str, mutate: Callable[[Any], Any]) -> Path:
        path = contracts_dir / file_name
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        result = mutate(data)
        path.write_text(yaml.safe_dump(data if result is None else result, sort_keys=False), encoding="utf-8")
        return path

    return edit


@pytest.fixture
def open_contracts(contracts_dir: Path) -> Callable[[], Contracts]:
    """Returns a function that opens the copied contract set, displaying paths relative to its parent."""
    return lambda: Contracts.open(contracts_dir, contracts_dir.parent)


# --- browser --------------------------------------------------------------------------------------------


def gates_project(pytester: pytest.Pytester, ini: str = "timeout_method = signal") -> pytest.Pytester:
    """Lay out a pytester project like the checkout's gates layer: conftest, gates/test_gates.py, strict ini."""
    (pytester.path / "conftest.py").write_text(PROJECT_CONFTEST)
    (pytester.path / "gates").mkdir()
    shutil.copy(CHECKOUT / "gates" / "test_gates.py", pytester.path / "gates" / "test_gates.py")
    pytester.makeini(f"[pytest]\naddopts = --strict-markers -p no:cacheprovider\n{ini}\n")
    return pytester


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselects `browser`-marked tests unless the -m expression names `browser`: they need chromium and npm."""
    if "browser" in (config.getoption("markexpr", "") or ""):
        return
    browser = [item for item in items if item.get_closest_marker("browser") is not None]
    if browser:
        config.hook.pytest_deselected(items=browser)
        items[:] = [item for item in items if item.get_closest_marker("browser") is None]


@pytest.fixture(scope="module")
def _loopback() -> Iterator[HTTPServer]:
    """Yields one pytest-httpserver bound to 127.0.0.1 for the module (the plugin's default is localhost)."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def httpserver(_loopback: HTTPServer) -> HTTPServer:
    """Returns the module's 127.0.0.1 pytest-httpserver, cleared for this test."""
    _loopback.clear()
    return _loopback


@pytest.fixture(scope="module")
def _module_sandbox() -> Iterator[Sandbox]:
    """Runs one default-seeded sandbox for the test module."""
    with Sandbox() as box:
        yield box


@pytest.fixture
def sb(_module_sandbox: Sandbox) -> Iterator[Sandbox]:
    """Returns the module's default-seeded sandbox; clears its faults and recordings after the test."""
    yield _module_sandbox
    _module_sandbox.clear_faults()
    _module_sandbox.clear_requests()


@pytest.fixture
def lab_sandbox() -> Iterator[Sandbox]:
    """Starts a sandbox for one test, reached by the pytester subprocess as a deployment on 127.0.0.1."""
    with Sandbox() as box:
        yield box


def base(server: HTTPServer) -> str:
    """Return the server's base URL (always 127.0.0.1)."""
    url = server.url_for("/").rstrip("/")
    assert url.startswith("http://127.0.0.1:")
    return url


@functools.cache
def _receipt_validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(RECEIPT_SCHEMA.read_text(encoding="utf-8")))


@pytest.fixture(autouse=True)
def _receipts_follow_their_schema(request: pytest.FixtureRequest) -> Iterator[None]:
    """Validates every receipt a test wrote (below its tmp_path or pytester directory) against receipt.schema.json."""
    roots: list[Path] = []
    if "tmp_path" in request.fixturenames:
        roots.append(request.getfixturevalue("tmp_path"))
    if "pytester" in request.fixturenames:
        roots.append(request.getfixturevalue("pytester").path)
    yield
    if not roots:
        return
    validator = _receipt_validator()
    for root in roots:
        for path in sorted(root.rglob("receipts/*.json")):
            if path.name.endswith(".drift.json"):
                continue
            data = json.loads(path.read_text(encoding="utf-8"))
            problems = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(data)]
            assert problems == [], f"{path} does not follow {RECEIPT_SCHEMA.name}: {problems[:5]}"
