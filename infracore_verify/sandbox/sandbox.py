"""The Sandbox: four emulated systems on 127.0.0.1, their credentials, faults, health switches and recordings."""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import ClassVar

from infracore_verify.sandbox._http import CONTROL_HEADER, EmulatedSystem, RecordedRequest, SystemContext
from infracore_verify.sandbox._server import LOOPBACK, SystemServer
from infracore_verify.sandbox.authentik import Authentik
from infracore_verify.sandbox.cloudflare import Cloudflare
from infracore_verify.sandbox.faults import SYSTEMS, FaultBoard, FaultSpec
from infracore_verify.sandbox.infisical import Infisical
from infracore_verify.sandbox.seed import CREDENTIAL_NAMES, SandboxError, SandboxSeed
from infracore_verify.sandbox.vaultwarden import Vaultwarden

_APPS: dict[str, type[EmulatedSystem]] = {
    "cloudflare": Cloudflare,
    "vaultwarden": Vaultwarden,
    "infisical": Infisical,
    "authentik": Authentik,
}


def make_credentials(
    seed: SandboxSeed, overrides: Mapping[str, Mapping[str, str]] | None = None
) -> dict[str, dict[str, str]]:
    """Return fresh, obviously fake credentials for every system, with `overrides` applied (names are checked)."""

    def fake(system: str, name: str) -> str:
        return f"sandbox-{system}-{name}-{secrets.token_hex(12)}"

    creds = {
        "cloudflare": {
            "api_token": fake("cloudflare", "api_token"),
            "api_email": f"sandbox-cloudflare-{secrets.token_hex(4)}@example.invalid",
            "api_key": fake("cloudflare", "api_key"),
            "account_id": seed.account_id,
        },
        "vaultwarden": {
            "client_id": f"user.{uuid.uuid4()}",
            "client_secret": fake("vaultwarden", "client_secret"),
        },
        "infisical": {
            "client_id": str(uuid.uuid4()),
            "client_secret": fake("infisical", "client_secret"),
            "project_id": str(uuid.uuid4()),
        },
        "authentik": {"api_token": fake("authentik", "api_token")},
    }
    for system, values in (overrides or {}).items():
        if system not in CREDENTIAL_NAMES:
            raise ValueError(f"credentials for unknown system {system!r}; allowed systems: {', '.join(SYSTEMS)}")
        for name, value in values.items():
            if name not in CREDENTIAL_NAMES[system]:
                allowed = ", ".join(CREDENTIAL_NAMES[system])
                raise ValueError(f"unknown {system} credential {name!r}; allowed names: {allowed}")
            if not isinstance(value, str) or not value:
                raise ValueError(f"credential {system}.{name} must be a non-empty string")
            creds[system][name] = value
    return creds


class Sandbox:
    """In-process HTTP emulation of Cloudflare, Vaultwarden, Infisical and Authentik, bound to 127.0.0.1 only.

    Each system gets its own werkzeug server on an ephemeral port at the first `start()`; `down()`/`up()` stop
    and restart one system on the same port. Every response carries `X-Infracore-Sandbox: 1`.
    """

    is_sandbox: ClassVar[bool] = True

    def __init__(
        self,
        seed: SandboxSeed | None = None,
        *,
        credentials: Mapping[str, Mapping[str, str]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`clock` (monotonic seconds) measures access-token lifetimes; a test may pass a settable one."""
        self.seed = seed if seed is not None else SandboxSeed.default()
        self._credentials = make_credentials(self.seed, credentials)
        self._faults = FaultBoard()
        self._down_by_fault: set[str] = set()
        self._lock = threading.RLock()
        self._started = False
        self._contexts = {s: SystemContext(s, self.seed, self._credentials, self._faults, clock) for s in SYSTEMS}
        self._control_token = secrets.token_urlsafe(24)
        for context in self._contexts.values():
            context.control_token = self._control_token
        self._apps = {s: _APPS[s](self._contexts[s]) for s in SYSTEMS}
        self._servers = {s: SystemServer(self._apps[s]) for s in SYSTEMS}

    # -- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> Sandbox:
        """Start every system that is not running (ephemeral ports the first time, the same ports on a restart)."""
        with self._lock:
            try:
                for system in SYSTEMS:
                    if system not in self._down_by_fault:
                        self._servers[system].start()
            except SandboxError:
                self.stop()
                raise
            self._started = True
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every system, aborting requests in flight; raise SandboxError if a thread outlives `timeout`.

        A later `start()` binds the same ports again (SandboxError if another process took one meanwhile).
        """
        with self._lock:
            # The four servers stop side by side: each shutdown waits for its serve loop's next poll.
            with ThreadPoolExecutor(max_workers=len(SYSTEMS), thread_name_prefix="sandbox-stop") as pool:
                stopped = list(pool.map(lambda system: self._servers[system].stop(timeout), SYSTEMS))
            leftovers = [name for names in stopped for name in names]
            self._started = False
        if leftovers:
            raise SandboxError(f"sandbox threads still alive after {timeout:g}s: {', '.join(leftovers)}")

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "started" if self._started else "not started"
        return f"<Sandbox {state} {self.ports}>"

    # -- addresses and credentials --------------------------------------------------------------------------

    @property
    def ports(self) -> dict[str, int]:
        """Return the port of every system that has been started at least once."""
        return {s: server.port for s, server in self._servers.items() if server.port is not None}

    @property
    def base_urls(self) -> dict[str, str]:
        """Return each system's base URL (Cloudflare's includes /client/v4), as a client is configured."""
        if not self._started:
            raise SandboxError("the sandbox is not started; call start() (or use it as a context manager) first")
        ports = self.ports
        return {s: f"http://{LOOPBACK}:{ports[s]}{self._apps[s].base_path}" for s in SYSTEMS if s in ports}

    @property
    def control_token(self) -> str:
        """Return this sandbox's random control token: control requests carry it in `CONTROL_HEADER`."""
        return self._control_token

    def control_headers(self) -> dict[str, str]:
        """Return the headers a control request (POST /__sandbox__/control) must send."""
        return {CONTROL_HEADER: self._control_token, "Content-Type": "application/json"}

    @property
    def credentials(self) -> dict[str, dict[str, str]]:
        """Return a copy of the credentials the servers accept, named as in environments/sandbox.yaml."""
        return {system: dict(values) for system, values in self._credentials.items()}

    def environment(self) -> dict[str, str]:
        """Return the credentials keyed by the environment variables sandbox.yaml references them by."""
        return {
            self.seed.env_var(system, name): value
            for system, values in self._credentials.items()
            for name, value in values.items()
        }

    def bound_addresses(self) -> dict[str, tuple[str, int]]:
        """Return the (host, port) each running server's listening socket is bound to."""
        out: dict[str, tuple[str, int]] = {}
        for system, server in self._servers.items():
            address = server.bound_address
            if address is not None:
                out[system] = address
        return out

    # -- faults and health ---------------------------------------------------------------------------------

    def inject(self, spec: FaultSpec) -> None:
        """Activate a fault; `down` stops the system's server until the fault is cleared."""
        if spec.kind == "down":
            with self._lock:
                self._faults.add(spec)
                self._down_by_fault.add(spec.system)
                if self._started:
                    self._servers[spec.system].stop()
            return
        self._faults.add(spec)

    def clear_faults(self, system: str | None = None) -> None:
        """Remove the faults of one system (or all); systems downed by a `down` fault come back up."""
        self._check_system(system)
        with self._lock:
            self._faults.clear(system)
            for name in sorted(self._down_by_fault):
                if system is None or name == system:
                    self._down_by_fault.discard(name)
                    if self._started:
                        self._servers[name].start()

    def faults(self, system: str | None = None) -> list[FaultSpec]:
        """Return the active faults (those with `times` left), optionally of one system."""
        self._check_system(system)
        return self._faults.active(system)

    def down(self, system: str) -> None:
        """Stop one system's server: connections to its port are refused until `up()`."""
        self._check_system(system)
        with self._lock:
            self._require_started()
            leftovers = self._servers[system].stop()
        if leftovers:
            raise SandboxError(f"{system} threads still alive after stop: {', '.join(leftovers)}")

    def up(self, system: str) -> None:
        """Restart one system's server on the same port (no-op when it is running)."""
        self._check_system(system)
        with self._lock:
            self._require_started()
            self._servers[system].start()

    def is_up(self, system: str) -> bool:
        """Return True when the system's server accepts connections."""
        self._check_system(system)
        return self._servers[system].running

    def set_healthy(self, system: str, healthy: bool = True) -> None:
        """Switch a system's health: unhealthy Vaultwarden /alive answers 503, Authentik ready 503,
        Infisical status 500, Cloudflare every endpoint 503 (see each system's module)."""
        self._check_system(system)
        self._contexts[system].healthy = healthy

    def is_healthy(self, system: str) -> bool:
        """Return the system's health switch."""
        self._check_system(system)
        return self._contexts[system].healthy

    def expire_tokens(self, system: str) -> None:
        """Expire every access token Vaultwarden or Infisical issued so far (forces the client to log in again)."""
        app = self._apps.get(system)
        if not isinstance(app, Vaultwarden | Infisical):
            raise ValueError(f"only vaultwarden and infisical issue access tokens, not {system!r}")
        app.expire_tokens()

    # -- recordings -----------------------------------------------------------------------------------------

    def requests(self, system: str) -> list[RecordedRequest]:
        """Return the requests one system received, oldest first, exactly as they arrived."""
        self._check_system(system)
        return self._contexts[system].recorded()

    def clear_requests(self, system: str | None = None) -> None:
        """Forget the recorded requests of one system (or all)."""
        self._check_system(system)
        for name, context in self._contexts.items():
            if system is None or name == system:
                context.clear_recorded()

    # -- helpers --------------------------------------------------------------------------------------------

    def _require_started(self) -> None:
        if not self._started:
            raise SandboxError("the sandbox is not started; call start() first")

    @staticmethod
    def _check_system(system: str | None) -> None:
        if system is not None and system not in SYSTEMS:
            raise ValueError(f"unknown system {system!r}; allowed systems: {', '.join(SYSTEMS)}")
