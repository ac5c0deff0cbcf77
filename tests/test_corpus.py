"""Known-bad contract files (tests/corpus), each checked against the exact message it must produce.

Layout: `tests/corpus/<case>/<contract path>` is the bad file as it would sit in a contract set (for example
`duplicate-key/gate.registry.yaml` or `literal-credential/environments/production.yaml`), and
`tests/corpus/<case>/expected.txt` holds the rendered findings, one per line, with paths as displayed from
inside the contract set. Cases that would need a large or uncommittable file (50 MiB, 5000 nested lists, a
missing file, a directory) hold a `GENERATED.md` instead of the contract file; their generator is in
`GENERATED` below.

No test here measures time; each states behaviour: the loader refuses the input with its message (never a
traceback), refuses a pipe, a device, a directory or an oversized file without reading a byte of it, and
refuses an alias bomb without expanding it (peak memory). Hangs are caught by the `HANG_GUARD_SECONDS`
pytest-timeout guard, far above the slowest case; speed numbers come from `bench/`.
"""

from __future__ import annotations

import os
import shutil
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from infracore_verify.contracts import loader
from infracore_verify.contracts.loader import Document
from infracore_verify.contracts.model import Registry
from infracore_verify.contracts.sets import BUNDLED_CONTRACTS, FILES, SUITE_ROOT, Contracts, ContractsPathError
from tests.conftest import PROJECT_CONFTEST

CORPUS = Path(__file__).parent / "corpus"
EXPECTED = "expected.txt"
DESCRIPTION = "GENERATED.md"
MIN_CASES = 15
HANG_GUARD_SECONDS = 60
"""pytest-timeout guard on loading one bad file: the slowest case (5000 nested lists, pure-Python parser) takes
about a second, so this only ever fires on a hang (a blocking read of a pipe, an endless one of /dev/zero)."""
MEMORY_BOUND_BYTES = 16 * 1024 * 1024
"""Peak Python allocations allowed while refusing the alias bomb (expanding it would take hundreds of MiB)."""
LOGICAL_NAMES = {file_name: name for name, (file_name, _) in FILES.items()}
LOADERS: dict[str, type[yaml.SafeLoader] | type[yaml.CSafeLoader] | None] = {
    "libyaml": getattr(yaml, "CSafeLoader", None),
    "pure-python": yaml.SafeLoader,
}
"""The loader uses libyaml when PyYAML has it and falls back to the pure-Python parser; both must behave."""

Generator = Callable[[Path], None]


def _sparse_file(size: int) -> Generator:
    """Return a generator that replaces the contract with a sparse file of `size` bytes (nothing written)."""

    def generate(path: Path) -> None:
        with path.open("wb") as fh:
            fh.truncate(size)

    return generate


def _nested_lists(depth: int) -> Generator:
    """Return a generator that writes `capabilities:` followed by `depth` nested flow lists on line 2."""

    def generate(path: Path) -> None:
        path.write_text(f"# generated: {depth} nested lists\ncapabilities: {'[' * depth}{']' * depth}\n")

    return generate


def _remove(path: Path) -> None:
    """Delete the contract file."""
    path.unlink()


def _make_directory(path: Path) -> None:
    """Replace the contract file with an empty directory of the same name."""
    path.unlink()
    path.mkdir()


def _make_fifo(path: Path) -> None:
    """Replace the contract file with a named pipe that nobody writes to."""
    if not hasattr(os, "mkfifo"):
        pytest.skip("named pipes need a POSIX system")
    path.unlink()
    os.mkfifo(path)


def _link_to_dev_zero(path: Path) -> None:
    """Replace the contract file with a symbolic link to /dev/zero (endless, though its size reads 0)."""
    if not Path("/dev/zero").exists():
        pytest.skip("needs /dev/zero")
    path.unlink()
    path.symlink_to("/dev/zero")


GENERATED: dict[str, tuple[str, Generator]] = {
    "huge-file": ("gate.registry.yaml", _sparse_file(50 * 1024 * 1024)),
    "deep-nesting": ("capability_map.yaml", _nested_lists(5000)),
    "nesting-over-limit": ("capability_map.yaml", _nested_lists(250)),
    "missing-file": ("operational.gaps.yaml", _remove),
    "directory-instead-of-file": ("operational.gaps.yaml", _make_directory),
    "named-pipe": ("operational.gaps.yaml", _make_fifo),
    "device-symlink": ("operational.gaps.yaml", _link_to_dev_zero),
}
"""Cases built at test time: case name -> (contract path inside the set, generator)."""


@dataclass(frozen=True)
class Case:
    """One corpus entry: the bad contract (committed or generated) and the findings it must produce."""

    name: str
    contract: str
    """Path of the contract inside a contract set, e.g. `gate.registry.yaml` or `environments/x.yaml`."""
    expected: tuple[str, ...]
    source: Path | None = None
    """The committed bad file; None for a generated case."""

    def install(self, contracts_dir: Path) -> None:
        """Put the bad contract into a copied contract set, replacing the file of the same name."""
        target = contracts_dir / self.contract
        target.parent.mkdir(parents=True, exist_ok=True)
        if self.source is not None:
            shutil.copyfile(self.source, target)
        else:
            GENERATED[self.name][1](target)

    def load(self, contracts: Contracts) -> Document:
        """Load the case's contract through the contract set, as the gates do."""
        parts = Path(self.contract).parts
        if parts[0] == "environments":
            return contracts.environment(Path(self.contract).stem)
        return contracts.doc(LOGICAL_NAMES[self.contract])


def _scan() -> tuple[list[Case], list[str]]:
    """Read the corpus directory; return the cases and any layout problems (reported by a test, not here)."""
    cases: list[Case] = []
    problems: list[str] = []
    for folder in sorted(p for p in CORPUS.iterdir() if p.is_dir()):
        expected_file = folder / EXPECTED
        if not expected_file.is_file():
            problems.append(f"{folder.name}: no {EXPECTED}")
            continue
        expected = tuple(expected_file.read_text(encoding="utf-8").splitlines())
        files = sorted(
            p.relative_to(folder).as_posix()
            for p in folder.rglob("*")
            if p.is_file() and p.name not in (EXPECTED, DESCRIPTION)
        )
        if folder.name in GENERATED:
            if files or not (folder / DESCRIPTION).is_file():
                problems.append(f"{folder.name}: a generated case holds only {EXPECTED} and {DESCRIPTION}")
            cases.append(Case(folder.name, GENERATED[folder.name][0], expected))
        elif len(files) != 1:
            problems.append(f"{folder.name}: expected exactly one contract file, found {files}")
        elif not (files[0] in LOGICAL_NAMES or files[0].startswith("environments/")):
            problems.append(f"{folder.name}: {files[0]} is not a contract file name")
        else:
            cases.append(Case(folder.name, files[0], expected, folder / files[0]))
    problems += [f"{name}: generated but has no corpus directory" for name in GENERATED if not (CORPUS / name).is_dir()]
    return cases, problems


CASES, LAYOUT_PROBLEMS = _scan()
BY_NAME = {case.name: case for case in CASES}


@pytest.fixture(params=list(LOADERS), ids=list(LOADERS))
def yaml_loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Returns the name of the YAML parser the loader is switched to for the test (libyaml or pure Python)."""
    name = str(request.param)
    parser = LOADERS[name]
    if parser is None:
        pytest.skip("PyYAML was built without libyaml")
    monkeypatch.setattr(loader, "_Loader", parser)
    return name


def _load(case: Case, contracts_dir: Path) -> Document:
    """Installs the case into the copied set and returns its loaded document."""
    case.install(contracts_dir)
    return case.load(Contracts.open(contracts_dir, contracts_dir))


def test_corpus_layout_is_complete() -> None:
    """Holds at least the minimum number of cases, each with its expected message and one bad contract."""
    assert LAYOUT_PROBLEMS == []
    assert len(CASES) >= MIN_CASES
    assert all(case.expected for case in CASES), "every case must expect at least one finding"


@pytest.mark.timeout(HANG_GUARD_SECONDS)
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_contract_gives_its_message(case: Case, contracts_dir: Path, yaml_loader: str) -> None:
    """Loads a known-bad contract and gets exactly the findings in its expected.txt, without raising."""
    doc = _load(case, contracts_dir)
    assert [finding.render() for finding in doc.errors] == list(case.expected)


@pytest.mark.timeout(HANG_GUARD_SECONDS)
@pytest.mark.parametrize("name", ["deep-nesting", "nesting-over-limit"])
def test_deep_nesting_is_refused_with_its_message(name: str, contracts_dir: Path, yaml_loader: str) -> None:
    """Refuses nesting beyond the limit as a finding on its line, with no data kept (never a RecursionError)."""
    case = BY_NAME[name]
    doc = _load(case, contracts_dir)
    assert [finding.render() for finding in doc.errors] == list(case.expected)
    assert f"deeper than {loader.MAX_DEPTH} levels; flatten the data" in case.expected[0]
    assert not doc.ok
    assert (doc.data, doc.lines) == (None, {})


UNREAD_CASES = ["huge-file", "named-pipe", "device-symlink", "directory-instead-of-file", "missing-file"]
"""Cases refused by what the path is (its size, its file type, its absence), before any byte is read."""


@pytest.mark.timeout(HANG_GUARD_SECONDS)
@pytest.mark.parametrize("name", UNREAD_CASES)
def test_unusable_path_is_refused_unread(name: str, contracts_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuses a 50 MiB file by its size, and a pipe, a device, a directory or a missing file by what the path is:
    no byte of it is read (reading a pipe would block, reading /dev/zero would never end)."""
    case = BY_NAME[name]
    case.install(contracts_dir)
    contracts = Contracts.open(contracts_dir, contracts_dir)

    def no_reading(self: Path, *args: object, **kwargs: object) -> bytes:
        raise AssertionError(f"{self} was read")

    monkeypatch.setattr(Path, "read_bytes", no_reading)
    monkeypatch.setattr(Path, "read_text", no_reading)
    monkeypatch.setattr(Path, "open", no_reading)
    doc = case.load(contracts)
    assert [finding.render() for finding in doc.errors] == list(case.expected)
    assert (doc.data, doc.sha256) == (None, "")


@pytest.mark.timeout(HANG_GUARD_SECONDS)
def test_alias_bomb_is_refused_without_expanding(contracts_dir: Path) -> None:
    """Refuses a 'billion laughs' document by measuring it, with no large allocation."""
    case = BY_NAME["alias-bomb"]
    tracemalloc.start()
    try:
        doc = _load(case, contracts_dir)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [finding.render() for finding in doc.errors] == list(case.expected)
    assert doc.data is None
    assert peak < MEMORY_BOUND_BYTES


def test_missing_registry_is_not_a_contract_set(contracts_dir: Path) -> None:
    """Refuses a directory without gate.registry.yaml as a contract set, naming both layouts it looked for."""
    (contracts_dir / "gate.registry.yaml").unlink()
    with pytest.raises(ContractsPathError) as caught:
        Contracts.open(contracts_dir, contracts_dir)
    path = contracts_dir.resolve()
    assert str(caught.value) == (
        f"{path}: neither {path}/gate.registry.yaml (suite layout) nor "
        f"{path}/ops/bindings/gate.registry.yaml (ops repository) exists; "
        "point --contracts at a contracts directory or an ops repository root"
    )


@pytest.mark.parametrize(
    "text",
    ["\ufeffversion: 1\r\nendpoints: []\r\n", "---\nversion: 1\nendpoints: []\n...\n"],
    ids=["bom-and-crlf", "document-markers"],
)
def test_harmless_variants_still_load(text: str, tmp_path: Path, yaml_loader: str) -> None:
    """Loads a UTF-8 byte-order mark, Windows line ends and explicit document markers without findings."""
    path = tmp_path / "services.health.yaml"
    path.write_bytes(text.encode("utf-8"))
    doc = loader.load_document("health", path, path.name, None)
    assert doc.errors == []
    assert doc.data == {"version": 1, "endpoints": []}


# End to end: the corpus files dropped into a full contract set, run through the plugin in a subprocess.


def _suite(pytester: pytest.Pytester, case: Case) -> Path:
    """Lays out a pytester project with the plugin, the gate tests and a contract set holding the bad file."""
    (pytester.path / "conftest.py").write_text(PROJECT_CONFTEST)
    shutil.copy(SUITE_ROOT / "gates" / "test_gates.py", pytester.path / "test_gates.py")
    contracts_dir = pytester.path / "contracts"
    shutil.copytree(BUNDLED_CONTRACTS, contracts_dir)
    case.install(contracts_dir)
    return contracts_dir


def _run(pytester: pytest.Pytester, contracts_dir: Path, *args: str) -> tuple[pytest.RunResult, str]:
    """Runs the gates against the contract set; returns the result and its combined stdout and stderr."""
    result = pytester.runpytest_subprocess("--contracts", str(contracts_dir), "-p", "no:cacheprovider", *args)
    output = result.stdout.str() + "\n" + result.stderr.str()
    assert "Traceback" not in output
    return result, output


def _failure_section(result: pytest.RunResult) -> list[str]:
    """Returns the output lines before the short test summary (which repeats messages in full when CI is set)."""
    lines = result.outlines
    end = next((i for i, line in enumerate(lines) if "short test summary info" in line), len(lines))
    return lines[:end]


def _active_gate_count() -> int:
    return len(Registry.from_doc(Contracts.open(BUNDLED_CONTRACTS).doc("registry")).active)


@pytest.mark.parametrize("extra", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_gap_file_error_fails_only_the_gates_that_read_it(pytester: pytest.Pytester, extra: list[str]) -> None:
    """Fails D900, D903 and D910 with the corpus message when operational.gaps.yaml is bad; every other gate passes."""
    case = BY_NAME["unknown-key-in-gap"]
    contracts_dir = _suite(pytester, case)
    result, _ = _run(pytester, contracts_dir, *extra)
    result.assert_outcomes(passed=_active_gate_count() - 3, failed=3)
    failed = sorted(line.split()[1] for line in result.outlines if line.startswith("FAILED "))
    assert failed == [f"test_gates.py::test_gate[{g}]" for g in ("D900", "D903", "D910")]
    for line in case.expected:
        assert _failure_section(result).count(f"  contracts/{line}") == 3
    assert "failing_gate_ids: D900 D903 D910" in result.outlines


def test_registry_error_stops_the_run_as_a_usage_error(pytester: pytest.Pytester) -> None:
    """Ends the run with exit code 4 and the registry's file:line finding when the registry does not load."""
    case = BY_NAME["duplicate-key"]
    contracts_dir = _suite(pytester, case)
    result, _ = _run(pytester, contracts_dir)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.errlines[:3] == [
        "ERROR: cannot select gates; these contracts do not load:",
        *(f"contracts/{line}" for line in case.expected),
        "",
    ]


def test_literal_credential_never_reaches_any_output(pytester: pytest.Pytester) -> None:
    """Fails D900 and D906 on a literal token without echoing it to the terminal, JUnit, Allure or receipts."""
    case = BY_NAME["literal-credential"]
    assert case.source is not None
    token = case.source.read_text(encoding="utf-8").split('api_token: "')[1].split('"')[0]
    contracts_dir = _suite(pytester, case)
    result, output = _run(pytester, contracts_dir, "--junitxml=reports/junit.xml", "--alluredir=reports/allure-results")
    result.assert_outcomes(passed=_active_gate_count() - 2, failed=2)
    for line in case.expected:
        assert _failure_section(result).count(f"  contracts/{line}") == 2
    assert token not in output
    written = [p for p in (pytester.path / "reports").rglob("*") if p.is_file()]
    assert any(p.name == "junit.xml" for p in written)
    assert any(p.name.endswith("-result.json") for p in written)
    leaks = [os.fspath(p) for p in written if token.encode() in p.read_bytes()]
    assert leaks == []
