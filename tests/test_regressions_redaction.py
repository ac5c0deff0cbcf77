"""Regression tests for redaction (issue 8): each layer is checked on its own, so breaking any one is caught.

The layers, in the order a secret meets them:

1. `pytest_runtest_makereport` masks the report (user_properties, longrepr, sections) and the exception
   before any other reporter or plugin reads them;
2. the receipt is masked when written;
3. at unconfigure the Allure results and the JUnit XML are scrubbed (secrets learnt after a report was made);
4. under xdist the workers hand the secrets they learnt to the controller, which writes and scrubs everything.

Layer 1 is observed through a reporter plugin in the project's conftest (what allure-pytest and JUnit read,
before the final scrubs could hide a miss). Layers 2 and 3 are observed with a credential that a later
test resolves, after every report of the gate was made, so only the write-time layer stands between the
secret and the artifact. Layer 4 is observed with a credential that the worker resolves at the gate's
teardown (deterministic whichever worker runs what). The secret reaches the run through an environment
variable, so no source file of the pytester project holds it and every file the run writes can be scanned.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from infracore_verify.contracts.sets import SUITE_ROOT
from tests.conftest import PROJECT_CONFTEST, ContractEditor

SECRET = "regression-canary-9f3b7e21c4d8a6f0"
MASKED = "[REDACTED:planted]"
GATE = "D750"
GATE_NODE = f"gates/test_gates.py::test_gate[{GATE}]"

REPORTER_CONFTEST = (
    PROJECT_CONFTEST
    + '''
import json
import os

import pytest

from infracore_verify.redact import REDACTOR

SECRET = os.environ["REGRESSION_CANARY"]
REGISTER = os.environ["REGRESSION_REGISTER"]


def pytest_configure(config):
    """A credential resolved before any test runs."""
    if REGISTER == "configure":
        REDACTOR.register(SECRET, "planted")


@pytest.fixture(autouse=True)
def _credential_resolved_late():
    """A credential resolved only after the test's call phase was reported (a late client, a finalizer)."""
    yield
    if REGISTER == "teardown":
        REDACTOR.register(SECRET, "planted")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A reporter plugin: records what allure-pytest (call.excinfo) and JUnit (the report) would read."""
    report = yield
    with open(os.environ["REGRESSION_OBSERVED"], "a", encoding="utf-8") as fh:
        fh.write(json.dumps({
            "nodeid": report.nodeid,
            "when": report.when,
            "exception": call.excinfo.exconly() if call.excinfo is not None else None,
            "user_properties": [[name, str(value)] for name, value in report.user_properties],
            "longrepr": report.longreprtext,
            "sections": report.sections,
        }) + "\\n")
    return report
'''
)

LATE_CREDENTIAL_TEST = '''
import os

from infracore_verify.redact import REDACTOR


def test_resolves_the_credential():
    """Resolves the credential after the gate ran (a later probe or client), so it is registered only now."""
    REDACTOR.register(os.environ["REGRESSION_CANARY"], "planted")
'''

CANARY_TEST = '''
import logging
import os

SECRET = os.environ["REGRESSION_CANARY"]


def test_canary():
    """Fails in every way that could carry the secret out."""
    print("stdout has", SECRET)
    logging.getLogger("x").error("log has %s", SECRET)
    assert SECRET == "something else", f"assertion has {SECRET}"
'''


@pytest.fixture
def project(
    pytester: pytest.Pytester, contracts_dir: Path, edit_contract: ContractEditor, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    """Returns a project whose gate D750 fails printing the planted secret, with the reporter conftest."""
    (pytester.path / "conftest.py").write_text(REPORTER_CONFTEST)
    (pytester.path / "gates").mkdir()
    shutil.copy(SUITE_ROOT / "gates" / "test_gates.py", pytester.path / "gates" / "test_gates.py")
    pytester.makeini(
        "[pytest]\naddopts = --strict-markers -p no:cacheprovider\ntimeout_method = signal\n"
        f"infracore_contracts = {contracts_dir}\n"
    )
    script = contracts_dir.parent / "surfaces" / "verify" / "d750.sh"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(
        "#!/usr/bin/env bash\n# TRIAGE: rotate the token\n"
        f'echo "{GATE} FAIL: login refused for token $REGRESSION_CANARY" >&2\nexit 1\n'
    )
    script.chmod(0o755)
    entry = {
        "id": GATE,
        "name": "token-login-lock",
        "category": "governance",
        "gate_class": "invariant",
        "severity": "low",
        "ring": "standard",
        "description": "Synthetic gate that echoes its credential when the login fails",
        "fix_hint": "rotate the token",
        "check_script": "surfaces/verify/d750.sh",
    }
    edit_contract("gate.registry.yaml", lambda d: d["gates"].append(entry))
    row = {"gate_id": GATE, "primary_domain": "verify", "secondary_domains": [], "family": "governance"}
    edit_contract("gate.execution.topology.yaml", lambda d: d["gate_assignments"].append(row))
    monkeypatch.setenv("REGRESSION_CANARY", SECRET)
    monkeypatch.setenv("REGRESSION_OBSERVED", str(contracts_dir.parent / "observed.jsonl"))
    return pytester


def run(project: pytest.Pytester, register: str, *args: str) -> pytest.RunResult:
    """Runs pytest in a fresh subprocess with the secret registered at `register` (configure or teardown)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REGRESSION_REGISTER", register)
        return project.runpytest_subprocess(*args, timeout=120)


def observed(contracts_dir: Path, nodeid: str, when: str = "call") -> dict[str, Any]:
    """Returns what the reporter plugin saw of one phase of one test."""
    lines = (contracts_dir.parent / "observed.jsonl").read_text(encoding="utf-8").splitlines()
    [entry] = [e for e in map(json.loads, lines) if e["nodeid"] == nodeid and e["when"] == when]
    data: dict[str, Any] = entry
    return data


def receipt_path(project: pytest.Pytester) -> Path:
    """Returns the path of the single receipt the run wrote."""
    [path] = [p for p in (project.path / "reports" / "receipts").glob("*.json") if not p.name.endswith(".drift.json")]
    return path


def gate_row(project: pytest.Pytester) -> dict[str, Any]:
    """Returns the receipt row of the gate."""
    [row] = [g for g in json.loads(receipt_path(project).read_text())["gates"] if g["id"] == GATE]
    data: dict[str, Any] = row
    return data


def leaks(files: list[Path]) -> list[str]:
    """Returns the files that hold the secret."""
    return sorted(str(p) for p in files if p.is_file() and SECRET.encode() in p.read_bytes())


# --- layer 1: the report and the exception, before any reporter reads them ------------------------------


def test_reporters_see_masked_user_properties(project: pytest.Pytester, contracts_dir: Path) -> None:
    """Masks the gate row in user_properties before reporters (JUnit properties, plugins) read the report."""
    run(project, "configure", "--gate", GATE).assert_outcomes(failed=1)
    seen = observed(contracts_dir, GATE_NODE)
    properties = json.dumps(seen["user_properties"])
    assert "infracore.gate" in properties
    assert MASKED in properties
    assert SECRET not in properties


def test_plugins_see_a_masked_exception(project: pytest.Pytester, contracts_dir: Path) -> None:
    """Masks the exception itself, which allure-pytest reads as `call.excinfo.exconly()`, not the report."""
    run(project, "configure", "--gate", GATE).assert_outcomes(failed=1)
    seen = observed(contracts_dir, GATE_NODE)
    assert seen["exception"].startswith(f"Failed: {GATE} FAIL: login refused for token {MASKED}")
    assert SECRET not in seen["exception"]
    assert SECRET not in seen["longrepr"]


# --- layers 2 and 3: write-time masking of the receipt, Allure and JUnit -------------------------------


@pytest.mark.parametrize("artifact", ["receipt", "allure", "junit"])
def test_secret_learnt_after_the_report_is_masked_when_written(
    project: pytest.Pytester, contracts_dir: Path, artifact: str
) -> None:
    """Masks a secret that a later test registered, after the gate's reports were made, in each artifact alone."""
    project.makepyfile(test_late_credential=LATE_CREDENTIAL_TEST)
    allure, junit = project.path / "allure-results", project.path / "junit.xml"
    options = {"receipt": [], "allure": [f"--alluredir={allure}"], "junit": [f"--junitxml={junit}"]}[artifact]
    result = run(project, "later-test", "gates/test_gates.py", "test_late_credential.py", "--gate", GATE, *options)
    result.assert_outcomes(failed=1, passed=1)
    # The precondition: every report of the gate carried the secret unmasked (the test ran after them), so
    # only the write-time layer can catch it.
    for when in ("call", "teardown"):
        assert SECRET in json.dumps(observed(contracts_dir, GATE_NODE, when)["user_properties"])
    if artifact == "receipt":
        assert leaks([receipt_path(project)]) == []
        assert MASKED in gate_row(project)["message"]
    elif artifact == "allure":
        files = list(allure.rglob("*"))
        assert any(p.name.endswith("-result.json") for p in files)
        assert leaks(files) == []
        assert any(MASKED in p.read_text() for p in files if p.name.endswith("-result.json"))
    else:
        assert leaks([junit]) == []
        assert MASKED in junit.read_text()


def test_secret_learnt_after_the_report_is_masked_in_the_terminal(
    project: pytest.Pytester, contracts_dir: Path
) -> None:
    """Masks, in the terminal's failure section and short summary, a secret registered after the gate failed."""
    project.makepyfile(test_late_credential=LATE_CREDENTIAL_TEST)
    result = run(project, "later-test", "gates/test_gates.py", "test_late_credential.py", "--gate", GATE, "-rA")
    result.assert_outcomes(failed=1, passed=1)
    assert SECRET in observed(contracts_dir, GATE_NODE, "call")["longrepr"]  # the report was made unmasked
    terminal = result.stdout.str() + result.stderr.str()
    assert SECRET not in terminal
    assert MASKED in terminal


# --- layer 4: secrets learnt in xdist workers --------------------------------------------------------------


def test_xdist_controller_learns_secrets_resolved_in_workers(project: pytest.Pytester, contracts_dir: Path) -> None:
    """Masks, on the controller, a secret that only a worker learnt, in the receipt, JUnit and Allure (-n 2)."""
    allure, junit = project.path / "allure-results", project.path / "junit.xml"
    result = run(project, "teardown", "--gate", GATE, "-n", "2", f"--alluredir={allure}", f"--junitxml={junit}")
    result.assert_outcomes(failed=1)
    assert SECRET in json.dumps(observed(contracts_dir, GATE_NODE)["user_properties"])
    assert leaks([receipt_path(project), junit, *allure.rglob("*")]) == []
    assert MASKED in gate_row(project)["message"]
    assert MASKED in junit.read_text()


# --- the canary, with a gate selected so that a receipt is written ----------------------------------------


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_canary_run_with_a_gate_writes_a_clean_receipt(
    project: pytest.Pytester, contracts_dir: Path, workers: list[str]
) -> None:
    """Keeps a planted secret out of the terminal and every artifact, the receipt included (a gate is selected)."""
    project.makepyfile(test_canary=CANARY_TEST)
    result = run(
        project,
        "configure",
        "gates/test_gates.py",
        "test_canary.py",
        "--gate",
        GATE,
        "-vv",
        "--tb=long",
        "-rA",
        "--log-level=DEBUG",
        f"--junitxml={project.path / 'junit.xml'}",
        f"--alluredir={project.path / 'allure'}",
        *workers,
    )
    result.assert_outcomes(failed=2)
    output = result.stdout.str() + result.stderr.str()
    assert MASKED in output
    assert SECRET not in output
    data = json.loads(receipt_path(project).read_text())
    assert data["selection"]["gate_ids"] == [GATE]
    assert MASKED in gate_row(project)["message"]
    artifacts = [p for p in project.path.rglob("*") if p.is_file()]
    assert receipt_path(project) in artifacts
    assert any(p.name == "junit.xml" for p in artifacts)
    assert any(p.suffix == ".json" and "allure" in p.parts for p in artifacts)
    assert leaks(artifacts) == []
