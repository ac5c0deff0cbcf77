"""Redaction: the registry masks secrets in text, headers, bodies, logs, and in every artifact of a run."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from infracore_verify.contracts.sets import SUITE_ROOT
from infracore_verify.redact import MASK, REDACTOR, Redactor, install_log_masking, scrub_tree
from tests.conftest import PROJECT_CONFTEST

CANARY = "canary-S3cr3t-0f-the-d4y-7f1c9e"


@pytest.fixture
def redactor() -> Redactor:
    """Returns a fresh registry holding one planted fake secret."""
    r = Redactor()
    r.register(CANARY, "cloudflare.api_token")
    return r


@pytest.fixture
def global_redactor() -> Iterator[Redactor]:
    """Registers the canary in the process-wide registry for one test and forgets it afterwards."""
    REDACTOR.register(CANARY, "canary")
    yield REDACTOR
    REDACTOR.forget_all()


def test_mask_replaces_registered_values_longest_first(redactor: Redactor) -> None:
    """Masks every occurrence, labels it, and masks a longer secret whole even when it contains another."""
    redactor.register("abcd", "short")
    redactor.register("xxabcdxx", "long")
    assert redactor.mask(f"token={CANARY}; again {CANARY}") == (
        "token=[REDACTED:cloudflare.api_token]; again [REDACTED:cloudflare.api_token]"
    )
    assert redactor.mask("xxabcdxx and abcd") == "[REDACTED:long] and [REDACTED:short]"


def test_short_and_empty_values_are_not_registered() -> None:
    """Ignores values too short to be credentials, which would otherwise mask ordinary text."""
    r = Redactor()
    r.register("", "x")
    r.register(None, "x")
    r.register("abc", "x")
    assert r.values() == []
    assert r.mask("abc") == "abc"


def test_headers_and_bodies_mask_auth_fields_whatever_their_value(redactor: Redactor) -> None:
    """Masks auth headers and secret-looking body fields even for unregistered values, and scrubs the rest."""
    headers = redactor.mask_headers(
        {"Authorization": "Bearer unknown-token", "X-Auth-Key": "k", "Accept": f"text/{CANARY}"}
    )
    assert headers == {"Authorization": MASK, "X-Auth-Key": MASK, "Accept": "text/[REDACTED:cloudflare.api_token]"}
    body = redactor.mask_data(
        {
            "clientSecret": "s",
            "accessToken": "t",
            "secretValue": "v",
            "http_headers": {"HTTP_AUTHORIZATION": "Bearer echo", "HTTP_HOST": "h"},
            "note": [CANARY],
            "secretKey": "CLOUDFLARE_API_TOKEN",
        }
    )
    assert body == {
        "clientSecret": MASK,
        "accessToken": MASK,
        "secretValue": MASK,
        "http_headers": {"HTTP_AUTHORIZATION": MASK, "HTTP_HOST": "h"},
        "note": ["[REDACTED:cloudflare.api_token]"],
        "secretKey": "CLOUDFLARE_API_TOKEN",
    }


def test_log_records_are_masked(global_redactor: Redactor, caplog: pytest.LogCaptureFixture) -> None:
    """Masks a registered secret in log records, including %-style arguments."""
    install_log_masking()
    logging.getLogger("infracore.test").warning("calling with %s", CANARY)
    assert CANARY not in caplog.text
    assert "[REDACTED:canary]" in caplog.text


def test_scrub_tree_rewrites_files(tmp_path: Path, redactor: Redactor) -> None:
    """Rewrites only the files that hold a secret."""
    (tmp_path / "a.json").write_text(f'{{"x": "{CANARY}"}}')
    (tmp_path / "b.txt").write_text("clean")
    assert scrub_tree(tmp_path, redactor) == 1
    assert (tmp_path / "a.json").read_text() == '{"x": "[REDACTED:cloudflare.api_token]"}'


CANARY_TEST = f'''
import logging
import pytest
from infracore_verify.redact import REDACTOR

SECRET = "{CANARY}"

@pytest.fixture
def planted():
    REDACTOR.register(SECRET, "planted")
    return None

def test_canary(planted):
    """Fails in every way that could carry the secret out."""
    print("stdout has", SECRET)
    logging.getLogger("x").error("log has %s", SECRET)
    assert SECRET == "something else", f"assertion has {{SECRET}}"
'''


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_planted_secret_never_reaches_an_artifact(pytester: pytest.Pytester, workers: list[str]) -> None:
    """Keeps a planted secret out of the terminal, JUnit XML, Allure results and the receipt, under -vv --tb=long."""
    pytester.makeconftest(PROJECT_CONFTEST)
    shutil.copytree(SUITE_ROOT / "contracts", pytester.path / "contracts")
    pytester.makepyfile(test_canary=CANARY_TEST)
    result = pytester.runpytest_subprocess(
        f"--contracts={pytester.path / 'contracts'}",
        "-vv",
        "--tb=long",
        "-rA",
        "--log-level=DEBUG",
        f"--junitxml={pytester.path / 'junit.xml'}",
        f"--alluredir={pytester.path / 'allure'}",
        "-p",
        "no:cacheprovider",
        *workers,
    )
    result.assert_outcomes(failed=1)
    output = result.stdout.str() + result.stderr.str()
    assert "[REDACTED:planted]" in output
    assert CANARY not in output
    # Everything the run wrote: the test's own source (and its bytecode) holds the secret by design.
    sources = {"contracts", "__pycache__", "test_canary.py"}
    artifacts = [p for p in pytester.path.rglob("*") if p.is_file() and not sources & set(p.parts)]
    assert any(p.name == "junit.xml" for p in artifacts)
    assert any(p.suffix == ".json" and "allure" in p.parts for p in artifacts)
    leaked = [str(p) for p in artifacts if CANARY.encode() in p.read_bytes()]
    assert leaked == []
