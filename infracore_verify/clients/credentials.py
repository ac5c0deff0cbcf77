"""Credential resolution for an environment file: `{env: VAR}` from the process environment (or the sandbox),
`{secret: /path/KEY}` from Infisical through the suite's machine identity.

Exceptions:

    CredentialError            a credential is missing or cannot be fetched (names the variable or the
                               secret path and the YAML path, never a value)

Every value resolved here is registered with the redactor before anyone sees it, and handed out as a
`Secret` (a str whose repr is masked), so `--showlocals` and reprs of the clients that hold it never show it.
The process environment is held as a `HiddenEnviron`, never as a printable copy.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from infracore_verify.contracts.model import mapping
from infracore_verify.redact import REDACTOR, HiddenEnviron, Secret

SecretFetcher = Callable[[str, list[str]], dict[str, str]]
"""fetch(path, keys) -> {key: value} from the credential source (Infisical); raises on failure."""


class CredentialError(Exception):
    """A credential is missing or cannot be fetched; the message names where it was looked for."""


@dataclass(frozen=True)
class Reference:
    """Where one credential comes from: an environment variable or a secret path in Infisical."""

    system: str
    name: str
    env: str | None
    secret: str | None

    @property
    def where(self) -> str:
        """Return the reference's YAML path in the environment file."""
        return f"$.systems.{self.system}.credentials.{self.name}"

    def describe(self) -> str:
        """Return where the value is looked up, e.g. `environment variable CLOUDFLARE_API_TOKEN`."""
        return f"environment variable {self.env}" if self.env else f"Infisical secret {self.secret}"


def references(env_data: Mapping[str, Any]) -> list[Reference]:
    """Return every credential reference of an environment file, system by system."""
    refs: list[Reference] = []
    for system, entry in mapping(env_data.get("systems")).items():
        for name, ref in mapping(mapping(entry).get("credentials")).items():
            ref = mapping(ref)
            refs.append(Reference(str(system), str(name), ref.get("env"), ref.get("secret")))
    return refs


def split_secret_path(secret: str) -> tuple[str, str]:
    """Split `/infra-core/CLOUDFLARE_API_TOKEN` into the folder `/infra-core` and the key."""
    folder, _, key = secret.rstrip("/").rpartition("/")
    return folder or "/", key


class CredentialResolver:
    """Resolves the credentials of one environment file on demand, once per system, thread-safely."""

    def __init__(
        self,
        env_data: Mapping[str, Any],
        environ: Mapping[str, str],
        display: str,
        fetch_secrets: SecretFetcher | None = None,
    ) -> None:
        self.refs = references(env_data)
        self.environ: Mapping[str, str] = (
            environ if isinstance(environ, HiddenEnviron) else HiddenEnviron(environ, inherit=False)
        )
        self.display = display
        self.fetch_secrets = fetch_secrets
        self._resolved: dict[str, dict[str, str]] = {}
        self._problems: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def _resolve_system(self, system: str) -> None:
        values: dict[str, str] = {}
        problems: dict[str, str] = {}
        wanted = [r for r in self.refs if r.system == system]
        by_folder: dict[str, list[Reference]] = {}
        for ref in wanted:
            if ref.env:
                value = self.environ.get(ref.env)
                if value:
                    REDACTOR.register(value, f"{system}.{ref.name}")
                    values[ref.name] = Secret(value)
                else:
                    problems[ref.name] = f"environment variable {ref.env} is not set"
            elif ref.secret:
                by_folder.setdefault(split_secret_path(ref.secret)[0], []).append(ref)
        for folder, refs in by_folder.items():
            if self.fetch_secrets is None:
                for ref in refs:
                    problems[ref.name] = f"{ref.describe()} needs credential_source type infisical"
                continue
            keys = [split_secret_path(str(r.secret))[1] for r in refs]
            try:
                fetched = self.fetch_secrets(folder, keys)
            except Exception as exc:  # any fetch failure becomes a setup error naming the path
                for ref in refs:
                    problems[ref.name] = f"{ref.describe()} could not be fetched ({REDACTOR.mask(str(exc))})"
                continue
            for ref, key in zip(refs, keys, strict=True):
                if fetched.get(key):
                    REDACTOR.register(fetched[key], f"{system}.{ref.name}")
                    values[ref.name] = Secret(fetched[key])
                else:
                    problems[ref.name] = f"{ref.describe()} does not exist"
        self._resolved[system] = values
        self._problems[system] = problems

    def values(self, system: str) -> dict[str, str]:
        """Return the credentials of a system that could be resolved (missing ones are absent)."""
        with self._lock:
            if system not in self._resolved:
                self._resolve_system(system)
            return dict(self._resolved[system])

    def problems(self, system: str) -> dict[str, str]:
        """Return why each unresolved credential of a system is missing (name -> reason, no values)."""
        self.values(system)
        return dict(self._problems.get(system, {}))

    def require(self, system: str, *names: str) -> dict[str, str]:
        """Return the named credentials of a system, or raise CredentialError naming each missing one."""
        values = self.values(system)
        missing = [n for n in names if n not in values]
        if missing:
            problems = self._problems.get(system, {})
            lines = [
                f"{self.display} $.systems.{system}.credentials.{n}: "
                + (problems.get(n) or "is not declared in the environment file")
                for n in missing
            ]
            raise CredentialError(
                "; ".join(lines) + "; set the variable (or store the secret) and run again, never a literal value"
            )
        return {n: values[n] for n in names}

    def resolve(self, ref: Mapping[str, Any] | None, label: str) -> str | None:
        """Resolve one reference outside `systems` (e.g. alerting.webhook_url); None when unset or unreadable.

        Environment references here also read the process environment: the sandbox supplies only the
        systems' credentials, while a webhook belongs to whoever runs the suite.
        """
        ref = mapping(ref)
        value: str | None = None
        if ref.get("env"):
            value = self.environ.get(str(ref["env"])) or os.environ.get(str(ref["env"]))
        elif ref.get("secret") and self.fetch_secrets is not None:
            folder, key = split_secret_path(str(ref["secret"]))
            try:
                value = self.fetch_secrets(folder, [key]).get(key)
            except Exception:  # an unreadable reference is reported by the caller as missing
                value = None
        if value:
            REDACTOR.register(value, label)
            return Secret(value)
        return None
