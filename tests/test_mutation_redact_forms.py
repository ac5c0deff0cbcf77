"""Encoded forms and URL parts the redactor must mask: cases that kill mutmut's survivors after the issue-9 rewrite.

Issue 8, item 4; the mutants each test kills are listed in bench/MUTATION.md ("redact.py after the issue-9
rewrite"). Every test uses its own `Redactor` and fake values, and states exactly what is left visible.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Callable
from urllib.parse import quote_plus

import pytest

from infracore_verify.redact import Redactor, url_secret_parts

LABEL = "token"
ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "standard": base64.b64encode,
    "urlsafe": base64.urlsafe_b64encode,
}


def _redactor(*values: str, label: str = LABEL) -> Redactor:
    r = Redactor()
    for value in values:
        r.register(value, label)
    return r


# Lengths 5, 7, 8, 9, 10 cover every remainder mod 3 (and mod 4) at each of the three alignments; 5 bytes
# give the shortest run registered (6 characters).
B64_SECRETS = ["FK>5?", "FAKE~7?", "FAKE-8b?", "FAKE-9b?~", "FAKE-10b?~"]


@pytest.mark.parametrize("encoder", sorted(ENCODERS))
@pytest.mark.parametrize("prefix", [b"", b"u", b"us"], ids=["offset0", "offset1", "offset2"])
@pytest.mark.parametrize("secret", B64_SECRETS)
def test_base64_inside_a_longer_string_masks_every_character_that_encodes_only_the_secret(
    secret: str, prefix: bytes, encoder: str
) -> None:
    """Within `base64(prefix + secret + tail)` exactly the characters whose 6 bits all come from the secret
    are masked: none of them stays visible, and the characters mixing in neighbouring bytes stay."""
    raw = secret.encode()
    # The tail's first byte has its top bits set, so no padding-zero character of a shorter form matches it.
    encoded = ENCODERS[encoder](prefix + raw + b"\xff:tail-bytes").decode()
    first = math.ceil(8 * len(prefix) / 6)
    last = (8 * (len(prefix) + len(raw))) // 6
    masked = _redactor(secret).mask(encoded)
    assert masked == encoded[:first] + f"[REDACTED:{LABEL}]" + encoded[last:]


@pytest.mark.parametrize("encoder", sorted(ENCODERS))
@pytest.mark.parametrize("secret", B64_SECRETS)
def test_base64_of_the_secret_alone_is_masked_whole_padded_or_not(secret: str, encoder: str) -> None:
    """The secret's own base64, with or without its `=` padding, leaves no character (not even the last
    one, which carries the secret's final bits) visible."""
    encoded = ENCODERS[encoder](secret.encode()).decode()
    r = _redactor(secret)
    assert r.mask(f"<{encoded}>") == f"<[REDACTED:{LABEL}]>"
    assert r.mask(f"<{encoded.rstrip('=')}>") == f"<[REDACTED:{LABEL}]>"


def test_basic_auth_header_value_hides_the_password() -> None:
    """A Basic auth credential (`user:password` base64-encoded) shows `ops:` only: 6 characters, the last
    two mixing `:` with the password's first bits, then the mask up to the end."""
    password = "FAKE-basic-pw1"
    encoded = base64.b64encode(f"ops:{password}".encode()).decode()
    assert _redactor(password).mask(f"Basic {encoded}") == f"Basic {encoded[:6]}[REDACTED:{LABEL}]"


@pytest.mark.parametrize(
    "value",
    ["FAKE key/x", "FAKE pass/word 9"],
)
@pytest.mark.parametrize("plus", ["+", "%20", " "])
def test_url_encoded_mixtures_with_plus_and_lowercase_hex_are_masked(value: str, plus: str) -> None:
    """A value travels with a space as `+`, `%20` or itself next to a lowercase `%2f`: masked whole."""
    text = value.replace(" ", plus).replace("/", "%2f")
    assert _redactor(value).mask(f"q={text}&n=1") == f"q=[REDACTED:{LABEL}]&n=1"


def test_a_slash_only_value_is_masked_with_lowercase_hex() -> None:
    """A value whose only reserved character is `/` is still matched with `%2f` (quote's default keeps `/`)."""
    r = _redactor("FAKE/slash/9")
    assert r.mask("p=FAKE%2fslash%2F9.") == f"p=[REDACTED:{LABEL}]."


def _every_byte(value: str, upper: bool) -> str:
    """The value with every byte percent-encoded, letters and digits too."""
    return "".join(f"%{b:02X}" if upper else f"%{b:02x}" for b in value.encode("utf-8"))


@pytest.mark.parametrize(
    "value", ["FAKE-tok3n_abc.def~9", "FAKE pass/wörd+9"], ids=["needs-no-quoting", "needs-quoting"]
)
@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda v: _every_byte(v, upper=True), id="every-byte-upper"),
        pytest.param(lambda v: _every_byte(v, upper=False), id="every-byte-lower"),
        pytest.param(lambda v: _every_byte(v[:3], upper=True) + quote_plus(v[3:]), id="first-letters-only"),
        pytest.param(lambda v: v[:-2] + _every_byte(v[-2:], upper=False), id="last-two-only"),
    ],
)
def test_a_value_with_its_letters_and_digits_percent_encoded_is_masked_whole(
    value: str, encode: Callable[[str], str]
) -> None:
    """`%46` is `F` in a URI (RFC 3986): a value with unreserved characters encoded, some or all, is masked whole."""
    r = _redactor(value)
    text = encode(value)
    assert r.mask(f"q={text}&n=1") == f"q=[REDACTED:{LABEL}]&n=1"
    assert r.contains_secret(f"q={text}&n=1")


def test_an_escape_elsewhere_in_the_text_masks_the_same_as_without_one() -> None:
    """An unrelated `%41` makes the text be masked decoded as well; what is masked, and the rest, stay the same."""
    r = _redactor("FAKE-tok3n-abc", "FAKE-tok3n-abc-longer")
    assert r.mask("a FAKE-tok3n-abc-longer b") == f"a [REDACTED:{LABEL}] b"
    assert r.mask("%41 FAKE-tok3n-abc-longer %7e FAKE-tok3n-abc") == f"%41 [REDACTED:{LABEL}] %7e [REDACTED:{LABEL}]"
    assert r.mask("%41 nothing secret %2D here") == "%41 nothing secret %2D here"
    assert not r.contains_secret("%41 nothing secret %2D here")


def test_a_longer_secret_written_with_escapes_is_masked_whole_not_by_the_shorter_one_inside_it() -> None:
    """`%46AKE-tok3n-abc-longer` holds the shorter secret `tok3n-abc-longer` as written: the longer one wins."""
    r = Redactor()
    r.register("FAKE-tok3n-abc-longer", "long")
    r.register("tok3n-abc-longer", "short")
    assert r.mask("x=%46AKE-tok3n-abc-longer;") == "x=[REDACTED:long];"
    assert r.mask("x=%46AKE-%74ok3n-abc-longer %74ok3n-abc-longer") == "x=[REDACTED:long] [REDACTED:short]"


def test_escapes_elsewhere_do_not_let_a_shorter_secret_cut_a_longer_ones_base64() -> None:
    """A short secret that is the start of a longer one's base64 is not preferred when the text holds `%41`."""
    long_value = "FAKE-secret-long-value"
    encoded = base64.b64encode(long_value.encode()).decode()
    r = Redactor()
    r.register(long_value, "long")
    r.register(encoded[:12], "short")
    assert r.mask(f"%41 auth={encoded} %41") == "%41 auth=[REDACTED:long] %41"


def test_a_value_that_holds_an_escape_itself_is_masked_as_written() -> None:
    """A value with a literal `%41` in it is found as written too, not only after decoding."""
    r = _redactor("FAKE%41-literal-9")
    assert r.mask("v=FAKE%41-literal-9.") == f"v=[REDACTED:{LABEL}]."
    assert r.contains_secret("v=FAKE%41-literal-9.")


def test_json_escaped_forms_are_masked_whole() -> None:
    """JSON with `\\"` and `\\u00e9` escapes (ASCII-only or not) shows no character of the value."""
    value = 'FAKE"q\\é-9'
    r = _redactor(value)
    for ensure_ascii in (True, False):
        text = json.dumps({"p": value}, ensure_ascii=ensure_ascii)
        assert r.mask(text) == f'{{"p": "[REDACTED:{LABEL}]"}}', text


def test_html_and_xml_text_escapes_are_masked_whole() -> None:
    """An XML text node escapes `<>&` but keeps quotes; an attribute escapes quotes too: both masked."""
    value = 'FAKE<a>"b&9'
    r = _redactor(value)
    assert r.mask(f"<t>{html.escape(value, quote=False)}</t>") == f"<t>[REDACTED:{LABEL}]</t>"
    assert r.mask(f'<t v="{html.escape(value)}"/>') == f'<t v="[REDACTED:{LABEL}]"/>'


def test_a_longer_secret_wins_over_a_shorter_one_in_a_plus_encoded_mixture() -> None:
    """Longest first by value length, not by regex text: `FAKE key` must not cut `FAKE key/tail-part` short."""
    r = Redactor()
    r.register("FAKE key", "short")
    r.register("FAKE key/tail-part", "long")
    assert r.mask("FAKE+key%2ftail-part") == "[REDACTED:long]"


@pytest.mark.parametrize(
    ("short", "long", "text"),
    [
        ("FAKE:s/tail", "FAKE:s/tail x", "FAKE%3As%2Ftail%20x"),  # quote(long, safe="")
        ("FAKE:s:t:ail", "FAKE:s:t:ail x/y", "FAKE%3As%3At%3Aail+x/y"),  # quote_plus(long, safe="/")
    ],
)
def test_a_longer_secret_in_each_url_encoding_wins_over_a_shorter_ones_longer_form(
    short: str, long: str, text: str
) -> None:
    """Each URL encoding of the longer secret is registered as such, so a shorter secret's encoded form
    (longer than the longer secret's raw value) never cuts it short."""
    r = Redactor()
    r.register(short, "short")
    r.register(long, "long")
    assert r.mask(text) == "[REDACTED:long]"


def test_a_longer_secret_wins_a_length_tie_with_a_shorter_secrets_encoded_form() -> None:
    """`quote("FAKE s/tail")` is 13 characters, as long as `FAKE s/tail/x`: the longer value must still win."""
    r = Redactor()
    r.register("FAKE s/tail", "short")
    r.register("FAKE s/tail/x", "long")
    assert r.mask("FAKE%20s/tail%2fx") == "[REDACTED:long]"


@pytest.mark.parametrize(
    ("value", "text", "label"),
    [
        ("FAKE+plus/x", "FAKE+plus%2fx", LABEL),  # only `unquote` gives the value back
        ("FAKE key:x", "FAKE+key%3ax", LABEL),  # only `unquote_plus` gives the value back
        ("FAKE-100%25-off", "FAKE-100%25-off", LABEL),  # the literal itself; decoding it finds nothing
        ("FAKE+plus x/y", "FAKE+plus+x%2fy", "secret"),  # no decoding finds it: the fallback label
    ],
)
def test_mask_labels_of_encoded_matches(value: str, text: str, label: str) -> None:
    """The mask names the registered label for a match found raw, via `unquote_plus` or via `unquote`, and
    `secret` when no decoding of the match is a registered form (masking never fails)."""
    assert _redactor(value).mask(f"<{text}>") == f"<[REDACTED:{label}]>"


# -- URL parts ---------------------------------------------------------------------------------------------


def test_a_url_whose_last_part_is_already_known_still_registers_its_other_parts() -> None:
    """Registering a URL ending in an already registered token still compiles the URL's new parts, with the
    URL's label; the token keeps the label it was first registered with."""
    r = _redactor("FAKEtok12345", label="token")
    assert r.mask("FAKEtok12345") == "[REDACTED:token]"  # compiled: the next registration must recompile
    r.register("https://ops:FAKEpw99@hooks.example.invalid/h/FAKEhook987/FAKEtok12345", "hook")
    assert r.mask("pw FAKEpw99 hook FAKEhook987 tok FAKEtok12345") == (
        "pw [REDACTED:hook] hook [REDACTED:hook] tok [REDACTED:token]"
    )
    assert ("FAKEtok12345", "token") in r.registrations()  # the first label is kept


@pytest.mark.parametrize(
    ("segment", "registered"),
    [
        ("abc1234", False),  # 7 characters: too short
        ("abcd1234", True),  # 8, letters and digits
        ("abcdefgh", False),  # 8 letters, no digit
        ("12345678", False),  # 8 digits, no letter
        ("abcdefghijklmno", False),  # 15 letters
        ("abcdefghijklmnop", True),  # 16 letters: long enough on its own
        ("abcd%201234", False),  # a space is no token character
    ],
)
def test_token_like_path_segments_are_registered_with_their_url(segment: str, registered: bool) -> None:
    """A URL registers a path segment only when it looks like a credential; a log line showing just that
    segment is masked exactly then."""
    r = _redactor(f"https://hooks.example.invalid/v1/{segment}/run", label="hook")
    line = f"POST /v1/{segment}/run"
    assert r.mask(line) == ("POST /v1/[REDACTED:hook]/run" if registered else line)


@pytest.mark.parametrize(
    ("url", "parts"),
    [
        ("https://ops:FAKEpw99@h.invalid/", ["FAKEpw99"]),
        ("HTTPS://h.invalid/hooks/FAKEtok123", ["FAKEtok123"]),
        ("https://ops:FAKE@pw99@h.invalid/x", ["FAKE@pw99"]),
        ("https://ops:FAKE:pw99@h.invalid/x", ["FAKE:pw99"]),
        ("https://opsuser:FAKE%2Fpw9@h.invalid", ["opsuser", "FAKE%2Fpw9", "FAKE/pw9"]),
        ("https://h.invalid/x?sig=QUJDREVGRw==&page=2", ["QUJDREVGRw=="]),
        ("https://h.invalid/x?password=correct-horse&key=ab12&q=abc", ["correct-horse", "ab12"]),
        (
            "https://h.invalid/cb#state=abc&access_token=FAKEat1234&password=correct-horse",
            ["FAKEat1234", "correct-horse"],
        ),
        ("https://h.invalid/cb#state=abcdefgh", []),
        ("https://h.invalid/plain/path?page=2", []),
        ("ftp://ops:FAKEpw99@h.invalid/x", []),
        ("http:///hooks/FAKEtok123", []),
    ],
)
def test_url_secret_parts(url: str, parts: list[str]) -> None:
    """Exactly the userinfo (split at the last `@` and first `:`), token-like path segments, values of
    secret-named or token-like query and fragment parameters, raw and decoded, of 4 characters or more."""
    assert url_secret_parts(url) == parts
