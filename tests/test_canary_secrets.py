"""The canary of issue 9: one fake secret planted everywhere a secret can live, and no form of it in any output.

The secret is every credential of the sandbox environment (Cloudflare token, e-mail, key and account id,
Vaultwarden and Infisical client id and secret, the Infisical project id, the Authentik token), the path
segment and the query value of the alert webhook URL, and the user info of a URL in a second environment.
(The Cloudflare Global API Key and e-mail hold it with a suffix: the API refuses a key equal to the token and
an e-mail without '@'.) It has characters that change under every encoding, so each encoded form is a
distinct string to find.

The runs take the failing paths (a 5xx that is retried and fails, a fallback that warns, a rate limit that is
retried and passes, an unhealthy system), the recovering path (a restart that heals it), the escalating path
(a retry action that fails with one attempt allowed, which posts to the webhook) and a refused environment,
with `-vv -l --tb=long -rA --log-level=DEBUG --log-file`, JUnit and Allure. Then no file below the run's
output directories and no line of the terminal holds the secret raw, URL-encoded, base64-encoded,
JSON-escaped, or the first 8 characters of any of these forms.

Not covered here: a recovery that acts on a remote host over SSH (tests/test_recovery_plugin.py has it,
with sandbox credentials), and the `--debug` log (tests/test_regressions_secrets.py covers it).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import yaml
from pytest_httpserver import HTTPServer

from infracore_verify.contracts.sets import SUITE_ROOT
from tests.conftest import PROJECT_CONFTEST

pytestmark = pytest.mark.slow

SECRET = 'Cnry7+Qz9=Lk4\u00e9~Wx2"Jm6'
"""Fake. `+` and `=` change under URL encoding, `é` under URL and JSON (ASCII) encoding, `"` under JSON."""


def forms(secret: str) -> dict[str, str]:
    """Returns every form of the secret the canary looks for."""
    raw = secret.encode()
    found = {
        "raw": secret,
        "first 8 characters": secret[:8],
        "quote": quote(secret),
        "quote safe=''": quote(secret, safe=""),
        "quote_plus": quote_plus(secret),
        "json": json.dumps(secret)[1:-1],
        "json ensure_ascii=False": json.dumps(secret, ensure_ascii=False)[1:-1],
    }
    for name, encode in (("base64", base64.b64encode), ("base64 url-safe", base64.urlsafe_b64encode)):
        found[name] = encode(raw).decode()
        found[f"{name} unpadded"] = encode(raw).decode().rstrip("=")
    return found


CANARY_CONFTEST = (
    PROJECT_CONFTEST
    + '''
import os
from dataclasses import replace

import pytest

from infracore_verify.sandbox import Sandbox, SandboxSeed, parse_fault_spec
from infracore_verify.sandbox.seed import CREDENTIAL_NAMES

SECRET = os.environ["CANARY_SECRET"]


@pytest.fixture(scope="session")
def sandbox(pytestconfig, infracore_environment):
    """Starts the sandbox accepting the canary as every credential, its account id and its project id."""
    if not infracore_environment.is_sandbox:
        yield None
        return
    seed = replace(SandboxSeed.from_contracts(os.environ["CANARY_CONTRACTS"]), account_id=SECRET)
    credentials = {s: dict.fromkeys(names, SECRET) for s, names in CREDENTIAL_NAMES.items()}
    # Cloudflare refuses a key equal to the token and an e-mail without '@': both still hold the secret.
    credentials["cloudflare"].update(api_key=SECRET + "-key", api_email=SECRET + "@canary.invalid")
    box = Sandbox(seed=seed, credentials=credentials)
    box.start()
    for spec in pytestconfig.getoption("sandbox_fault") or []:
        box.inject(parse_fault_spec(spec))
    for system in pytestconfig.getoption("sandbox_unhealthy") or []:
        box.set_healthy(system, False)
    yield box
    box.stop()
'''
)

STANDIN = '''#!{python}
"""Stand-in docker: a compose restart/up heals the sandbox system named by the stack directory."""
import json, os, sys, urllib.request
verb = sys.argv[2] if len(sys.argv) > 2 else ""
urls = json.loads(os.environ.get("INFRACORE_SANDBOX_URLS") or "{{}}")
system = os.path.basename(os.getcwd())
if verb in ("restart", "up") and system in urls:
    request = urllib.request.Request(
        urls[system].split("/client/v4")[0] + "/__sandbox__/control",
        data=json.dumps({{"healthy": True}}).encode(),
        headers={{
            "Content-Type": "application/json",
            "X-Infracore-Sandbox-Control": os.environ.get("INFRACORE_SANDBOX_CONTROL_TOKEN", ""),
        }},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=5).read()
print("stand-in docker", " ".join(sys.argv[1:]))
'''

COMMON = ("-vv", "-l", "--tb=long", "-rA", "--log-level=DEBUG", "--log-file-level=DEBUG")


def edit_yaml(path: Path, mutate: Any) -> None:
    """Load a YAML file, mutate it in place and write it back."""
    data = yaml.safe_load(path.read_text())
    mutate(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


@pytest.fixture
def canary(
    pytester: pytest.Pytester, tmp_path: Path, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    """Returns a project whose sandbox accepts only the canary, with the webhook and a stand-in docker."""
    (pytester.path / "conftest.py").write_text(CANARY_CONFTEST)
    for folder in ("gates", "smoke", "recovery"):
        (pytester.path / folder).mkdir()
        shutil.copy(SUITE_ROOT / folder / f"test_{folder}.py", pytester.path / folder / f"test_{folder}.py")
    contracts = pytester.path / "contracts"
    shutil.copytree(SUITE_ROOT / "contracts", contracts)
    pytester.makeini(
        f"[pytest]\naddopts = -p no:cacheprovider\ntimeout_method = signal\ninfracore_contracts = {contracts}\n"
    )
    httpserver.expect_request(re.compile("/hooks/.*"), method="POST").respond_with_json({"ok": True})
    hook = httpserver.url_for("/hooks/" + quote(SECRET, safe="")) + "?token=" + quote_plus(SECRET)

    def sandbox_env(data: Any) -> None:
        data["alerting"] = {"webhook_url": {"env": "CANARY_WEBHOOK"}}
        data["recovery"] = {"verify_timeout_seconds": 3, "verify_interval_seconds": 0.2}

    edit_yaml(contracts / "environments" / "sandbox.yaml", sandbox_env)

    def one_attempt(data: Any) -> None:
        for action in data["actions"]:
            action["safety"] = {"max_attempts": 1, "cooldown_seconds": 0, "escalate_after_failures": 1}
            if action["recovery"]["type"] == "capability_retry":
                action["recovery"]["backoff_seconds"] = [0]

    edit_yaml(contracts / "recovery.actions.yaml", one_attempt)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(STANDIN.format(python=sys.executable))
    (bin_dir / "docker").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin")
    monkeypatch.setenv("CANARY_SECRET", SECRET)
    monkeypatch.setenv("CANARY_CONTRACTS", str(contracts))
    monkeypatch.setenv("CANARY_WEBHOOK", hook)
    return pytester


def outputs(project: pytest.Pytester, name: str) -> list[str]:
    """Returns the output options of one run: its log file, JUnit XML and Allure folder."""
    out = project.path / "out" / name
    return [
        f"--log-file={out / 'run.log'}",
        f"--junitxml={out / 'junit.xml'}",
        f"--alluredir={out / 'allure'}",
    ]


NEEDLES = {**forms(SECRET), **{f"{name}, first 8 characters": form[:8] for name, form in forms(SECRET).items()}}
"""Every form, and the start of every form (a cut through an encoded secret, a partly decoded URL)."""


def leaks(text: str) -> list[str]:
    """Returns the names of the secret's forms found in the text."""
    return [name for name, needle in NEEDLES.items() if needle in text]


def test_no_form_of_the_planted_secret_reaches_any_output(canary: pytest.Pytester, httpserver: HTTPServer) -> None:
    """Keeps every form of one planted secret out of the terminal and every file the runs write."""
    run = canary.runpytest_subprocess(
        "--env",
        "sandbox",
        "-m",
        "smoke or recovery",
        "--allow-recovery",
        "--sandbox-unhealthy",
        "vaultwarden",
        "--sandbox-fault",
        "cloudflare:status=503@/client/v4/zones",
        "--sandbox-fault",
        "cloudflare:token_401@/client/v4/accounts/*",
        "--sandbox-fault",
        "authentik:rate_limit=1@*/outposts/*x1",
        "--recover",
        "alert-infra-core-oncall",
        *COMMON,
        *outputs(canary, "heal"),
        timeout=300,
    )
    refused_env = {
        "name": "leaky",
        "kind": "deployment",
        "systems": {"authentik": {"base_url": f"http://ops:{quote(SECRET, safe='')}@127.0.0.1:9/"}},
    }
    (canary.path / "contracts" / "environments" / "leaky.yaml").write_text(yaml.safe_dump(refused_env, sort_keys=False))
    refused = canary.runpytest_subprocess("--env", "leaky", "-m", "smoke", *COMMON, *outputs(canary, "refused"))

    # The paths were taken: failures, a retry, a fallback warning, a recovery, an escalation, a refusal.
    terminal = run.stdout.str() + run.stderr.str()
    assert "[class api_error]" in terminal or "api_error" in terminal
    assert "fell back to the Global API Key" in terminal
    assert "recovery recover-vaultwarden-container:" in terminal
    assert "ESCALATED" in terminal
    assert any(request.path.startswith("/hooks/") for request, _ in httpserver.log)
    assert "[REDACTED:" in terminal
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    assert "user name or password" in refused.stderr.str()

    assert leaks(terminal) == []
    assert leaks(refused.stdout.str() + refused.stderr.str()) == []
    written = [p for p in (canary.path / "out").rglob("*") if p.is_file()]
    written += [p for p in (canary.path / "reports").rglob("*") if p.is_file()]
    assert any(p.name == "run.log" and p.stat().st_size > 0 for p in written)
    assert any(p.name.endswith("-result.json") for p in written)
    assert any(p.parent.name == "receipts" for p in written)
    found = {str(p.relative_to(canary.path)): leaks(p.read_text(errors="replace")) for p in written}
    assert {path: names for path, names in found.items() if names} == {}
