"""Redaction: the registry masks secrets in text, headers, bodies, logs, and in every artifact of a run."""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from infracore_verify.contracts.sets import SUITE_ROOT
from infracore_verify.redact import (
    MASK,
    REDACTOR,
    HiddenEnviron,
    Redactor,
    Secret,
    TreeSnapshot,
    child_environ,
    install_log_masking,
    mask_handler,
    rewrite_masked,
    scrub_tree,
)
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


# --- issue 9: encoded forms, URL parts, reprs, handler filters, a scrub that touches only the run's files ----

SPECIAL = 'Fk9+canary/Zq7="tK9\\pL2&é'
"""A fake secret whose URL-, JSON-, HTML- and base64-encoded forms all differ from the raw value."""


def _forms(value: str) -> dict[str, str]:
    raw = value.encode()
    return {
        "raw": value,
        "quote": quote(value),
        "quote safe=''": quote(value, safe=""),
        "quote_plus": quote_plus(value),
        "base64": base64.b64encode(raw).decode(),
        "base64 unpadded": base64.b64encode(raw).decode().rstrip("="),
        "base64 urlsafe": base64.urlsafe_b64encode(raw).decode(),
        "base64 urlsafe unpadded": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "base64 inside Basic auth": base64.b64encode(b"ops:" + raw).decode(),
        "base64 at offset 2": base64.b64encode(b"xy" + raw + b"tail").decode(),
        "json": json.dumps(value)[1:-1],
        "json ascii=False": json.dumps(value, ensure_ascii=False)[1:-1],
        "html": html.escape(value),
    }


@pytest.mark.parametrize("form", list(_forms(SPECIAL)))
def test_every_encoded_form_of_a_secret_is_masked(form: str) -> None:
    """Masks the URL-encoded, base64 (standard, URL-safe, padded or not, embedded), JSON and HTML forms."""
    r = Redactor()
    r.register(SPECIAL, "planted")
    text = _forms(SPECIAL)[form]
    assert text != ""
    assert r.contains_secret(f"before {text} after")
    masked = r.mask(f"before {text} after")
    assert "[REDACTED:planted]" in masked
    assert text not in masked


@pytest.mark.parametrize(
    "text",
    [
        "Fk9%2Bcanary%2FZq7%3D%22tK9%5CpL2%26%C3%A9",
        "Fk9%2bcanary%2fZq7%3d%22tK9%5cpL2%26%c3%a9",
        'Fk9%2Bcanary/Zq7%3D"tK9\\pL2&é',
    ],
    ids=["uppercase hex", "lowercase hex", "partly decoded (an IRI)"],
)
def test_a_secret_percent_encoded_in_any_mixture_is_masked(text: str) -> None:
    """Masks a URL-encoded secret whatever the hex case and whichever characters a server log decoded."""
    r = Redactor()
    r.register(SPECIAL, "planted")
    assert r.mask(f"GET /x?id={text}&y=1") == "GET /x?id=[REDACTED:planted]&y=1"


def test_a_registered_url_registers_its_secret_parts() -> None:
    """Masks userinfo, token-like path segments and query values of a registered URL wherever they appear alone."""
    r = Redactor()
    r.register("http://ops:pw5Xr8userinfo@127.0.0.1:9/hooks/hk7Qz2Webhook%2BTok3n?token=qt9Lm4Query&format=json")
    line = r.mask('"POST /hooks/hk7Qz2Webhook%2BTok3n?token=qt9Lm4Query&format=json HTTP/1.1" 200')
    assert line == '"POST /hooks/[REDACTED:secret]?token=[REDACTED:secret]&format=json HTTP/1.1" 200'
    assert r.mask("hk7Qz2Webhook+Tok3n and pw5Xr8userinfo") == "[REDACTED:secret] and [REDACTED:secret]"
    assert r.mask("hooks json format 127.0.0.1") == "hooks json format 127.0.0.1"


def test_registrations_keep_labels_and_not_the_encoded_forms() -> None:
    """Hands an xdist controller each value once with its label (it derives the encoded forms itself)."""
    r = Redactor()
    r.register(CANARY, "cloudflare.api_token")
    assert r.registrations() == [(CANARY, "cloudflare.api_token")]
    assert r.values() == [CANARY]


def test_secret_and_hidden_environ_never_print_their_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keeps secret material out of reprs (what `--showlocals` and dataclass reprs print)."""
    monkeypatch.setenv("GITHUB_TOKEN", CANARY)
    secret = Secret(CANARY)
    env = HiddenEnviron({"INFRACORE_RUN_KEY": "CAP-x"})
    assert secret == CANARY
    assert f"{secret}" == CANARY
    assert CANARY not in repr(secret)
    assert CANARY not in repr({"token": secret})
    assert CANARY not in repr(env)
    assert "INFRACORE_RUN_KEY" in repr(env)
    child = child_environ(env)
    assert child is not None
    assert child["GITHUB_TOKEN"] == CANARY
    assert child["INFRACORE_RUN_KEY"] == "CAP-x"
    assert dict(HiddenEnviron({"A": "1"}, inherit=False)) == {"A": "1"}


def test_handler_filter_masks_a_record_made_before_the_secret_was_known() -> None:
    """Masks, at the handler, a record created before its secret was registered (message and traceback)."""
    r = Redactor()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    mask_handler(handler, r)
    mask_handler(handler, r)
    assert len(handler.filters) == 1
    try:
        raise ValueError(f"boom {CANARY}")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "got %s", (CANARY,), sys.exc_info())
    r.register(CANARY, "late")
    handler.handle(record)
    assert CANARY not in stream.getvalue()
    assert stream.getvalue().count("[REDACTED:late]") == 2


def test_scrub_tree_never_follows_links_nor_touches_binaries_or_older_files(tmp_path: Path, redactor: Redactor) -> None:
    """Rewrites only regular text files written after the snapshot, never through a symlink or hard link."""
    outside = tmp_path / "operator.env"
    outside.write_text(f"TOKEN={CANARY}\n")
    root = tmp_path / "allure"
    root.mkdir()
    old = root / "old-result.json"
    old.write_text(f'"{CANARY}"')
    snapshot = TreeSnapshot.take(root)
    (root / "link.json").symlink_to(outside)
    (root / "dir-link").symlink_to(tmp_path, target_is_directory=True)
    os.link(outside, root / "hard.json")
    blob = b"\x89PNG\0" + CANARY.encode()
    (root / "shot.png").write_bytes(blob)
    (root / "latin1.txt").write_bytes(b"\xe9" + CANARY.encode())
    new = root / "new-result.json"
    new.write_text(f'"{CANARY}"')
    assert scrub_tree(root, redactor, since=snapshot) == 1
    assert new.read_text() == '"[REDACTED:cloudflare.api_token]"'
    assert outside.read_text() == f"TOKEN={CANARY}\n"
    assert old.read_text() == f'"{CANARY}"'
    assert (root / "shot.png").read_bytes() == blob
    assert rewrite_masked(root / "link.json", redactor) is False
