"""User info in URLs: find it and never show it (`http://user:secret@host` is shown as `http://***@host`).

Contracts, clients and gates use these to refuse a URL that carries credentials, and to name it in a message
without echoing them.
"""

from __future__ import annotations

import re

_USERINFO = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s'\"]*@")


def has_userinfo(text: str) -> bool:
    """Return True when a URL in the text carries a user name or password (`http://user:pass@host`)."""
    return _USERINFO.search(text) is not None


def display_url(text: str) -> str:
    """Return the text with the userinfo of every URL in it replaced by `***` (`http://***@host/`)."""
    return _USERINFO.sub(r"\1***@", text)
