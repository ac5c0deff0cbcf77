"""The werkzeug server of one emulated system (`SystemServer`) and its request handler's bookkeeping.

Each system's app (`_http.EmulatedSystem`) is served by `werkzeug.serving.make_server` on 127.0.0.1 in a daemon
thread. The request handler subclass only adds bookkeeping (tracking live connections so a stop is bounded and
complete, keeping the raw header list for recording, turning an aborted request into a TCP reset); all HTTP parsing
is werkzeug's.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from typing import TYPE_CHECKING, Any, ClassVar
from wsgiref.types import WSGIEnvironment

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from infracore_verify.sandbox.seed import SandboxError

if TYPE_CHECKING:
    from infracore_verify.sandbox._http import EmulatedSystem

LOG = logging.getLogger("infracore_verify.sandbox")
LOOPBACK = "127.0.0.1"
RAW_HEADERS_KEY = "infracore.sandbox.raw_headers"
"""WSGI environ key: the request's header lines as received (set by the handler, read by the app)."""
RESET_KEY = "infracore.sandbox.reset"
"""WSGI environ key: set by the app when it aborts a request, so the handler resets the connection."""


class _Tracker:
    """Live request handlers of one server, so a stop can cut their connections and join their threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.live: dict[int, tuple[threading.Thread, socket.socket]] = {}


class _SandboxRequestHandler(WSGIRequestHandler):
    """werkzeug's handler plus bookkeeping: connection tracking, raw header capture, reset on abort."""

    # Declared here so werkzeug does not set HTTP/1.1 on the shared WSGIRequestHandler class.
    protocol_version = "HTTP/1.1"
    tracker: ClassVar[_Tracker]
    _reset = False

    def setup(self) -> None:
        super().setup()
        with self.tracker.lock:
            self.tracker.live[id(self)] = (threading.current_thread(), self.connection)

    def make_environ(self) -> WSGIEnvironment:
        environ = super().make_environ()
        environ[RAW_HEADERS_KEY] = tuple((str(k), str(v)) for k, v in self.headers.items())
        return environ

    def connection_dropped(self, error: BaseException, environ: WSGIEnvironment | None = None) -> None:
        self.close_connection = True
        if environ is not None and environ.get(RESET_KEY):
            self._reset = True

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self._reset:
                # Closing here (linger 0) sends the RST before socketserver's shutdown(SHUT_WR) could send a FIN.
                self.connection.close()
            with self.tracker.lock:
                self.tracker.live.pop(id(self), None)

    def log(self, type: str, message: str, *args: Any) -> None:
        LOG.debug("%s %s", type, message % args if args else message)


class SystemServer:
    """One system's werkzeug server on 127.0.0.1: start on an ephemeral port, stop, restart on the same port."""

    def __init__(self, app: EmulatedSystem) -> None:
        self.app = app
        self.port: int | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._tracker = _Tracker()
        self._handler = type("SandboxHandler", (_SandboxRequestHandler,), {"tracker": self._tracker})

    @property
    def running(self) -> bool:
        """Return True while the server accepts connections."""
        return self._server is not None

    @property
    def bound_address(self) -> tuple[str, int] | None:
        """Return the (host, port) the listening socket is bound to, or None while stopped."""
        if self._server is None:
            return None
        host, port = self._server.socket.getsockname()[:2]
        return str(host), int(port)

    def start(self, rebind_timeout: float = 3.0) -> None:
        """Bind (port 0 the first time, the same port afterwards) and serve in a daemon thread."""
        if self._server is not None:
            return
        self.app.ctx.stopping = threading.Event()
        port = self.port or 0
        if port:
            _wait_until_bindable(port, rebind_timeout, self.app.name)
        try:
            server = make_server(LOOPBACK, port, self.app, threaded=True, request_handler=self._handler)
        except (OSError, SystemExit) as error:
            # werkzeug exits (SystemExit) when the port is taken.
            raise SandboxError(f"{self.app.name}: cannot listen on {LOOPBACK}:{port}: {error}") from None
        self._server = server
        self.port = server.port
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"sandbox-{self.app.name}-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> list[str]:
        """Stop serving, cut open connections, join every thread; return the names of threads still alive."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return []
        deadline = time.monotonic() + timeout
        self.app.ctx.stopping.set()
        server.shutdown()
        server.server_close()
        self._server = self._thread = None
        thread.join(max(0.0, deadline - time.monotonic()))
        leftovers: list[threading.Thread] = [thread] if thread.is_alive() else []
        while True:
            with self._tracker.lock:
                live = list(self._tracker.live.values())
            if not live or time.monotonic() >= deadline:
                break
            for worker, conn in live:
                with contextlib.suppress(OSError):  # already closed by its handler
                    conn.shutdown(socket.SHUT_RDWR)
                worker.join(max(0.0, min(0.5, deadline - time.monotonic())))
        with self._tracker.lock:
            leftovers += [worker for worker, _ in self._tracker.live.values() if worker.is_alive()]
        return [t.name for t in leftovers]


def _wait_until_bindable(port: int, timeout: float, system: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
            return
        except OSError as error:
            if time.monotonic() >= deadline:
                raise SandboxError(
                    f"{system}: cannot restart on {LOOPBACK}:{port}: {error.strerror or error}; "
                    "another process took the port while the system was down"
                ) from None
            time.sleep(0.05)
        finally:
            probe.close()
