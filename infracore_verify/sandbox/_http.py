"""HTTP plumbing shared by the four emulations: replies, request recording and fault application.

Each system is a werkzeug WSGI app (`EmulatedSystem`), served on 127.0.0.1 by `_server.SystemServer`.
"""

from __future__ import annotations

import base64
import json
import secrets
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qs
from wsgiref.types import StartResponse, WSGIEnvironment

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, RequestRedirect, Rule
from werkzeug.wrappers import Request, Response

from infracore_verify.sandbox._server import LOG, RAW_HEADERS_KEY, RESET_KEY
from infracore_verify.sandbox.faults import FaultBoard, FaultSpec
from infracore_verify.sandbox.seed import SandboxSeed

SANDBOX_HEADER = "X-Infracore-Sandbox"
MAX_RECORDED = 10_000
"""Recorded requests kept per system; older ones are dropped so a long run stays bounded."""
MAX_BODY_BYTES = 1 << 20


class _AbortConnection(ConnectionResetError):
    """Raised inside the app to drop the connection without a response (werkzeug treats it as a dropped client)."""


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the sandbox received it: method, path, query string, raw headers and body."""

    system: str
    method: str
    path: str
    """The decoded request path, including the system's base path (Cloudflare: /client/v4/...)."""
    query_string: str
    """The raw query string, without the '?'."""
    headers: tuple[tuple[str, str], ...]
    """Header lines in the order and spelling received; repeated headers stay separate."""
    body: bytes
    client: tuple[str, int]
    received_at: float
    relative_path: str
    """The path below the system's base URL (what FaultSpec.path matches)."""

    def header(self, name: str) -> str | None:
        """Return the first value of a header (case-insensitive), or None."""
        values = self.header_values(name)
        return values[0] if values else None

    def header_values(self, name: str) -> list[str]:
        """Return every value of a header (case-insensitive), in the order received."""
        return [value for key, value in self.headers if key.lower() == name.lower()]

    @property
    def query(self) -> dict[str, list[str]]:
        """Return the parsed query string (blank values kept)."""
        return parse_qs(self.query_string, keep_blank_values=True)


@dataclass
class Reply:
    """What an endpoint answers, before it becomes a werkzeug Response (faults may still rewrite it)."""

    status: int
    payload: Any = None
    """The JSON document, when `is_json`."""
    data: bytes = b""
    content_type: str | None = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    is_json: bool = True
    endpoint: str = ""

    @classmethod
    def json(
        cls, status: int, payload: Any, headers: Iterable[tuple[str, str]] = (), content_type: str = "application/json"
    ) -> Reply:
        """Return a JSON reply."""
        return cls(status, payload, content_type=content_type, headers=list(headers))

    @classmethod
    def raw(cls, status: int, data: bytes, content_type: str | None, headers: Iterable[tuple[str, str]] = ()) -> Reply:
        """Return a reply with a literal body (HTML, empty, or deliberately broken JSON)."""
        return cls(status, None, data, content_type, list(headers), is_json=False)

    def body_bytes(self) -> bytes:
        """Return the body as sent on the wire."""
        if self.is_json:
            return json.dumps(self.payload, separators=(",", ":")).encode()
        return self.data

    def to_response(self) -> Response:
        """Return the werkzeug Response, marked as coming from the sandbox."""
        response = Response(self.body_bytes(), status=self.status)
        if self.content_type is None:
            del response.headers["Content-Type"]
        else:
            response.headers["Content-Type"] = self.content_type
        for key, value in self.headers:
            response.headers.add(key, value)
        response.headers[SANDBOX_HEADER] = "1"
        return response


@dataclass(frozen=True)
class Route:
    """One endpoint: werkzeug rule string, endpoint name (our schema name where there is one), handler."""

    rule: str
    endpoint: str
    handler: Callable[..., Reply]
    methods: tuple[str, ...] = ("GET",)


class SystemContext:
    """State one emulated system shares with the sandbox: seed, credentials, faults, health, recordings."""

    def __init__(
        self,
        system: str,
        seed: SandboxSeed,
        credentials: dict[str, dict[str, str]],
        faults: FaultBoard,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.system = system
        self.seed = seed
        self.credentials = credentials
        self.faults = faults
        self.clock = clock
        """Monotonic seconds that access-token lifetimes are measured on."""
        self.healthy = True
        self.control_token = secrets.token_urlsafe(24)
        """What a control request must carry in `CONTROL_HEADER` (the Sandbox sets one token for all systems)."""
        self.stopping = threading.Event()
        """Set when the server stops; waits in handlers (latency, timeout) end early and the request aborts."""
        self._recorded: list[RecordedRequest] = []
        self._lock = threading.Lock()

    @property
    def own(self) -> dict[str, str]:
        """Return this system's own credentials."""
        return self.credentials[self.system]

    def record(self, request: RecordedRequest) -> None:
        """Keep a received request (bounded)."""
        with self._lock:
            self._recorded.append(request)
            if len(self._recorded) > MAX_RECORDED:
                del self._recorded[: len(self._recorded) - MAX_RECORDED]

    def recorded(self) -> list[RecordedRequest]:
        """Return a copy of the recorded requests, oldest first."""
        with self._lock:
            return list(self._recorded)

    def clear_recorded(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._recorded.clear()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; return True when the server is stopping (the caller must abort)."""
        return self.stopping.wait(max(0.0, seconds))


CONTROL_PATH = "/__sandbox__/control"
"""Sandbox-only control endpoint on every system's server (127.0.0.1): POST {healthy, clear_faults}.

Only for the suite's own callers: a request must carry the sandbox's per-run random token in
`CONTROL_HEADER`, name the server's own address as its Host (a page that rebinds a DNS name to 127.0.0.1
cannot), send `Content-Type: application/json` (a cross-origin form or text/plain post cannot) and no
foreign Origin."""
CONTROL_HEADER = "X-Infracore-Sandbox-Control"
"""Request header that carries the sandbox's control token (`Sandbox.control_token`)."""


class EmulatedSystem:
    """Base WSGI app of one system: records, applies faults, routes, and renders the system's error shapes."""

    name: ClassVar[str]
    base_path: ClassVar[str] = ""
    strict_slashes: ClassVar[bool] = False
    json_content_type: ClassVar[str] = "application/json"

    def __init__(self, context: SystemContext) -> None:
        self.ctx = context
        routes = self.routes()
        self._handlers = {route.endpoint: route.handler for route in routes}
        self.url_map = Map(
            [Rule(r.rule, endpoint=r.endpoint, methods=list(r.methods)) for r in routes],
            strict_slashes=self.strict_slashes,
            merge_slashes=False,
        )

    # -- per-system hooks -------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        """Return the endpoints this system serves."""
        raise NotImplementedError

    def error(self, request: Request, status: int, message: str | None = None) -> Reply:
        """Return the system's error body for `status` (used by `status` faults and internal errors)."""
        raise NotImplementedError

    def rate_limited(self, request: Request, retry_after: int | None) -> Reply:
        """Return the system's 429."""
        raise NotImplementedError

    def not_found(self, request: Request) -> Reply:
        """Return the system's answer to an unknown route."""
        return self.error(request, 404)

    def method_not_allowed(self, request: Request, allowed: Iterable[str]) -> Reply:
        """Return the system's answer to a known route with the wrong method."""
        reply = self.error(request, 405)
        reply.headers.append(("Allow", ", ".join(sorted(allowed))))
        return reply

    def token_rejected(self, request: Request, status: int) -> Reply:
        """Return the answer to a token fault (Cloudflare only; FaultSpec refuses it elsewhere)."""
        return self.error(request, status)

    def drift(self, endpoint: str, payload: Any) -> Any:
        """Return `payload` changed so it no longer matches the documented schema of `endpoint`."""
        return _generic_drift(payload)

    # -- plumbing ---------------------------------------------------------------------------------------

    def json(self, status: int, payload: Any, headers: Iterable[tuple[str, str]] = ()) -> Reply:
        """Return a JSON reply with this system's content type."""
        return Reply.json(status, payload, headers, self.json_content_type)

    def relative_path(self, path: str) -> str:
        """Return the path below the system's base URL."""
        if self.base_path and (path == self.base_path or path.startswith(self.base_path + "/")):
            return path[len(self.base_path) :] or "/"
        return path

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        request.max_content_length = MAX_BODY_BYTES
        if request.path == CONTROL_PATH:
            return self._control(request).to_response()(environ, start_response)
        too_large = False
        try:
            body = request.get_data(cache=True)
        except HTTPException:
            body, too_large = b"", True
        relative = self.relative_path(request.path)
        self.ctx.record(
            RecordedRequest(
                system=self.name,
                method=request.method,
                path=request.path,
                query_string=request.query_string.decode("latin-1"),
                headers=environ.get(RAW_HEADERS_KEY) or tuple(request.headers.items()),
                body=body,
                client=(str(environ.get("REMOTE_ADDR", "")), int(environ.get("REMOTE_PORT") or 0)),
                received_at=time.time(),
                relative_path=relative,
            )
        )
        bearer = request.headers.get("Authorization", "").startswith("Bearer ")
        delay, fault = self.ctx.faults.take(self.name, request.method, relative, request.path, bearer=bearer)
        if delay and self.ctx.wait(delay):
            self._abort(environ)
        if too_large:
            reply = self.error(request, 413)
        else:
            try:
                reply = self._apply(request, environ, fault)
            except _AbortConnection:
                raise
            except Exception as error:
                # A bug in the emulation still answers in the system's shape and with the sandbox header.
                LOG.exception("sandbox %s failed on %s %s", self.name, request.method, request.path)
                reply = self.error(request, 500, f"sandbox internal error: {type(error).__name__}")
        return reply.to_response()(environ, start_response)

    def _control(self, request: Request) -> Reply:
        """Let an out-of-process stand-in (a fake `docker compose restart`) switch health back and clear faults."""
        if request.method != "POST":
            return Reply.json(405, {"error": f"POST {CONTROL_PATH} with {{healthy: bool, clear_faults: bool}}"})
        refused = self._control_refusal(request)
        if refused is not None:
            return refused
        try:
            data = json.loads(request.get_data(cache=True) or b"{}")
        except ValueError:
            return Reply.json(400, {"error": "the body is not JSON"})
        if not isinstance(data, dict):
            return Reply.json(400, {"error": "the body must be a JSON object"})
        if isinstance(data.get("healthy"), bool):
            self.ctx.healthy = data["healthy"]
        if data.get("clear_faults") is True:
            self.ctx.faults.clear(self.name)
        return Reply.json(200, {"system": self.name, "healthy": self.ctx.healthy})

    def _control_refusal(self, request: Request) -> Reply | None:
        """Return the refusal of a control request that is not the suite's own (None when it is)."""
        own = f"{request.environ.get('SERVER_NAME', '')}:{request.environ.get('SERVER_PORT', '')}"
        if request.headers.get("Host", "") != own:
            return Reply.json(403, {"error": f"the Host header must be this sandbox's own address {own}"})
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"http://{own}":
            return Reply.json(403, {"error": "cross-origin control requests are refused"})
        token = request.headers.get(CONTROL_HEADER, "")
        if not secrets.compare_digest(token.encode(), self.ctx.control_token.encode()):
            return Reply.json(403, {"error": f"missing or wrong {CONTROL_HEADER} (the sandbox's control token)"})
        if request.mimetype != "application/json":
            return Reply.json(415, {"error": "the body must be Content-Type: application/json"})
        return None

    def _apply(self, request: Request, environ: WSGIEnvironment, fault: FaultSpec | None) -> Reply:
        if fault is None:
            return self.dispatch(request)
        kind = fault.kind
        if kind == "reset":
            self._abort(environ)
        if kind == "timeout":
            if self.ctx.wait(fault.hold_seconds):
                self._abort(environ)
            return self.dispatch(request)
        if kind == "rate_limit":
            return self.rate_limited(request, None if fault.arg is None else int(fault.arg))
        if kind == "status":
            return self.error(request, int(fault.arg or 500))
        if kind in ("token_401", "token_403"):
            return self.token_rejected(request, 401 if kind == "token_401" else 403)
        normal = self.dispatch(request)
        if kind == "malformed_json":
            return Reply.raw(200, _truncated(normal.body_bytes()), "application/json")
        if kind == "drift" and 200 <= normal.status < 300 and normal.is_json:
            return self.json(200, self.drift(normal.endpoint, normal.payload), normal.headers)
        return normal

    def dispatch(self, request: Request) -> Reply:
        """Route the request to its endpoint handler and return the handler's reply."""
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, values = adapter.match()
        except RequestRedirect as redirect:
            return Reply.raw(redirect.code, b"", None, [("Location", redirect.new_url)])
        except MethodNotAllowed as error:
            return self.method_not_allowed(request, error.valid_methods or ())
        except NotFound:
            return self.not_found(request)
        reply = self._handlers[str(endpoint)](request, **values)
        reply.endpoint = str(endpoint)
        return reply

    @staticmethod
    def _abort(environ: WSGIEnvironment) -> None:
        sock = environ.get("werkzeug.socket")
        if isinstance(sock, socket.socket):
            # SO_LINGER 0: the close that follows sends RST instead of FIN.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        environ[RESET_KEY] = True
        raise _AbortConnection("connection aborted by the sandbox")


def _truncated(body: bytes) -> bytes:
    cut = body[: max(1, len(body) // 2)]
    try:
        json.loads(cut)
    except ValueError:
        return cut
    return b'{"truncated": [1, 2, '


def _generic_drift(payload: Any) -> Any:
    if isinstance(payload, dict) and payload:
        first = next(iter(payload))
        return {k: v for k, v in payload.items() if k != first}
    return {"unexpected": payload}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def fake_jwt(claims: dict[str, Any]) -> str:
    """Return a JWT-shaped token with an obviously fake signature (never verifiable, never real)."""
    header = _b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{header}.{payload}.{_b64(b'sandbox-signature-' + secrets.token_bytes(16))}"
