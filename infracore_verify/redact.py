"""Redaction by construction: credentials are registered once when resolved and masked wherever text leaves.

`REDACTOR` is the process-wide registry. Clients register every credential they are given; the plugin
masks test reports (assertion text, captured output, JUnit properties), log records, warnings, the
`--debug` log, Allure attachments and receipts through it. Recorded HTTP exchanges mask auth headers,
cookies and secret-looking fields whatever their value, so an echo of a request (Authentik's system
endpoint) is masked too.

A registered value is masked in every form it travels in: raw, URL-encoded (`quote` with and without `/`
kept, `quote_plus`), base64 (standard and URL-safe, padded or not, also inside a longer encoded string
such as a Basic auth header), JSON-escaped and HTML/XML-escaped, and with letters and digits percent-encoded
(`%46AKE`: such text is also masked decoded). A registered URL also registers its
secret parts: the userinfo, token-like path segments and query values, so a library's log line
`POST /hooks/<token>?token=<token>` is masked although it never shows the whole URL.

Types that hold secret material without printing it: `Secret` (a str whose repr is masked) and
`HiddenEnviron` (a child process's environment whose repr shows no value), so `--showlocals`, dataclass
reprs and containers never expose them.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import os
import re
import stat
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote, unquote_plus, urlsplit

MASK = "[REDACTED]"
MIN_SECRET_LENGTH = 4
"""Shorter values are not registered: masking every 'abc' would wreck the output and protect nothing."""
MIN_B64_CORE = 6
"""Shortest base64 run registered for a secret seen inside a longer encoded string (shorter ones collide)."""

_HTTP_AUTH_HEADERS = ("authorization", "proxy-authorization", "cookie", "set-cookie")
_VENDOR_HEADERS = ("x-auth-key", "x-auth-email", "x-auth-user-service-key", "x-api-key", "cf-access-client-secret")
_WSGI_HEADER_KEYS = ("http_authorization", "http_cookie", "http_x_auth_key")
SENSITIVE_HEADERS = frozenset(_HTTP_AUTH_HEADERS + _VENDOR_HEADERS + _WSGI_HEADER_KEYS)
"""Header names (lower case) whose values are masked in recorded exchanges whatever they hold."""
SENSITIVE_FIELD = re.compile(
    r"(token|secret|password|passwd|api_?key|private_?key|authorization|cookie|secret_?value|client_?secret)$",
    re.IGNORECASE,
)
"""Field names whose values are masked in recorded request and response bodies."""
SENSITIVE_QUERY = re.compile(r"(token|secret|key|sig|signature|auth|password|passwd|code|credential)", re.IGNORECASE)
"""Query parameter names whose values are registered with a URL whatever they look like."""
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9._~+/=%:-]+")


class Secret(str):
    """A str holding secret material: its repr is masked (pytest's `-l`, dataclass reprs, containers)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"'{MASK}'"


class HiddenEnviron(Mapping[str, str]):
    """A child process's environment: the suite's variables over the inherited ones, with a repr showing none.

    Nothing is copied until a subprocess is started (`child_environ`), so a frame that fails never holds a
    copy of `os.environ` that `--showlocals` could print.
    """

    def __init__(self, own: Mapping[str, str] | None = None, *, inherit: bool = True) -> None:
        self._own = dict(own or {})
        self._inherit = inherit

    def _base(self) -> Mapping[str, str]:
        return os.environ if self._inherit else {}

    def __getitem__(self, key: str) -> str:
        if key in self._own:
            return self._own[key]
        return self._base()[key]

    def __iter__(self) -> Iterator[str]:
        yield from self._own
        yield from (k for k in self._base() if k not in self._own)

    def __len__(self) -> int:
        return len(self._own) + sum(1 for k in self._base() if k not in self._own)

    def __repr__(self) -> str:
        names = ", ".join(sorted(self._own))
        inherited = " + the inherited environment" if self._inherit else ""
        return f"HiddenEnviron(set: [{names}]{inherited}; values hidden)"


def child_environ(env: Mapping[str, str] | None) -> dict[str, str] | None:
    """Return the plain dict a subprocess needs, built at the call so no failing frame holds it."""
    return None if env is None else dict(env)


def is_token_like(text: str) -> bool:
    """Return True for a URL part that looks like a credential: long, or mixing letters and digits."""
    if len(text) < 8 or not _TOKEN_CHARS.fullmatch(text):
        return False
    has_digit = any(c.isdigit() for c in text)
    has_alpha = any(c.isalpha() for c in text)
    return len(text) >= 16 or (has_digit and has_alpha)


def url_secret_parts(url: str) -> list[str]:
    """Return the parts of an http(s) URL that may be secrets: userinfo, token-like path segments, query values."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return []
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return []
    found: list[str] = []
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    if userinfo:
        user, _, password = userinfo.partition(":")
        found += [user, unquote(user), password, unquote(password)]
    for segment in parts.path.split("/"):
        if is_token_like(unquote(segment)):
            found += [segment, unquote(segment)]
    for raw in parts.query.split("&"):
        name, _, value = raw.partition("=")
        plain = unquote_plus(value)
        if value and (SENSITIVE_QUERY.search(unquote_plus(name)) or is_token_like(plain)):
            found += [value, plain]
    for name, value in parse_qsl(parts.fragment):
        if SENSITIVE_QUERY.search(name) or is_token_like(value):
            found.append(value)
    return [f for f in dict.fromkeys(found) if len(f) >= MIN_SECRET_LENGTH]


def _b64_cores(raw: bytes) -> set[str]:
    """Return the base64 runs that encode `raw` wherever it sits in a longer byte string (3 alignments)."""
    cores: set[str] = set()
    for offset in range(3):
        data = b"\0" * offset + raw
        start = (0, 2, 3)[offset]
        end = 4 * (len(data) // 3) + len(data) % 3
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(data).decode("ascii")
            core = encoded[start:end]
            if offset == 0:
                cores.add(encoded)  # the value on its own, padded
                cores.add(encoded.rstrip("="))
            if len(core) >= MIN_B64_CORE:
                cores.add(core)
    return cores


def _percent_pattern(value: str) -> str:
    """Return a regex matching `value` with any of its characters percent-encoded (either hex case) or not."""
    out = []
    for ch in value:
        if ch.isascii() and (ch.isalnum() or ch in "-._~"):
            out.append(re.escape(ch))
            continue
        encoded = "".join(f"%{byte:02x}" for byte in ch.encode("utf-8"))
        options = [re.escape(ch), "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in encoded)]
        if ch == " ":
            options.append(r"\+")
        out.append("(?:" + "|".join(options) + ")")
    return "".join(out)


UNRESERVED_ESCAPE = re.compile(r"%(?:2[de]|3[0-9]|[46][1-9a-f]|[57][0-9a]|5f|7e)", re.IGNORECASE)
"""A percent-encoded letter, digit or `-._~`. RFC 3986 makes `%46` and `F` the same in a URI and clients need
not encode them, so most text holds none; text that does is also masked in its decoded form."""


def _decode_unreserved(text: str) -> tuple[str, list[int]]:
    """Return `text` with every `UNRESERVED_ESCAPE` decoded, and the index in the decoded text of each escape."""
    parts: list[str] = []
    escapes: list[int] = []
    position = 0
    for match in UNRESERVED_ESCAPE.finditer(text):
        parts.append(text[position : match.start()])
        escapes.append(match.start() - 2 * len(escapes))
        parts.append(chr(int(match.group(0)[1:], 16)))
        position = match.end()
    parts.append(text[position:])
    return "".join(parts), escapes


def _mask_decoded(pattern: re.Pattern[str], text: str, label: Callable[[re.Match[str]], str]) -> str:
    """Mask what `pattern` finds in `text` with its unreserved escapes decoded, replacing the original spans."""
    decoded, escapes = _decode_unreserved(text)

    def original(index: int) -> int:
        return index + 2 * bisect_left(escapes, index)

    out: list[str] = []
    position = 0
    for match in pattern.finditer(decoded):
        start = original(match.start())
        out += [text[position:start], label(match)]
        position = original(match.end())
    out.append(text[position:])
    return "".join(out)


def encoded_forms(value: str) -> set[str]:
    """Return every form in which `value` may travel: raw, URL-, base64-, JSON- and HTML-encoded."""
    forms = {value, quote(value, safe=""), quote(value), quote_plus(value), quote_plus(value, safe="/")}
    forms |= {json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    forms |= {html.escape(value), html.escape(value, quote=False)}
    forms |= _b64_cores(value.encode("utf-8"))
    return {f for f in forms if len(f) >= MIN_SECRET_LENGTH}


class Redactor:
    """A registry of secret values and the masking built on it (one compiled alternation of every form)."""

    def __init__(self) -> None:
        self._labels: dict[str, str] = {}
        self._forms: dict[str, str] = {}
        self._longest_value: dict[str, int] = {}
        """Per form: the length of the longest registered value it encodes (the tie-break of `_compile`)."""
        self._pattern: re.Pattern[str] | None = None
        self._stale = False
        self._lock = threading.Lock()

    def register(self, value: str | None, label: str = "secret") -> None:
        """Register a secret value, its encoded forms and, for a URL, its secret parts; masked from now on."""
        if not value or len(value) < MIN_SECRET_LENGTH:
            return
        value = str(value)
        with self._lock:
            if value in self._labels:
                return
            added = self._add(value, label)
            for part in url_secret_parts(value):
                added |= self._add(part, label)
            if added:
                self._stale = True  # compiled once at the next use: N registrations cost one compile

    def _compile(self) -> re.Pattern[str]:
        """Build the one alternation: every literal form, and each value percent-encoded in any mixture."""
        # Each piece is ranked by the longest text it can match, then by its value's length: an alternation
        # takes the first piece that matches, so a secret that contains another is masked whole even when a
        # shorter secret's encoded form is as long as the longer secret's text.
        rank: dict[str, tuple[int, int]] = {}
        for form, value_length in self._longest_value.items():
            rank[re.escape(form)] = (len(form), value_length)
        for value in self._labels:
            if quote(value, safe="") != value:
                # A URL may carry a value partly decoded (an IRI, lowercase hex, `+` for a space); its fully
                # quoted form is the longest text that piece matches.
                rank[_percent_pattern(value)] = (len(quote(value, safe="")), len(value))
        return re.compile("|".join(sorted(rank, key=lambda piece: rank[piece], reverse=True)))

    def _add(self, value: str, label: str) -> bool:
        if len(value) < MIN_SECRET_LENGTH or value in self._labels:
            return False
        self._labels[value] = label
        for form in encoded_forms(value):
            self._forms.setdefault(form, label)
            self._longest_value[form] = max(self._longest_value.get(form, 0), len(value))
        return True

    def values(self) -> list[str]:
        """Return the registered values (not their encoded forms)."""
        with self._lock:
            return list(self._labels)

    def registrations(self) -> list[tuple[str, str]]:
        """Return (value, label) of every registered value (what an xdist worker hands to the controller)."""
        with self._lock:
            return list(self._labels.items())

    def forget_all(self) -> None:
        """Drop every registered value (tests use this to isolate runs)."""
        with self._lock:
            self._labels.clear()
            self._forms.clear()
            self._longest_value.clear()
            self._pattern = None
            self._stale = False

    def mask(self, text: str) -> str:
        """Return `text` with every registered secret (in any form) replaced by `[REDACTED:<label>]`."""
        pattern = self._current()
        if pattern is None or not text:
            return text
        forms = self._forms

        def label(match: re.Match[str]) -> str:
            found = match.group(0)
            name = forms.get(found) or forms.get(unquote_plus(found)) or forms.get(unquote(found)) or "secret"
            return f"[REDACTED:{name}]"

        if UNRESERVED_ESCAPE.search(text):
            # Decoded first, so a value written with escapes is masked whole before any part of it is found
            # raw; then as written, for values that hold such an escape themselves.
            text = _mask_decoded(pattern, text, label)
        return pattern.sub(label, text)

    def contains_secret(self, text: str) -> bool:
        """Return True when `text` holds a registered secret in any form."""
        pattern = self._current()
        if pattern is None or not text:
            return False
        if pattern.search(text):
            return True
        return bool(UNRESERVED_ESCAPE.search(text) and pattern.search(_decode_unreserved(text)[0]))

    def active(self) -> bool:
        """Return True once any secret is registered (callers skip masking work until then)."""
        return bool(self._labels)

    def _current(self) -> re.Pattern[str] | None:
        if self._stale:
            with self._lock:
                if self._stale:
                    self._pattern = self._compile()
                    self._stale = False
        return self._pattern

    def mask_headers(self, headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
        """Return headers with auth and cookie headers masked and every other value scrubbed."""
        items = headers.items() if isinstance(headers, Mapping) else headers
        return {k: MASK if k.lower() in SENSITIVE_HEADERS else self.mask(str(v)) for k, v in items}

    def mask_data(self, data: Any) -> Any:
        """Return JSON-like data with secret-looking fields masked and registered values scrubbed."""
        if isinstance(data, Mapping):
            out: dict[Any, Any] = {}
            for key, value in data.items():
                name = str(key)
                if (SENSITIVE_FIELD.search(name) or name.lower() in SENSITIVE_HEADERS) and value not in (None, ""):
                    out[key] = MASK
                else:
                    out[key] = self.mask_data(value)
            return out
        if isinstance(data, list | tuple):
            return [self.mask_data(v) for v in data]
        if isinstance(data, str):
            return self.mask(data)
        return data


REDACTOR = Redactor()


def mask_record(record: logging.LogRecord, redactor: Redactor = REDACTOR) -> None:
    """Mask a log record in place: its message, its exception text and its stack (never raises)."""
    if not redactor.active():
        return
    try:
        message = record.getMessage()
    except Exception:  # a malformed record: leave it to the handler's own error handling
        return
    masked = redactor.mask(message)
    if masked != message:
        record.msg, record.args = masked, None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redactor.mask(record.exc_text)
    if record.stack_info:
        record.stack_info = redactor.mask(record.stack_info)


class _MaskingRecordFactory:
    """Wraps the log record factory so every record's message is masked before any handler sees it."""

    def __init__(self, previous: Any, redactor: Redactor) -> None:
        self.previous = previous
        self.redactor = redactor

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.previous(*args, **kwargs)
        mask_record(record, self.redactor)
        return record


class MaskingFilter(logging.Filter):
    """A handler filter that masks each record as it is emitted (secrets registered after it was created)."""

    def __init__(self, redactor: Redactor = REDACTOR) -> None:
        super().__init__("infracore-verify-masking")
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the record and let it through."""
        mask_record(record, self.redactor)
        return True


def install_log_masking(redactor: Redactor = REDACTOR) -> None:
    """Mask registered secrets in every log record created from now on (idempotent)."""
    current = logging.getLogRecordFactory()
    if not isinstance(current, _MaskingRecordFactory):
        logging.setLogRecordFactory(_MaskingRecordFactory(current, redactor))


def mask_handler(handler: logging.Handler, redactor: Redactor = REDACTOR) -> None:
    """Add the masking filter to a handler once (caplog, the report, --log-file and live logging handlers)."""
    if not any(isinstance(f, MaskingFilter) for f in handler.filters):
        handler.addFilter(MaskingFilter(redactor))


def mask_exception(exc: BaseException, redactor: Redactor = REDACTOR) -> None:
    """Mask registered secrets in an exception's message in place (pytest.fail, assert and plain errors)."""
    msg = getattr(exc, "msg", None)
    if isinstance(msg, str):
        exc.msg = redactor.mask(msg)  # type: ignore[attr-defined]
    exc.args = tuple(redactor.mask(a) if isinstance(a, str) else a for a in exc.args)


@dataclass(frozen=True)
class TreeSnapshot:
    """The regular files of a folder before the run (identity and mtime) and when the run started."""

    started_ns: int
    before: frozenset[tuple[int, int, int, int]]

    @classmethod
    def take(cls, root: str | Path) -> TreeSnapshot:
        """Record what is in `root` now, so a later scrub rewrites only what this run wrote."""
        return cls(time.time_ns(), frozenset(_identity(st) for _, st in _regular_files(Path(root))))


MTIME_SLACK_NS = 2_000_000_000
"""File times come from a coarse clock: a file written just after the snapshot may look slightly older."""


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


def _regular_files(base: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """Yield the regular files below `base` without following any symlink (file or folder)."""
    if not base.is_dir() or base.is_symlink():
        return
    for folder, dirs, files in os.walk(base, followlinks=False):
        for name in files:
            path = Path(folder) / name
            try:
                st = path.lstat()
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                yield path, st
        dirs[:] = [d for d in dirs if not (Path(folder) / d).is_symlink()]


def rewrite_masked(path: Path, redactor: Redactor = REDACTOR) -> bool:
    """Mask secrets in one regular UTF-8 text file in place, never through a symlink; return True if changed."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    with os.fdopen(fd, "r+b") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            return False  # a hard link may be an operator's file outside the folder
        data = fh.read()
        if b"\0" in data:
            return False  # binary: masking would corrupt it
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return False
        masked = redactor.mask(text)
        if masked == text:
            return False
        fh.seek(0)
        fh.write(masked.encode("utf-8"))
        fh.truncate()
    return True


def scrub_tree(root: str | Path, redactor: Redactor = REDACTOR, since: TreeSnapshot | None = None) -> int:
    """Mask registered secrets in the text files below `root` that this run wrote; return files changed.

    Only regular files are rewritten, never through a symlink or a hard link, never a binary file; with a
    snapshot, only files created or modified after it was taken.
    """
    if not redactor.active():
        return 0
    changed = 0
    for path, st in _regular_files(Path(root)):
        if since is not None and (_identity(st) in since.before or st.st_mtime_ns < since.started_ns - MTIME_SLACK_NS):
            continue
        if rewrite_masked(path, redactor):
            changed += 1
    return changed
