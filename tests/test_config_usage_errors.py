"""Configure-time usage errors (issue 9 items 14 and 17), run as a user would: exit 4 with the path and the fix.

14. An unwritable reports directory (or one that is a file), a read-only `--alluredir` (an INTERNALERROR
    before) and a schema-valid but broken `base_url` (`http://[::1`, port 99999, `http:///x`) ended in
    tracebacks.
17. A `kind: sandbox` environment with a base URL of its own sent the sandbox's credentials there, labelled
    "(not real infrastructure)", for every selection (`-m smoke` and `--probe` never ran D906).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from infracore_verify.sandbox import Sandbox
from tests.projects import run, suite_project, write_env

URL_FIX = "write http(s)://<host>[:<port>][/<path>] with a port from 1 to 65535, e.g. https://vaultwarden.example.org"


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """Returns a pytester directory laid out like the project, with a private copy of the contracts."""
    return suite_project(pytester, ini="timeout_method = signal\n")


def usage_error(result: pytest.RunResult) -> str:
    """Asserts a clean usage error (exit 4, no traceback, no INTERNALERROR) and returns its output."""
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, output
    assert "Traceback" not in output
    assert "INTERNALERROR" not in output
    return output


@pytest.fixture
def unwritable_dir(tmp_path: Path) -> Iterator[Path]:
    """Yields an existing directory nobody running the test can create files in.

    Mode 0555 stops an ordinary user; root ignores modes, so as root it is Linux's sysfs, where not even root
    can create a file.
    """
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    if not sys.platform.startswith("linux") or not Path("/sys/kernel").is_dir():
        pytest.skip("running as root off Linux: no directory here refuses root's writes")
    yield Path("/sys/kernel")


# --- 14. output directories -----------------------------------------------------------------------------------


def test_reports_dir_that_is_a_file_is_a_usage_error(suite: pytest.Pytester) -> None:
    """Refuses --reports-dir naming a file (a NotADirectoryError traceback after the run before)."""
    target = suite.path / "taken"
    target.write_text("not a folder\n")
    output = usage_error(run(suite, "--gate", "D127", f"--reports-dir={target}"))
    assert (
        f"ERROR: --reports-dir {target}: {target} is a file, not a directory (a parent of {target}/receipts); "
        f"receipts go to {target}/receipts. Give a directory this run can write to with --reports-dir DIR (or "
        "infracore_reports_dir in the ini file), or fix the directory's permissions"
    ) in output


def test_reports_dir_below_a_file_from_the_ini_is_a_usage_error(suite: pytest.Pytester) -> None:
    """Names the ini setting when the reports directory it gives lies below a file."""
    (suite.path / "taken").write_text("not a folder\n")
    ini = (suite.path / "tox.ini").read_text().rstrip("\n") + "\ninfracore_reports_dir = taken/reports\n"
    (suite.path / "tox.ini").write_text(ini)
    output = usage_error(run(suite, "--gate", "D127"))
    assert (
        f"ERROR: infracore_reports_dir = taken/reports ({suite.path / 'tox.ini'}): {suite.path / 'taken'} is a file"
        in (output)
    )


def test_unwritable_reports_dir_is_a_usage_error(suite: pytest.Pytester, unwritable_dir: Path) -> None:
    """Refuses a reports directory the run cannot create its receipts folder in."""
    output = usage_error(run(suite, "--gate", "D127", f"--reports-dir={unwritable_dir}"))
    assert f"ERROR: --reports-dir {unwritable_dir}: {unwritable_dir} is not writable (" in output
    assert "Give a directory this run can write to with --reports-dir DIR" in output


def test_read_only_alluredir_is_a_usage_error(suite: pytest.Pytester, unwritable_dir: Path) -> None:
    """Refuses a read-only --alluredir before allure-pytest sets it up (an INTERNALERROR before)."""
    output = usage_error(run(suite, "--gate", "D127", f"--alluredir={unwritable_dir}"))
    assert f"ERROR: --alluredir {unwritable_dir}: {unwritable_dir} is not writable (" in output
    assert "give a directory this run can write to, e.g. --alluredir reports/allure-results" in output


def test_alluredir_below_a_file_is_a_usage_error(suite: pytest.Pytester) -> None:
    """Refuses an --alluredir whose parent is a file."""
    (suite.path / "taken").write_text("not a folder\n")
    target = suite.path / "taken" / "allure"
    output = usage_error(run(suite, "--gate", "D127", f"--alluredir={target}"))
    assert f"ERROR: --alluredir {target}: {suite.path / 'taken'} is a file, not a directory (a parent of {target})" in (
        output
    )


# --- 14. broken base URLs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://[::1", "an unclosed or invalid [IPv6] host"),
        ("http://127.0.0.1:99999", "the port is not a number from 1 to 65535"),
        ("http:///x", "it has no host name"),
        ("https://vault.example.invalid:0/", "port 0 is not a port a server listens on"),
    ],
    ids=["unclosed-ipv6", "port-99999", "no-host", "port-0"],
)
@pytest.mark.parametrize("selection", [["-m", "smoke"], ["--probe", "vaultwarden.alive"], ["--gate", "D127"]])
def test_broken_base_url_is_a_usage_error(suite: pytest.Pytester, url: str, why: str, selection: list[str]) -> None:
    """Refuses a schema-valid but unusable base_url at configure, for every selection, naming file, line and path."""
    write_env(suite, {"name": "lab", "kind": "deployment", "systems": {"vaultwarden": {"base_url": url}}})
    output = usage_error(run(suite, "--env", "lab", *selection))
    assert (
        f"environments/lab.yaml:5 $.systems.vaultwarden.base_url: base_url '{url}' is not a usable URL: {why}; "
        f"{URL_FIX}"
    ) in output


# --- 17. the sandbox label cannot lie -------------------------------------------------------------------------


@pytest.fixture
def elsewhere() -> Iterator[Sandbox]:
    """Starts a second sandbox standing in for "somewhere else": whatever it receives was sent to a foreign URL."""
    box = Sandbox()
    box.start()
    yield box
    box.stop()


@pytest.mark.parametrize("selection", [["-m", "smoke"], ["--probe", "vaultwarden.alive"], ["-m", "fast"]])
def test_sandbox_environment_with_its_own_base_url_is_refused(
    suite: pytest.Pytester, elsewhere: Sandbox, selection: list[str]
) -> None:
    """Refuses a kind: sandbox environment with a base URL, for every selection, before any request is sent.

    Before, the sandbox's credentials went to that URL while the output said "(not real infrastructure)".
    """
    url = elsewhere.base_urls["vaultwarden"]
    env = {
        "name": "lab",
        "kind": "sandbox",
        "credential_source": {"type": "env"},
        "systems": {
            "vaultwarden": {
                "base_url": url,
                "credentials": {
                    "client_id": {"env": "VAULTWARDEN_CLIENT_ID"},
                    "client_secret": {"env": "VAULTWARDEN_CLIENT_SECRET"},
                },
            }
        },
    }
    write_env(suite, env)
    output = usage_error(run(suite, "--env", "lab", *selection))
    assert (
        f"environments/lab.yaml:7 $.systems.vaultwarden.base_url: a kind: sandbox environment has no base URLs of "
        f"its own, but this one is '{url}'"
    ) in output
    assert "write base_url: sandbox (the suite gives each system its 127.0.0.1 sandbox address)" in output
    assert "built-in sandbox emulation on 127.0.0.1 (not real infrastructure)" not in output
    assert elsewhere.requests("vaultwarden") == []


def test_sandbox_credential_source_base_url_is_refused(suite: pytest.Pytester) -> None:
    """Refuses credential_source.base_url in a sandbox environment (the sandbox serves the secrets itself)."""
    env = yaml.safe_load((suite.path / "contracts" / "environments" / "sandbox.yaml").read_text())
    env.update(name="lab", credential_source={"type": "env", "base_url": "https://secrets.example.invalid"})
    write_env(suite, env)
    output = usage_error(run(suite, "--env", "lab", "-m", "smoke"))
    assert "$.credential_source.base_url: a kind: sandbox environment has no base URLs of its own" in output
    assert "remove credential_source.base_url (the sandbox serves the secrets itself)" in output


def test_deployment_cannot_use_the_sandbox(suite: pytest.Pytester) -> None:
    """Refuses base_url: sandbox in a deployment: only a kind: sandbox environment is the sandbox."""
    write_env(suite, {"name": "lab", "kind": "deployment", "systems": {"vaultwarden": {"base_url": "sandbox"}}})
    output = usage_error(run(suite, "--env", "lab", "--probe", "vaultwarden.alive"))
    assert (
        "environments/lab.yaml:5 $.systems.vaultwarden.base_url: base_url 'sandbox' names the built-in sandbox, "
        "which only a kind: sandbox environment uses (this one is kind: deployment)"
    ) in output


def test_environment_named_sandbox_must_be_the_sandbox(suite: pytest.Pytester) -> None:
    """Refuses an environment named sandbox that is a deployment (its output would read 'sandbox')."""
    path = suite.path / "contracts" / "environments" / "sandbox.yaml"
    env = {"name": "sandbox", "kind": "deployment", "systems": {"vaultwarden": {"base_url": "https://vw.invalid"}}}
    path.write_text(yaml.safe_dump(env, sort_keys=False))
    output = usage_error(run(suite, "-m", "smoke"))
    assert "environments/sandbox.yaml:2 $.kind: the environment named 'sandbox' is kind: deployment" in output
