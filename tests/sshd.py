"""A throwaway OpenSSH server on 127.0.0.1 for the recovery tests' SSH transport (fixture `make_sshd`).

`start_sshd` runs `/usr/sbin/sshd -D -e -f <dir>/sshd_config` on a free high port bound to 127.0.0.1, with a
generated host key, one generated client key as the only authorized key, no passwords and no PAM, and
`SetEnv PATH=<path_dirs>:/usr/local/bin:/usr/bin:/bin` so sessions find the tests' stand-in executables
first (a ForceCommand re-runs the client's command under /bin/sh with that PATH, whatever the login
shell's rc files do). Log in as the current user with `SshServer.host_entry()` (an environment-file `hosts` entry
whose `known_hosts` file holds this server's host key, so the suite's default StrictHostKeyChecking=yes holds).
Without openssh-server the fixture skips. Load the fixture with `pytest_plugins = ["tests.sshd"]`.

Exceptions:

    SshdError   sshd did not start listening in time (the message carries its log)
"""

from __future__ import annotations

import contextlib
import getpass
import shlex
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

SSHD = Path("/usr/sbin/sshd")
PRIVSEP_DIR = Path("/run/sshd")
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
MISSING = "openssh-server is not installed: apt-get install openssh-server (.ci/run installs it)"
CLIENT_OPTIONS = ("LogLevel=ERROR",)
"""Client options; host keys are checked against `SshServer.known_hosts` (the suite's default)."""


class SshdError(Exception):
    """sshd did not start listening in time; the message carries its log."""


@dataclass
class SshServer:
    """A running sshd: where it listens, who may log in and with which key."""

    address: str
    port: int
    user: str
    identity_file: Path
    log_file: Path
    process: subprocess.Popen[bytes]
    known_hosts: Path
    ssh_options: list[str] = field(default_factory=lambda: list(CLIENT_OPTIONS))

    def host_entry(self, stacks_dir: Path | str) -> dict[str, Any]:
        """Return an environment-file hosts entry that reaches this server over SSH."""
        return {
            "address": self.address,
            "ssh_user": self.user,
            "stacks_dir": str(stacks_dir),
            "transport": "ssh",
            "ssh_port": self.port,
            "identity_file": str(self.identity_file),
            "known_hosts": str(self.known_hosts),
            "ssh_options": list(self.ssh_options),
        }

    def log(self) -> str:
        """Return what sshd wrote so far (for failure messages)."""
        try:
            return self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop sshd: SIGTERM, then SIGKILL after STOP_TIMEOUT seconds."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)


def sshd_available() -> bool:
    """Return True when the OpenSSH server and client tools are installed."""
    return SSHD.is_file() and shutil.which("ssh") is not None and shutil.which("ssh-keygen") is not None


def free_port(address: str = "127.0.0.1") -> int:
    """Return a port that was free on `address` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        port: int = sock.getsockname()[1]
        return port


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "infracore-verify-test", "-f", str(path)],
        check=True,
        capture_output=True,
        timeout=30,
    )


def _config(workdir: Path, port: int, path_dirs: Sequence[Path], user: str) -> str:
    path = ":".join([*(str(p) for p in path_dirs), "/usr/local/bin", "/usr/bin", "/bin"])
    lines = [
        f"ListenAddress 127.0.0.1:{port}",
        f"HostKey {workdir / 'host_ed25519'}",
        f"PidFile {workdir / 'sshd.pid'}",
        f"AuthorizedKeysFile {workdir / 'authorized_keys'}",
        f"AllowUsers {user}",
        "PermitRootLogin prohibit-password",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "PrintMotd no",
        "PrintLastLog no",
        "X11Forwarding no",
        "AllowTcpForwarding no",
        "LogLevel VERBOSE",
        f"SetEnv PATH={path}",
        # The login shell may rewrite PATH from its rc files (Debian's bash reads ~/.bashrc under sshd); run
        # the client's command under /bin/sh with exactly this PATH so no other docker can come first.
        f'ForceCommand PATH={shlex.quote(path)}; export PATH; exec /bin/sh -c "$SSH_ORIGINAL_COMMAND"',
    ]
    return "\n".join(lines) + "\n"


def _wait_for_banner(server: SshServer, deadline: float) -> bool:
    """Return True once the port answers with an SSH banner, False when sshd exits or time runs out."""
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection((server.address, server.port), timeout=1) as sock:
            sock.settimeout(1)
            if sock.recv(64).startswith(b"SSH-"):
                return True
        time.sleep(0.05)
    return False


def start_sshd(workdir: Path, path_dirs: Sequence[Path] = (), *, timeout: float = START_TIMEOUT) -> SshServer:
    """Start sshd in `workdir` (keys, config, log) and return it once it answers; call `stop()` after."""
    workdir.mkdir(parents=True, exist_ok=True)
    _keygen(workdir / "host_ed25519")
    _keygen(workdir / "client_ed25519")
    shutil.copyfile(workdir / "client_ed25519.pub", workdir / "authorized_keys")
    # sshd refuses to start as root without its privilege separation directory (tmpfs /run in containers).
    with contextlib.suppress(PermissionError):
        PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
    user = getpass.getuser()
    deadline = time.monotonic() + timeout
    attempts = 3  # the free port can be taken between probing and binding
    for attempt in range(1, attempts + 1):
        port = free_port()
        config = workdir / "sshd_config"
        config.write_text(_config(workdir, port, path_dirs, user), encoding="utf-8")
        log_file = workdir / f"sshd-{attempt}.log"
        with log_file.open("wb") as log:
            process = subprocess.Popen(
                [str(SSHD), "-D", "-e", "-f", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={"PATH": "/usr/sbin:/usr/bin:/bin", "LANG": "C"},
            )
        known_hosts = workdir / "known_hosts"
        host_key = (workdir / "host_ed25519.pub").read_text(encoding="utf-8").split()
        known_hosts.write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n", encoding="utf-8")
        server = SshServer("127.0.0.1", port, user, workdir / "client_ed25519", log_file, process, known_hosts)
        if _wait_for_banner(server, deadline):
            return server
        server.stop()
        if time.monotonic() >= deadline or attempt == attempts:
            raise SshdError(f"sshd did not start on 127.0.0.1:{port} within {timeout:g}s; its log:\n{server.log()}")
    raise AssertionError("unreachable")


@pytest.fixture
def make_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[Sequence[Path]], SshServer]]:
    """Returns `make(path_dirs)`: starts an sshd on 127.0.0.1 whose sessions see `path_dirs` first on PATH."""
    if not sshd_available():
        pytest.skip(MISSING)
    servers: list[SshServer] = []

    def make(path_dirs: Sequence[Path] = ()) -> SshServer:
        server = start_sshd(tmp_path_factory.mktemp("sshd"), path_dirs)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
