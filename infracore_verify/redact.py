"""Redaction by construction: credentials are registered once when resolved and masked wherever text leaves.

`REDACTOR` is the process-wide registry. Clients register every credential they are given; the plugin
masks test reports (assertion text, captured output, JUnit properties), log records, Allure attachments
and receipts through it. Recorded HTTP exchanges mask auth headers, cookies and secret-looking fields
whatever their value, so an echo of a request (Authentik's system endpoint) is masked too.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

MASK = "[REDACTED]"
MIN_SECRET_LENGTH = 4
"""Shorter values are not registered: masking every 'abc' would wreck the output and protect nothing."""

SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-auth-key",
        "x-auth-email",
        "x-auth-user-service-key",
        "x-api-key",
        "cf-access-client-secret",
        "http_authorization",
        "http_cookie",
        "http_x_auth_key",
    }
)
SENSITIVE_FIELD = re.compile(
    r"(token|secret|password|passwd|api_?key|private_?key|authorization|cookie|secret_?value|client_?secret)$",
    re.IGNORECASE,
)
"""Field names whose values are masked in recorded request and response bodies."""


class Redactor:
    """A registry of secret values and the masking built on it."""

    def __init__(self) -> None:
        self._labels: dict[str, str] = {}
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def register(self, value: str | None, label: str = "secret") -> None:
        """Register a secret value (and its common encodings) so it is masked from now on."""
        if not value or len(value) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            if value in self._labels:
                return
            self._labels[value] = label
            # Longest first, so a secret that contains another is masked whole.
            alternatives = sorted(self._labels, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in alternatives))

    def values(self) -> list[str]:
        """Return the registered values (for the final scrub of files written by other plugins)."""
        with self._lock:
            return list(self._labels)

    def forget_all(self) -> None:
        """Drop every registered value (tests use this to isolate runs)."""
        with self._lock:
            self._labels.clear()
            self._pattern = None

    def mask(self, text: str) -> str:
        """Return `text` with every registered secret replaced by `[REDACTED:<label>]`."""
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(lambda m: f"[REDACTED:{self._labels.get(m.group(0), 'secret')}]", text)

    def contains_secret(self, text: str) -> bool:
        """Return True when `text` holds a registered secret."""
        pattern = self._pattern
        return bool(pattern and text and pattern.search(text))

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


class _MaskingRecordFactory:
    """Wraps the log record factory so every record's message is masked before any handler sees it."""

    def __init__(self, previous: Any, redactor: Redactor) -> None:
        self.previous = previous
        self.redactor = redactor

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.previous(*args, **kwargs)
        if self.redactor.values():
            message = record.getMessage()
            masked = self.redactor.mask(message)
            if masked != message:
                record.msg, record.args = masked, None
        return record


def install_log_masking(redactor: Redactor = REDACTOR) -> None:
    """Mask registered secrets in every log record created from now on (idempotent)."""
    current = logging.getLogRecordFactory()
    if not isinstance(current, _MaskingRecordFactory):
        logging.setLogRecordFactory(_MaskingRecordFactory(current, redactor))


def mask_exception(exc: BaseException, redactor: Redactor = REDACTOR) -> None:
    """Mask registered secrets in an exception's message in place (pytest.fail, assert and plain errors)."""
    msg = getattr(exc, "msg", None)
    if isinstance(msg, str):
        exc.msg = redactor.mask(msg)  # type: ignore[attr-defined]
    exc.args = tuple(redactor.mask(a) if isinstance(a, str) else a for a in exc.args)


def scrub_tree(root: str | Path, redactor: Redactor = REDACTOR) -> int:
    """Mask registered secrets in every file below `root` (written by other plugins); return files changed."""
    values = redactor.values()
    base = Path(root)
    if not values or not base.is_dir():
        return 0
    needles = [v.encode() for v in values]
    changed = 0
    for path in base.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if any(n in data for n in needles):
            text = data.decode("utf-8", errors="surrogateescape")
            path.write_bytes(redactor.mask(text).encode("utf-8", errors="surrogateescape"))
            changed += 1
    return changed
