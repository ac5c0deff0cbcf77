"""How recovery reaches a host: the ssh command line, the container-runtime environment and path checks.

`ssh_prefix` builds `ssh -o BatchMode=yes -o ConnectTimeout=<n> [-p port] [-i key] [-o option]...
-o StrictHostKeyChecking=yes [-o UserKnownHostsFile=<known_hosts>] -- <user@address>`: host keys are always
checked (unless the host's ssh_options say otherwise), against the host's own `known_hosts` file when it
names one, and `--` ends the options so no address can become one (an address starting with `-` is refused
before that). `container_env` is the environment of a local `docker` command: the operator's DOCKER_*,
COMPOSE_* and CONTAINER_HOST variables are dropped, and only the host's `runtime_env` is set, so a run never
acts on a container runtime it was not pointed at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from infracore_verify.recovery.actions.context import RecoveryError

DEFAULT_CONNECT_TIMEOUT = 10
RUNTIME_PREFIXES = ("DOCKER_", "COMPOSE_")
RUNTIME_NAMES = frozenset({"CONTAINER_HOST"})
SERVICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f]")


def is_runtime_variable(name: str) -> bool:
    """Return True for a variable that points docker or compose somewhere (DOCKER_*, COMPOSE_*, CONTAINER_HOST)."""
    return name.startswith(RUNTIME_PREFIXES) or name in RUNTIME_NAMES


def runtime_env(host: Mapping[str, Any], where: str) -> dict[str, str]:
    """Return the host's explicit container-runtime variables (`runtime_env`), checked."""
    declared = host.get("runtime_env") or {}
    if not isinstance(declared, Mapping):
        raise RecoveryError(f"{where}.runtime_env must be a mapping of DOCKER_*/COMPOSE_* variables to values")
    out: dict[str, str] = {}
    for name, value in declared.items():
        if not isinstance(name, str) or not is_runtime_variable(name) or not re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
            raise RecoveryError(
                f"{where}.runtime_env.{name}: only DOCKER_*, COMPOSE_* and CONTAINER_HOST variables can be set here"
            )
        if not isinstance(value, str) or _UNSAFE.search(value):
            raise RecoveryError(f"{where}.runtime_env.{name}: expected a one-line text value")
        out[name] = value
    return out


class RuntimeEnviron(Mapping[str, str]):
    """A command's environment: `base` without its container-runtime variables, plus the explicit ones.

    Nothing is copied until a subprocess starts, and the repr shows names only (no values, nothing inherited).
    """

    def __init__(self, base: Mapping[str, str], explicit: Mapping[str, str]) -> None:
        """Filter `base` (read when a command starts) and set `explicit` over it."""
        self._base = base
        self._explicit = dict(explicit)

    def __getitem__(self, key: str) -> str:
        if key in self._explicit:
            return self._explicit[key]
        if is_runtime_variable(key):
            raise KeyError(key)
        return self._base[key]

    def __iter__(self) -> Iterator[str]:
        yield from self._explicit
        yield from (k for k in self._base if k not in self._explicit and not is_runtime_variable(k))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        names = ", ".join(sorted(self._explicit))
        return f"RuntimeEnviron(runtime_env: [{names}]; inherited DOCKER_*/COMPOSE_* dropped; values hidden)"


def container_env(base: Mapping[str, str], explicit: Mapping[str, str]) -> RuntimeEnviron:
    """Return `base` without inherited runtime variables (DOCKER_*, COMPOSE_*, CONTAINER_HOST), plus `explicit`."""
    return RuntimeEnviron(base, explicit)


def relative_path_problem(value: str) -> str | None:
    """Return why `value` is not a safe relative path (absolute, a `..` part, a part starting with `-`), or None."""
    if _UNSAFE.search(value):
        return "holds whitespace or a control character"
    if value.startswith("/"):
        return "is absolute; give a path relative to the directory it lives in"
    parts = value.split("/")
    if any(part == ".." for part in parts):
        return "has a '..' part, which leaves the directory it must stay in"
    if any(part.startswith("-") for part in parts):
        return "has a part starting with '-', which a command would read as an option"
    if any(part in ("", ".") for part in parts):
        return "has an empty or '.' part"
    return None


def _text(host: Mapping[str, Any], key: str, where: str, fix: str) -> str | None:
    value = host.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise RecoveryError(f"{where}.{key} is {value!r}; {fix}")
    return value


def _address(host: Mapping[str, Any], where: str) -> str:
    address = host.get("address")
    if not isinstance(address, str) or not address or address.startswith("<"):
        raise RecoveryError(f"{where}.address is {address!r}; set the host name or IP address to reach over SSH")
    if address.startswith("-") or _UNSAFE.search(address) or "@" in address:
        raise RecoveryError(
            f"{where}.address is {address!r}; an address is a host name or an IP address: it cannot start with "
            "'-' (ssh would read it as an option), hold spaces or '@' (put the user in ssh_user)"
        )
    return address


def _user(host: Mapping[str, Any], where: str) -> str | None:
    user = host.get("ssh_user")
    if not isinstance(user, str) or not user:
        return None
    if user.startswith("<"):
        raise RecoveryError(f"{where}.ssh_user is the placeholder {user!r}; set the real SSH user (or remove it)")
    if user.startswith("-") or _UNSAFE.search(user) or "@" in user:
        raise RecoveryError(f"{where}.ssh_user is {user!r}; a user name cannot start with '-' or hold spaces or '@'")
    return user


def connect_timeout(host: Mapping[str, Any], where: str) -> int:
    """Return the host's ssh ConnectTimeout in seconds (connect_timeout_seconds, default 10)."""
    value = host.get("connect_timeout_seconds", DEFAULT_CONNECT_TIMEOUT)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 600:
        raise RecoveryError(f"{where}.connect_timeout_seconds is {value!r}; use whole seconds from 1 to 600")
    return value


def ssh_prefix(host: Mapping[str, Any], where: str) -> list[str]:
    """Return `ssh <options> -- <destination>` for a host; raise RecoveryError for a bad field."""
    address = _address(host, where)
    prefix = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={connect_timeout(host, where)}"]
    port = host.get("ssh_port")
    if port is not None:
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            raise RecoveryError(f"{where}.ssh_port is {port!r}; use a port number 1-65535")
        prefix += ["-p", str(port)]
    identity = _text(host, "identity_file", where, "give the path of a private key file")
    if identity is not None:
        prefix += ["-i", identity]
    options = host.get("ssh_options", [])
    if not isinstance(options, list) or not all(
        isinstance(o, str) and re.fullmatch(r"[A-Za-z][A-Za-z0-9]*[= ]\S.*", o) for o in options
    ):
        raise RecoveryError(f"{where}.ssh_options must be a list of 'Option=value' strings")
    for option in options:
        prefix += ["-o", option]
    names = {re.split(r"[= ]", o, maxsplit=1)[0].lower() for o in options}
    if "stricthostkeychecking" not in names:
        prefix += ["-o", "StrictHostKeyChecking=yes"]
    known_hosts = _text(host, "known_hosts", where, "give the path of a known_hosts file")
    if known_hosts is not None and "userknownhostsfile" not in names:
        prefix += ["-o", f"UserKnownHostsFile={known_hosts}"]
    user = _user(host, where)
    return [*prefix, "--", f"{user}@{address}" if user else address]


def ssh_failure_fix(output: str) -> str:
    """Return what to do about an ssh that failed before the remote command ran (exit 255)."""
    text = output.lower()
    if "host key verification failed" in text or "remote host identification has changed" in text:
        return (
            "the host key is unknown or changed: add the host's key to its known_hosts file (hosts.<id>.known_hosts; "
            "ssh-keyscan, then compare the fingerprint) or fix the address"
        )
    if "permission denied" in text:
        return "the host refused the SSH key: check ssh_user and identity_file, and the key in authorized_keys"
    if "timed out" in text:
        return "the host did not answer within ConnectTimeout: check the address, the port and the network"
    return "check the address, the port, ssh_user, identity_file and known_hosts"
