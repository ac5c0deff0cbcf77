"""Regression tests for issue 9, "Secrets": each way a secret escaped, reproduced as a user would run it.

1. `--showlocals` printed a copy of `os.environ` (unregistered secrets included) from a failing frame;
3. urllib3's DEBUG line `POST /hooks/<token>?token=<token>` reached --log-file, the terminal and Allure;
4. `request.node.warn(...)` texts (the Cloudflare fallback warning with the account id) were not masked in
   the warnings summary or the `--debug` log;
5. a `base_url` with userinfo (`http://user:secret@host`) passed the schema, D900 and D906;
6. the final scrub of `--alluredir` followed symlinks and rewrote files the run did not write.

Item 2 (encoded forms) is covered in tests/test_redact.py and the canary (tests/test_canary_secrets.py).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml
from pytest_httpserver import HTTPServer

from infracore_verify.sandbox import Sandbox
from tests.projects import edit_yaml, run, suite_project, write_env, write_lab

UNREGISTERED = "ghp_FAKEunregistered0canary0value0d41d8"
"""An operator's variable the suite never registers (GITHUB_TOKEN): only keeping environ copies out helps."""
HOOK_TOKEN = "hk7Qz2canaryWebhookTok3n"
QUERY_TOKEN = "qt9Lm4canaryQueryTok3n"
USERINFO_PASSWORD = "pw5Xr8canaryUserinfoPass"


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """Returns a pytester directory laid out like the project, with a private copy of the contracts."""
    return suite_project(pytester, ini="timeout_method = signal\n")


def files_holding(root: Path, *needles: str) -> list[str]:
    """Returns the files below `root` that hold any of the needles."""
    return sorted(str(p) for p in root.rglob("*") if p.is_file() and any(n.encode() in p.read_bytes() for n in needles))


# --- 1. --showlocals never prints an environment copy ------------------------------------------------------

HUNG_DOCKER = """#!/bin/sh
# A container runtime that hangs: the action is still running when the test's timeout fires.
sleep 30
"""


def test_showlocals_in_a_hung_recovery_shows_no_environment_copy(
    suite: pytest.Pytester, tmp_path: Path, lab_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keeps an unregistered variable (GITHUB_TOKEN) out of `-l --tb=long` output when a recovery times out.

    The timeout fires inside the action (a hung `docker compose restart`), so every frame of the recovery
    plugin and the action is shown with its locals: the recovery context and the subprocess environment.
    """
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(HUNG_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    stacks = tmp_path / "stacks"
    (stacks / "vaultwarden").mkdir(parents=True)
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin")
    monkeypatch.setenv("GITHUB_TOKEN", UNREGISTERED)
    write_lab(
        suite, lab_sandbox, monkeypatch, {"address": "127.0.0.1", "transport": "local", "stacks_dir": str(stacks)}
    )
    junit = suite.path / "junit.xml"
    result = run(
        suite,
        "--env",
        "lab",
        "recovery",
        "--recover",
        "recover-vaultwarden-container",
        "--allow-recovery",
        "-o",
        "timeout=3",
        "-l",
        "--tb=long",
        "-vv",
        f"--junitxml={junit}",
    )
    output = result.stdout.str() + result.stderr.str()
    assert "Timeout" in output  # the precondition: the test failed inside the action, with its locals shown
    assert UNREGISTERED not in output
    assert files_holding(suite.path, UNREGISTERED) == []


# --- 3. library logs: the webhook's token parts --------------------------------------------------------------


def test_urllib3_debug_line_of_the_webhook_is_masked_everywhere(
    suite: pytest.Pytester, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Masks the webhook's path token and query token in urllib3's DEBUG line: log file, terminal, Allure."""
    httpserver.expect_request(f"/hooks/{HOOK_TOKEN}", method="POST").respond_with_json({"ok": True})
    monkeypatch.setenv("TEST_ALERT_URL", httpserver.url_for(f"/hooks/{HOOK_TOKEN}") + f"?token={QUERY_TOKEN}")
    edit_yaml(
        suite.path / "contracts" / "environments" / "sandbox.yaml",
        lambda d: d.update(alerting={"webhook_url": {"env": "TEST_ALERT_URL"}}),
    )
    log_file, allure = suite.path / "debug.log", suite.path / "allure"
    result = run(
        suite,
        "--env",
        "sandbox",
        "recovery",
        "--recover",
        "alert-infra-core-oncall",
        "--allow-recovery",
        "--log-level=DEBUG",
        f"--log-file={log_file}",
        "--log-file-level=DEBUG",
        "-o",
        "log_cli=true",
        "--log-cli-level=DEBUG",
        "-rA",
        f"--alluredir={allure}",
    )
    result.assert_outcomes(passed=1, deselected=0, skipped=4)
    assert len(httpserver.log) == 1
    logged = log_file.read_text()
    assert "POST /hooks/" in logged  # the precondition: urllib3 logged the request line
    output = result.stdout.str() + result.stderr.str()
    assert "POST /hooks/" in output
    for token in (HOOK_TOKEN, QUERY_TOKEN):
        assert token not in logged
        assert token not in output
    assert files_holding(suite.path, HOOK_TOKEN, QUERY_TOKEN) == []


# --- 4. warnings -----------------------------------------------------------------------------------------------


def test_fallback_warning_is_masked_in_the_summary_and_the_debug_log(suite: pytest.Pytester) -> None:
    """Masks the account id of the Cloudflare fallback warning in the warnings summary and `--debug`."""
    account_id = yaml.safe_load((suite.path / "contracts" / "cloudflare.inventory.yaml").read_text())["account_id"]
    debug = suite.path / "pytestdebug.log"
    result = run(
        suite,
        "--env",
        "sandbox",
        "-m",
        "smoke and cloudflare",
        "--sandbox-fault",
        "cloudflare:token_401@/accounts/*",
        f"--debug={debug}",
        "-W",
        "default",
    )
    output = result.stdout.str()
    assert "fell back to the Global API Key" in output  # the precondition: the fallback warning was shown
    assert account_id not in output
    text = debug.read_text()
    assert "fell back to the Global API Key" in text
    assert account_id not in text


# --- 5. secrets in URLs ---------------------------------------------------------------------------------------


def test_userinfo_in_a_base_url_is_refused_at_load(suite: pytest.Pytester, lab_sandbox: Sandbox) -> None:
    """Refuses `http://user:secret@host` in an environment file: a usage error naming file, line and path."""
    url = lab_sandbox.base_urls["vaultwarden"].replace("http://", f"http://ops:{USERINFO_PASSWORD}@")
    env = {"name": "lab", "kind": "deployment", "systems": {"vaultwarden": {"base_url": url}}}
    write_env(suite, env)
    result = run(suite, "--env", "lab", "-m", "smoke", f"--alluredir={suite.path / 'allure'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output
    result.stderr.fnmatch_lines(
        ["*environments/lab.yaml:* $.systems.vaultwarden.base_url: *user name or password*; remove *"]
    )
    assert USERINFO_PASSWORD not in output
    assert lab_sandbox.requests("vaultwarden") == []  # nothing was sent, Basic auth included
    assert files_holding(suite.path, USERINFO_PASSWORD) == [str(suite.path / "contracts" / "environments" / "lab.yaml")]


@pytest.mark.parametrize("gate_id", ["D900", "D906"])
def test_userinfo_in_any_environment_url_fails_d900_and_d906(suite: pytest.Pytester, gate_id: str) -> None:
    """Fails D900 (schema) and D906 (environment hygiene) for userinfo in a base URL, never echoing it."""
    env = {
        "name": "lab",
        "kind": "deployment",
        "credential_source": {
            "type": "infisical",
            "base_url": f"https://ops:{USERINFO_PASSWORD}@secrets.example.invalid",
            "project_id": "<project-id>",
            "environment": "prod",
            "identity": {"client_id": {"env": "A_ID"}, "client_secret": {"env": "A_SECRET"}},
        },
        "systems": {"authentik": {"base_url": f"https://{USERINFO_PASSWORD}@auth.example.invalid/"}},
    }
    write_env(suite, env)
    result = run(suite, "--gate", gate_id, "-rA")
    assert result.parseoutcomes()["failed"] == 1
    output = result.stdout.str()
    assert USERINFO_PASSWORD not in output
    result.stdout.fnmatch_lines(
        [
            "*environments/lab.yaml:* $.credential_source.base_url: *user name or password*",
            "*environments/lab.yaml:* $.systems.authentik.base_url: *user name or password*",
        ],
        consecutive=False,
    )


# --- 6. the final scrub rewrites only what this run wrote ------------------------------------------------------

LATE_SECRET = "scrub-canary-late-3c9d1f7a2b"
LATE_TEST = f'''
from infracore_verify.redact import REDACTOR


def test_fails_with_the_secret():
    """Fails printing a secret that is registered only afterwards, so the final scrub must mask it."""
    assert False, "{LATE_SECRET}"


def test_registers_late():
    """Resolves the credential after the failing test's reports were made."""
    REDACTOR.register("{LATE_SECRET}", "late")
'''


def test_scrub_leaves_symlinked_binary_and_older_files_alone(suite: pytest.Pytester, tmp_path: Path) -> None:
    """Masks the run's own Allure results, but never an operator's file behind a symlink, a binary or an old file."""
    suite.makepyfile(test_late=LATE_TEST)
    allure = suite.path / "allure"
    allure.mkdir()
    operator_env = tmp_path / "operator.env"
    operator_env.write_text(f"GITHUB_TOKEN={LATE_SECRET}\n")
    (allure / "evil.properties").symlink_to(operator_env)
    (allure / "linked-dir").symlink_to(tmp_path, target_is_directory=True)
    blob = bytes(range(256)) + LATE_SECRET.encode() + b"\0\xff"
    (allure / "screenshot.png").write_bytes(blob)
    old = allure / "earlier-run-result.json"
    old.write_text(f'{{"note": "{LATE_SECRET}"}}')
    os.utime(old, (1_700_000_000, 1_700_000_000))
    old_stat = old.stat()
    result = run(suite, "test_late.py", f"--alluredir={allure}", "-p", "no:randomly")
    result.assert_outcomes(failed=1, passed=1)
    assert operator_env.read_text() == f"GITHUB_TOKEN={LATE_SECRET}\n"
    assert (allure / "screenshot.png").read_bytes() == blob
    assert old.read_text() == f'{{"note": "{LATE_SECRET}"}}'
    assert old.stat().st_mtime_ns == old_stat.st_mtime_ns
    written = [p for p in allure.glob("*-result.json") if p != old]
    assert written
    assert all(LATE_SECRET not in p.read_text() for p in written)
    assert any("[REDACTED:late]" in p.read_text() for p in written)


def test_d906_finds_userinfo_in_a_url_the_schema_does_not_check(suite: pytest.Pytester) -> None:
    """Fails D906 for a URL with a password anywhere in an environment file (here in prose), never echoing it."""
    env = yaml.safe_load((suite.path / "contracts" / "environments" / "example.deployment.yaml").read_text())
    env["hosts"]["infra-core"]["description"] = f"console at https://admin:{USERINFO_PASSWORD}@<infra-core-host>/"
    (suite.path / "contracts" / "environments" / "example.deployment.yaml").write_text(yaml.safe_dump(env))
    result = run(suite, "--gate", "D906", "-rA")
    assert result.parseoutcomes()["failed"] == 1
    assert USERINFO_PASSWORD not in result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*example.deployment.yaml:* $.hosts.infra-core.description: 'console at https://***@<infra-core-host>/' "
            "holds a URL with a user name or password*"
        ]
    )
