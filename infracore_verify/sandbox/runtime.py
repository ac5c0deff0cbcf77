"""The sandbox's own container runtime: recovery in the sandbox environment restarts emulated systems in-process.

In the sandbox environment a `docker_compose_restart` action never runs docker (nor anything else outside
the suite): its stack names a sandbox system (vaultwarden, infisical, authentik, cloudflare), and a restart
does what restarting that system's container would do:

- the system's server stops (connections are refused) and starts again on the same port;
- the unhealthy state injected with `--sandbox-unhealthy` (`Sandbox.set_healthy(system, False)`) is cleared.

Faults injected with `--sandbox-fault` are not cleared: they stand for the network and the world around the
system, which a restart does not fix (a drill whose restart must not help injects one). A system stopped by
a `down` fault is started again, as a restarted container would be.

Errors: a stack that is not a sandbox system raises ValueError naming the systems.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

from infracore_verify.sandbox.faults import SYSTEMS


class _Restartable(Protocol):
    """The part of `Sandbox` the runtime uses."""

    def down(self, system: str) -> None: ...

    def up(self, system: str) -> None: ...

    def set_healthy(self, system: str, healthy: bool = True) -> None: ...


class SandboxRuntime:
    """Restarts sandbox systems in-process, in place of a container runtime; records every restart."""

    name = "sandbox runtime"

    def __init__(self, sandbox: _Restartable) -> None:
        """Act on `sandbox` (a started `Sandbox`)."""
        self._sandbox = sandbox
        self._lock = threading.Lock()
        self.restarts: list[str] = []
        """The systems restarted so far, in order."""

    def system(self, stack: str) -> str:
        """Return the sandbox system a stack stands for; raise ValueError when there is none."""
        if stack not in SYSTEMS:
            raise ValueError(
                f"the sandbox has no stack {stack!r}: in the sandbox environment a stack is one of the emulated "
                f"systems ({', '.join(SYSTEMS)})"
            )
        return stack

    def describe(self, stack: str, services: Sequence[str]) -> str:
        """Return what a restart of the stack does (in-process; nothing outside the suite is touched)."""
        system = self.system(stack)
        which = f" (services {', '.join(services)})" if services else ""
        return f"sandbox runtime: restart {system}{which} in-process; no container runtime is used"

    def restart(self, stack: str, services: Sequence[str]) -> str:
        """Stop the system's server, clear its injected unhealthy state and start it again on the same port."""
        system = self.system(stack)
        with self._lock:
            self._sandbox.down(system)
            self._sandbox.set_healthy(system, True)
            self._sandbox.up(system)
            self.restarts.append(system)
        return f"{system} restarted (server stopped and started on its port; unhealthy state cleared)"
