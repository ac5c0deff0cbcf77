"""Checks of an environment file that JSON Schema cannot express, run whenever the file loads.

They run at load time, so every selection sees them (`-m smoke`, `--probe`, a single gate), not only D906:

- every base URL is usable: `urllib.parse` can split it, it has a host, and its port is 1 to 65535
  (`http://[::1`, `http://host:99999` and `http:///x` match the schema's pattern but cannot be reached);
- a `kind: sandbox` environment has no base URLs of its own: the suite gives each system its sandbox address
  at run time, and the sandbox's throwaway credentials must never be sent anywhere else;
- any other kind never uses the word `sandbox` as a base URL, and the environment named `sandbox` is the
  sandbox: only the sandbox is labelled as the sandbox.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from infracore_verify.contracts.document import Document
from infracore_verify.contracts.findings import Finding
from infracore_verify.contracts.urls import display_url

SANDBOX_WORD = "sandbox"
URL_FORM = "write http(s)://<host>[:<port>][/<path>] with a port from 1 to 65535, e.g. https://vaultwarden.example.org"


def _mapping(value: Any) -> dict[Any, Any]:
    # contracts.model imports the loader, which imports this module: no import of model here.
    return value if isinstance(value, dict) else {}


def url_problem(url: str) -> str:
    """Return why an http(s) URL cannot be reached as written (empty when it can)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        if "Port" in str(exc):
            return "the port is not a number from 1 to 65535"
        return str(exc).replace("Invalid IPv6 URL", "an unclosed or invalid [IPv6] host")
    if not parts.hostname:
        return "it has no host name"
    if port == 0:
        return "port 0 is not a port a server listens on"
    return ""


def _base_urls(data: dict[str, Any]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    for name, entry in _mapping(data.get("systems")).items():
        value = _mapping(entry).get("base_url")
        if isinstance(value, str):
            yield ("systems", str(name), "base_url"), value
    value = _mapping(data.get("credential_source")).get("base_url")
    if isinstance(value, str):
        yield ("credential_source", "base_url"), value


def environment_findings(doc: Document) -> list[Finding]:
    """Return the problems of a loaded environment file that its schema cannot see."""
    data = doc.data
    if not isinstance(data, dict):
        return []
    kind = data.get("kind")
    out: list[Finding] = []
    if data.get("name") == SANDBOX_WORD and kind not in (SANDBOX_WORD, None):
        out.append(
            doc.finding(
                ("kind",),
                f"the environment named 'sandbox' is kind: {kind}, so runs would read 'sandbox' against a real target",
                "set kind: sandbox, or rename the file and its name: for the deployment",
            )
        )
    for parts, value in _base_urls(data):
        shown = display_url(value)
        if kind == SANDBOX_WORD and not (parts[0] == "systems" and value == SANDBOX_WORD):
            out.append(
                doc.finding(
                    parts,
                    f"a kind: sandbox environment has no base URLs of its own, but this one is {shown!r}: the "
                    "sandbox's credentials would be sent there while the output says 'not real infrastructure'",
                    "write base_url: sandbox (the suite gives each system its 127.0.0.1 sandbox address), "
                    "or set kind: deployment for any other target"
                    if parts[0] == "systems"
                    else "remove credential_source.base_url (the sandbox serves the secrets itself), "
                    "or set kind: deployment for any other target",
                )
            )
        elif value == SANDBOX_WORD and kind != SANDBOX_WORD:
            out.append(
                doc.finding(
                    parts,
                    f"base_url 'sandbox' names the built-in sandbox, which only a kind: sandbox environment uses "
                    f"(this one is kind: {kind})",
                    f"{URL_FORM}; or set kind: sandbox",
                )
            )
        elif value != SANDBOX_WORD and "://" in value:
            problem = url_problem(value)
            if problem:
                out.append(doc.finding(parts, f"base_url {shown!r} is not a usable URL: {problem}", URL_FORM))
    return out
