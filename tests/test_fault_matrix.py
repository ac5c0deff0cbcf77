"""Fault matrix: each API client against the sandbox over real HTTP on 127.0.0.1, one injected fault at a time.

The same matrix as `test_clients*.py`, end to end: one module-scoped `Sandbox`, faults and recordings cleared
around every test, and small `Limits` so each call is fast and bounded. Every test asserts behaviour, never
wall time: the exact failure class, the number of attempts (from the sandbox's own recordings where the
request arrived), the waits the client asked of its sleep function (an injected recorder, so no test really
sleeps through a backoff) and, for the `timeout` fault, that every attempt ended in a read timeout at the
configured `read_timeout`. The only clock is the `pytest.mark.timeout` hang guard, far above any expected
run time. Speed numbers belong in `bench/`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import pytest

from infracore_verify.clients.authentik import AuthentikClient
from infracore_verify.clients.cloudflare import CloudflareClient
from infracore_verify.clients.http import ApiClient, ApiResult, Limits
from infracore_verify.clients.infisical import LOGIN_PATH, InfisicalClient
from infracore_verify.clients.vaultwarden import TOKEN_PATH, VaultwardenClient
from infracore_verify.redact import MASK
from infracore_verify.sandbox import FaultSpec, RecordedRequest, Sandbox
from infracore_verify.smoke.probes import schema_problem

pytestmark = pytest.mark.timeout(30)

FAST = Limits(
    connect_timeout=2.0,
    read_timeout=1.0,
    max_attempts=3,
    retry_after_clamp=(0.05, 0.2),
    backoff_base=0.01,
    backoff_max=0.05,
    max_total_wait=1.0,
)
TIGHT_BUDGET = Limits(
    connect_timeout=2.0,
    read_timeout=1.0,
    max_attempts=5,
    retry_after_clamp=(0.05, 0.2),
    backoff_base=0.2,
    backoff_max=0.4,
    max_total_wait=0.25,
)
"""Backoff windows 0.2 then 0.4 s (equal jitter: 0.1-0.2 then 0.2-0.4): the second sleep always breaks the budget."""
HOLD = 10.0
"""How long a `timeout` fault holds a request: far beyond FAST.read_timeout.

FAST.read_timeout (1 s) is also what every unfaulted request of a case (a setup login, say) must beat: on a
loaded 2-core machine the sandbox once needed more than 0.3 s to answer a login, so 1 s is kept as the
smallest read timeout that is still a generous hang guard for a local answer (tens of milliseconds)."""
SECRET_NAMES: dict[str, tuple[str, ...]] = {
    "cloudflare": ("api_token", "api_email", "api_key"),
    "vaultwarden": ("client_secret",),
    "infisical": ("client_secret",),
    "authentik": ("api_token",),
}
"""The credentials per system that must never show in a recorded exchange or a description."""

Call = Callable[[], ApiResult]
_C = TypeVar("_C", bound=ApiClient)


# -- fixtures and helpers -----------------------------------------------------------------------------------


class Clients:
    """Builds clients for the sandbox's systems (its credentials, optionally overridden) and closes them all.

    Every client sleeps through `record_sleep`: it records the wait in `sleeps` and returns at once.
    """

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._open: list[ApiClient] = []
        self.sleeps: list[float] = []
        """Every wait any client built here asked for, in order."""

    def record_sleep(self, seconds: float) -> None:
        """Record a wait the client asked for, without sleeping."""
        self.sleeps.append(seconds)

    def _keep(self, client: _C) -> _C:
        self._open.append(client)
        return client

    def cloudflare(self, limits: Limits = FAST, **overrides: str) -> CloudflareClient:
        """Return a Cloudflare client; an override of "" drops that credential."""
        creds = {**self.sandbox.credentials["cloudflare"], **overrides}
        return self._keep(
            CloudflareClient(
                self.sandbox.base_urls["cloudflare"],
                api_token=creds["api_token"],
                api_email=creds["api_email"],
                api_key=creds["api_key"],
                account_id=creds["account_id"],
                limits=limits,
                sleep=self.record_sleep,
            )
        )

    def vaultwarden(self, limits: Limits = FAST, **overrides: str) -> VaultwardenClient:
        """Return a Vaultwarden client."""
        creds = {**self.sandbox.credentials["vaultwarden"], **overrides}
        return self._keep(
            VaultwardenClient(
                self.sandbox.base_urls["vaultwarden"],
                client_id=creds["client_id"],
                client_secret=creds["client_secret"],
                limits=limits,
                sleep=self.record_sleep,
            )
        )

    def infisical(self, limits: Limits = FAST, **overrides: str) -> InfisicalClient:
        """Return an Infisical client."""
        creds = {**self.sandbox.credentials["infisical"], **overrides}
        return self._keep(
            InfisicalClient(
                self.sandbox.base_urls["infisical"],
                client_id=creds["client_id"],
                client_secret=creds["client_secret"],
                limits=limits,
                sleep=self.record_sleep,
            )
        )

    def authentik(self, limits: Limits = FAST, **overrides: str) -> AuthentikClient:
        """Return an Authentik client."""
        creds = {**self.sandbox.credentials["authentik"], **overrides}
        return self._keep(
            AuthentikClient(
                self.sandbox.base_urls["authentik"],
                api_token=creds["api_token"],
                limits=limits,
                sleep=self.record_sleep,
            )
        )

    def close(self) -> None:
        """Close every client built so far."""
        for client in self._open:
            client.close()
        self._open.clear()


@pytest.fixture(scope="module")
def _module_sandbox() -> Iterator[Sandbox]:
    """Runs one sandbox (default seed) for the whole module; stopping it ends any request still held."""
    with Sandbox() as running:
        yield running


@pytest.fixture(autouse=True)
def _clean_sandbox(_module_sandbox: Sandbox) -> Iterator[None]:
    """Clears faults and recordings before and after each test (a cleared `down` fault restarts the server)."""
    _module_sandbox.clear_faults()
    _module_sandbox.clear_requests()
    yield
    _module_sandbox.clear_faults()
    _module_sandbox.clear_requests()


@pytest.fixture
def sb(_module_sandbox: Sandbox) -> Sandbox:
    """Returns the module's running sandbox, free of faults and recordings."""
    return _module_sandbox


@pytest.fixture
def clients(sb: Sandbox) -> Iterator[Clients]:
    """Returns a client builder for the sandbox; every client it built is closed after the test."""
    builder = Clients(sb)
    yield builder
    builder.close()


def arrived(sb: Sandbox, system: str, path: str, method: str | None = None) -> list[RecordedRequest]:
    """Return the requests the system received below `path` (relative to its base URL), optionally of one method."""
    return [
        r
        for r in sb.requests(system)
        if r.relative_path.startswith(path) and (method is None or r.method == method.upper())
    ]


def is_bearer(request: RecordedRequest) -> bool:
    """Return True when the request carried `Authorization: Bearer ...`."""
    return (request.header("Authorization") or "").startswith("Bearer ")


def assert_waits(clients: Clients, result: ApiResult, limits: Limits) -> None:
    """Assert the client asked its sleep function for exactly the result's waits, each one by the retry policy.

    A wait after an answer with Retry-After is that value clamped to `retry_after_clamp`; any other wait lies in
    its equal-jitter backoff window. Their sum stays within `max_total_wait`. The exchanges must be those of one
    request (a token renewal concatenates two), the n-th wait following the n-th exchange.
    """
    assert clients.sleeps == result.waits
    assert len(result.waits) == result.attempts - 1
    low, high = limits.retry_after_clamp
    for n, (wait, exchange) in enumerate(zip(result.waits, result.exchanges, strict=False), start=1):
        retry_after = exchange.response_headers.get("Retry-After")
        if retry_after is not None:
            assert wait == min(max(float(retry_after), low), high), (
                f"wait {n} = {wait:g}s after Retry-After {retry_after}"
            )
            continue
        window = min(limits.backoff_max, limits.backoff_base * 2 ** (n - 1))
        # 1e-9: random.uniform may land a rounding error past its upper bound.
        assert window / 2 - 1e-9 <= wait <= window + 1e-9, (
            f"wait {n} = {wait:.3f}s outside [{window / 2:g}, {window:g}]"
        )
    assert sum(result.waits) <= limits.max_total_wait


def assert_no_secret(sb: Sandbox, system: str, *texts: str) -> None:
    """Assert none of the system's secret credentials appears in any of the texts."""
    for name in SECRET_NAMES[system]:
        value = sb.credentials[system][name]
        for text in texts:
            assert value not in text, f"{system}.{name} leaked"


# -- the reads under test -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Read:
    """One client read: where the sandbox serves it, its response schema, and how to open it on a client."""

    id: str
    system: str
    path: str
    """Path below the system's base URL; faults are scoped to it so logins stay untouched."""
    schema: str | None
    drift_problem: str | None
    """What `schema_problem` reports for the sandbox's drifted body."""
    open: Callable[[Clients, Limits], Call]
    """Build the client (logged in already where the read needs a token) and return the call."""


def _cloudflare_zones(clients: Clients, limits: Limits) -> Call:
    client = clients.cloudflare(limits)
    return lambda: client.request("GET", "/zones")


def _vaultwarden_config(clients: Clients, limits: Limits) -> Call:
    return clients.vaultwarden(limits).config


def _vaultwarden_version(clients: Clients, limits: Limits) -> Call:
    return clients.vaultwarden(limits).version


def _vaultwarden_revision_date(clients: Clients, limits: Limits) -> Call:
    client = clients.vaultwarden(limits)
    client.login().raise_for_failure()
    return client.revision_date


def _infisical_status(clients: Clients, limits: Limits) -> Call:
    return clients.infisical(limits).status


def _list_secrets(client: InfisicalClient, sb: Sandbox) -> Call:
    """Return a listing of the seeded credentials folder (values hidden)."""
    project = sb.credentials["infisical"]["project_id"]
    environment, path = sb.seed.infisical_credentials_environment, sb.seed.infisical_credentials_path
    return lambda: client.list_secrets(project, environment, path)


def _infisical_secrets(clients: Clients, limits: Limits) -> Call:
    client = clients.infisical(limits)
    client.login().raise_for_failure()
    return _list_secrets(client, clients.sandbox)


def _authentik_version(clients: Clients, limits: Limits) -> Call:
    return clients.authentik(limits).version


def _authentik_me(clients: Clients, limits: Limits) -> Call:
    return clients.authentik(limits).me


CLOUDFLARE_ZONES = Read(
    "cloudflare-zones",
    "cloudflare",
    "/zones",
    "cloudflare.zones",
    "missing required key 'result_info'",
    _cloudflare_zones,
)
VAULTWARDEN_REVISION_DATE = Read(
    "vaultwarden-revision-date", "vaultwarden", "/api/accounts/revision-date", None, None, _vaultwarden_revision_date
)
INFISICAL_SECRETS = Read(
    "infisical-secrets",
    "infisical",
    "/api/v3/secrets/raw",
    "infisical.secrets-raw",
    "missing required key 'secrets'",
    _infisical_secrets,
)
AUTHENTIK_VERSION = Read(
    "authentik-version",
    "authentik",
    "/api/v3/admin/version/",
    "authentik.version",
    "missing required key 'version_current'",
    _authentik_version,
)
READS = [
    CLOUDFLARE_ZONES,
    Read(
        "vaultwarden-config",
        "vaultwarden",
        "/api/config",
        "vaultwarden.config",
        "missing required key 'version'",
        _vaultwarden_config,
    ),
    Read(
        "vaultwarden-version",
        "vaultwarden",
        "/api/version",
        "vaultwarden.version",
        "is not of type 'string'",
        _vaultwarden_version,
    ),
    VAULTWARDEN_REVISION_DATE,
    Read(
        "infisical-status",
        "infisical",
        "/api/status",
        "infisical.status",
        "missing required key 'message'",
        _infisical_status,
    ),
    INFISICAL_SECRETS,
    AUTHENTIK_VERSION,
    Read(
        "authentik-users-me",
        "authentik",
        "/api/v3/core/users/me/",
        "authentik.users-me",
        "$.user: missing required key 'username'",
        _authentik_me,
    ),
]
MATRIX_READS = [CLOUDFLARE_ZONES, VAULTWARDEN_REVISION_DATE, INFISICAL_SECRETS, AUTHENTIK_VERSION]
"""One authenticated, retried GET per system: the rows of the fault matrix."""
SCHEMA_READS = [read for read in READS if read.schema is not None]


# -- success and drift ------------------------------------------------------------------------------------


@pytest.mark.parametrize("read", READS, ids=[r.id for r in READS])
def test_read_succeeds_with_the_sandbox_credentials(sb: Sandbox, clients: Clients, read: Read) -> None:
    """Returns 200 in one attempt without waiting, matches its response schema, and records no credential."""
    call = read.open(clients, FAST)
    sb.clear_requests()

    result = call()

    assert (result.status, result.failure_class, result.attempts) == (200, None, 1)
    assert (result.waits, clients.sleeps) == ([], [])
    assert [r.relative_path for r in sb.requests(read.system)] == [read.path]
    if read.schema is not None:
        assert schema_problem(result.body, read.schema) is None
    assert_no_secret(sb, read.system, str(result.exchanges), result.describe())


@pytest.mark.parametrize("read", SCHEMA_READS, ids=[r.id for r in SCHEMA_READS])
def test_drifted_body_succeeds_but_the_schema_catches_it(sb: Sandbox, clients: Clients, read: Read) -> None:
    """Returns a 2xx JSON success for a drifted body, and `schema_problem` names what drifted."""
    assert read.schema is not None
    assert read.drift_problem is not None
    call = read.open(clients, FAST)
    sb.inject(FaultSpec(read.system, "drift", path=read.path))

    result = call()

    assert (result.status, result.failure_class, result.attempts) == (200, None, 1)
    assert (result.waits, clients.sleeps) == ([], [])
    problem = schema_problem(result.body, read.schema)
    assert problem is not None
    assert read.drift_problem in problem


# -- the fault matrix -------------------------------------------------------------------------------------


READ_TIMED_OUT = f"Read timed out. (read timeout={FAST.read_timeout})"
"""How requests words a read timeout at FAST.read_timeout: the error of every attempt under a `timeout` fault."""


@dataclass(frozen=True)
class Fault:
    """One injected fault and what a call under FAST limits must end with."""

    id: str
    kind: str
    arg: float | None
    failure_class: str
    attempts: int
    error: str | None = None
    """Text in the error of every exchange (each attempt got no response), or None when every attempt got one."""

    def spec(self, read: Read) -> FaultSpec:
        """Return the fault scoped to the read's path (`down` takes the whole server)."""
        path = None if self.kind == "down" else read.path
        return FaultSpec(read.system, self.kind, self.arg, path=path)


DOWN = Fault("down", "down", None, "network_error", 3, "ConnectionError: HTTPConnectionPool(")
"""Each connection is refused: urllib3 never opens one (its message is cut before the reason on long URLs)."""
RESET = Fault("reset", "reset", None, "network_error", 3, "ConnectionError: ('Connection aborted.'")
"""Each connection opens and is then cut by the server without a response."""
TIMEOUT = Fault("timeout", "timeout", HOLD, "timeout", 3, READ_TIMED_OUT)
"""Each attempt times out at FAST.read_timeout, long before the server would answer (HOLD)."""
FAULTS = [
    Fault("status-500", "status", 500, "api_error", 3),
    Fault("status-502", "status", 502, "api_error", 3),
    Fault("status-503", "status", 503, "api_error", 3),
    Fault("rate-limit-without-retry-after", "rate_limit", None, "rate_limited", 3),
    DOWN,
    RESET,
    TIMEOUT,
    Fault("malformed-json", "malformed_json", None, "parse_error", 1),
]


def assert_no_response(result: ApiResult, fault: Fault) -> None:
    """Assert every exchange of the result ended without a response, with the fault's error (when it has one)."""
    if fault.error is None:
        assert all(exchange.error is None for exchange in result.exchanges), result.describe()
        return
    assert result.status == 0
    assert result.exchanges
    for exchange in result.exchanges:
        assert exchange.status is None
        assert fault.error in (exchange.error or ""), exchange.error


@pytest.mark.parametrize("fault", FAULTS, ids=[f.id for f in FAULTS])
@pytest.mark.parametrize("read", MATRIX_READS, ids=[r.system for r in MATRIX_READS])
def test_fault_ends_in_its_class_within_bounded_attempts(
    sb: Sandbox, clients: Clients, read: Read, fault: Fault
) -> None:
    """Ends a GET under the fault with its failure class, after the expected attempts and backoff waits."""
    call = read.open(clients, FAST)
    sb.clear_requests()
    sb.inject(fault.spec(read))

    result = call()

    assert result.failure_class == fault.failure_class, result.describe()
    assert result.attempts == len(result.exchanges) == fault.attempts
    assert_waits(clients, result, FAST)
    assert_no_response(result, fault)
    if fault.kind == "status":
        assert result.status == fault.arg
    arrivals = sb.requests(read.system)
    if fault.kind == "down":
        assert arrivals == []
    else:
        assert [r.relative_path for r in arrivals] == [read.path] * fault.attempts
    if read.system == "cloudflare":
        # Only a refused token may fall back; 429, 5xx, network errors and timeouts keep the token.
        assert all(is_bearer(r) and r.header("X-Auth-Key") is None for r in arrivals)
        assert (result.mode, result.fallback_used) == ("token", False)


@pytest.mark.parametrize(("retry_after", "clamped"), [(0, 0.05), (1, 0.2)], ids=["retry-after-0", "retry-after-1"])
@pytest.mark.parametrize(
    "read", [CLOUDFLARE_ZONES, INFISICAL_SECRETS, AUTHENTIK_VERSION], ids=["cloudflare", "infisical", "authentik"]
)
def test_rate_limit_honours_retry_after_clamped_to_the_limits(
    sb: Sandbox, clients: Clients, read: Read, retry_after: int, clamped: float
) -> None:
    """Retries a 429 max_attempts times, sleeping Retry-After clamped to retry_after_clamp, and never falls back."""
    call = read.open(clients, FAST)
    sb.clear_requests()
    sb.inject(FaultSpec(read.system, "rate_limit", retry_after, path=read.path))

    result = call()

    assert (result.status, result.failure_class) == (429, "rate_limited")
    assert result.attempts == FAST.max_attempts
    assert result.waits == clients.sleeps == [clamped] * (FAST.max_attempts - 1)
    assert_waits(clients, result, FAST)
    assert [e.response_headers.get("Retry-After") for e in result.exchanges] == [str(retry_after)] * FAST.max_attempts
    arrivals = sb.requests(read.system)
    assert [r.relative_path for r in arrivals] == [read.path] * FAST.max_attempts
    if read.system == "cloudflare":
        assert all(is_bearer(r) and r.header("X-Auth-Key") is None for r in arrivals)
        assert (result.mode, result.fallback_used) == ("token", False)


def test_vaultwarden_rate_limit_has_no_retry_after_and_backs_off(sb: Sandbox, clients: Clients) -> None:
    """Backs off exponentially on Vaultwarden's 429, which never carries Retry-After (even when asked to)."""
    call = VAULTWARDEN_REVISION_DATE.open(clients, FAST)
    sb.clear_requests()
    sb.inject(FaultSpec("vaultwarden", "rate_limit", 1, path=VAULTWARDEN_REVISION_DATE.path))

    result = call()

    assert (result.status, result.failure_class, result.attempts) == (429, "rate_limited", FAST.max_attempts)
    assert all("Retry-After" not in e.response_headers for e in result.exchanges)
    assert len(result.waits) == FAST.max_attempts - 1
    assert_waits(clients, result, FAST)
    assert len(arrived(sb, "vaultwarden", VAULTWARDEN_REVISION_DATE.path)) == FAST.max_attempts


@pytest.mark.parametrize("read", MATRIX_READS, ids=[r.system for r in MATRIX_READS])
def test_rate_limit_retries_stop_when_the_wait_budget_would_be_exceeded(
    sb: Sandbox, clients: Clients, read: Read
) -> None:
    """Stops retrying a 429 without Retry-After before max_attempts once the next sleep would break max_total_wait."""
    call = read.open(clients, TIGHT_BUDGET)
    sb.clear_requests()
    sb.inject(FaultSpec(read.system, "rate_limit", path=read.path))

    result = call()

    assert (result.status, result.failure_class) == (429, "rate_limited")
    assert result.attempts == 2 < TIGHT_BUDGET.max_attempts
    assert len(result.waits) == 1
    assert_waits(clients, result, TIGHT_BUDGET)
    assert any("max_total_wait=0.25s" in w for w in result.warnings), result.warnings
    assert len(arrived(sb, read.system, read.path)) == 2


# -- Cloudflare: the read-only Global API Key fallback ---------------------------------------------------


@pytest.mark.parametrize(("kind", "status"), [("token_401", 401), ("token_403", 403)], ids=["token-401", "token-403"])
def test_cloudflare_get_falls_back_to_the_global_key_when_the_token_is_refused(
    sb: Sandbox, clients: Clients, kind: str, status: int
) -> None:
    """Repeats a GET once with X-Auth-Email/X-Auth-Key after the token is refused, and says so in the result."""
    client = clients.cloudflare()
    creds = sb.credentials["cloudflare"]
    sb.inject(FaultSpec("cloudflare", kind, path="/zones"))

    result = client.request("GET", "/zones")

    assert (result.status, result.failure_class) == (200, None)
    assert (result.mode, result.fallback_used, result.fallback_reason) == ("global", True, "token_invalid")
    assert result.attempts == 2
    assert [e.status for e in result.exchanges] == [status, 200]
    assert any("fell back to the Global API Key" in w for w in result.warnings)
    assert (result.waits, clients.sleeps) == ([], [])  # the fallback follows the refusal at once
    first, retry = sb.requests("cloudflare")
    assert first.header("Authorization") == f"Bearer {creds['api_token']}"
    assert first.header("X-Auth-Email") is None
    assert first.header("X-Auth-Key") is None
    assert retry.header("Authorization") is None
    assert (retry.header("X-Auth-Email"), retry.header("X-Auth-Key")) == (creds["api_email"], creds["api_key"])
    assert_no_secret(sb, "cloudflare", str(result.exchanges), result.describe())


@pytest.mark.parametrize(("kind", "status"), [("token_401", 401), ("token_403", 403)], ids=["token-401", "token-403"])
def test_cloudflare_post_never_falls_back(sb: Sandbox, clients: Clients, kind: str, status: int) -> None:
    """Reports a refused token on a POST as token_invalid after one Bearer request, without the Global API Key."""
    client = clients.cloudflare()
    sb.inject(FaultSpec("cloudflare", kind, path="/zones"))
    zone = {"name": "fault-matrix.example", "account": {"id": sb.credentials["cloudflare"]["account_id"]}}

    result = client.request("POST", "/zones", json=zone)

    assert (result.status, result.failure_class, result.attempts) == (status, "token_invalid", 1)
    assert (result.mode, result.fallback_used, result.fallback_reason) == ("token", False, None)
    assert any("mutations never fall back" in w for w in result.warnings)
    assert (result.waits, clients.sleeps) == ([], [])
    (only,) = sb.requests("cloudflare")
    assert only.method == "POST"
    assert is_bearer(only)
    assert only.header("X-Auth-Email") is None
    assert only.header("X-Auth-Key") is None


RATE_LIMIT_RETRY_AFTER_0 = Fault("rate-limit-retry-after-0", "rate_limit", 0, "rate_limited", 3)
"""Retried: each wait is Retry-After 0 clamped up to retry_after_clamp's floor."""
POST_FAULTS = [
    Fault("status-503", "status", 503, "api_error", 1),
    Fault("reset", "reset", None, "network_error", 1, RESET.error),
    Fault("timeout", "timeout", HOLD, "timeout", 1, TIMEOUT.error),
    RATE_LIMIT_RETRY_AFTER_0,
]


@pytest.mark.parametrize("fault", POST_FAULTS, ids=[f.id for f in POST_FAULTS])
def test_cloudflare_post_is_retried_only_on_429(sb: Sandbox, clients: Clients, fault: Fault) -> None:
    """Sends a POST once under 5xx, reset or timeout (not idempotent) and retries it only on 429."""
    client = clients.cloudflare()
    sb.inject(FaultSpec("cloudflare", fault.kind, fault.arg, path="/zones", method="POST"))

    result = client.request("POST", "/zones", json={"name": "fault-matrix.example"})

    assert result.failure_class == fault.failure_class, result.describe()
    assert result.attempts == fault.attempts
    assert result.waits == [FAST.retry_after_clamp[0]] * (fault.attempts - 1)
    assert_waits(clients, result, FAST)
    assert_no_response(result, fault)
    assert len(arrived(sb, "cloudflare", "/zones", "POST")) == fault.attempts
    assert not result.fallback_used


# -- wrong credentials --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WrongCredentials:
    """A client built with a bad credential, the call, and where and how the system refuses it."""

    id: str
    system: str
    open: Callable[[Clients], Call]
    status: int
    method: str
    path: str
    requests: int


AUTH_CASES = [
    WrongCredentials(
        "cloudflare-wrong-token",
        "cloudflare",
        lambda c: (
            lambda: c.cloudflare(api_token="fault-matrix-wrong-token-0000", api_email="", api_key="").request(
                "GET", "/zones"
            )
        ),
        403,
        "GET",
        "/zones",
        1,
    ),
    WrongCredentials(
        "cloudflare-wrong-token-and-global-key",
        "cloudflare",
        lambda c: (
            lambda: c.cloudflare(
                api_token="fault-matrix-wrong-token-0000",
                api_email="fault-matrix-nobody@example.invalid",
                api_key="fault-matrix-wrong-key-0000",
            ).request("GET", "/zones")
        ),
        403,
        "GET",
        "/zones",
        2,
    ),
    WrongCredentials(
        "vaultwarden-wrong-secret",
        "vaultwarden",
        lambda c: c.vaultwarden(client_secret="fault-matrix-wrong-secret-0000").revision_date,
        400,
        "POST",
        TOKEN_PATH,
        1,
    ),
    WrongCredentials(
        "vaultwarden-malformed-client-id",
        "vaultwarden",
        lambda c: c.vaultwarden(client_id="fault-matrix-not-a-user-id").revision_date,
        400,
        "POST",
        TOKEN_PATH,
        1,
    ),
    WrongCredentials(
        "infisical-wrong-secret",
        "infisical",
        lambda c: (
            lambda: c.infisical(client_secret="fault-matrix-wrong-secret-0000").list_secrets(
                c.sandbox.credentials["infisical"]["project_id"], "prod"
            )
        ),
        401,
        "POST",
        LOGIN_PATH,
        1,
    ),
    WrongCredentials(
        "authentik-wrong-token",
        "authentik",
        lambda c: c.authentik(api_token="fault-matrix-wrong-token-0000").version,
        403,
        "GET",
        AUTHENTIK_VERSION.path,
        1,
    ),
]


@pytest.mark.parametrize("case", AUTH_CASES, ids=[c.id for c in AUTH_CASES])
def test_wrong_credentials_are_token_invalid(sb: Sandbox, clients: Clients, case: WrongCredentials) -> None:
    """Classifies the system's refusal of a bad credential (Infisical 401, Authentik 403, Vaultwarden 400) as token_invalid."""
    call = case.open(clients)

    result = call()

    assert (result.status, result.failure_class) == (case.status, "token_invalid"), result.describe()
    assert (result.method, result.path) == (case.method, case.path)
    assert result.attempts == case.requests
    assert (result.waits, clients.sleeps) == ([], [])  # a refused credential is never retried after a wait
    assert [(r.method, r.relative_path) for r in sb.requests(case.system)] == [(case.method, case.path)] * case.requests
    assert "fault-matrix-" not in str(result.exchanges) + result.describe()


# -- faults on the login --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginRead:
    """An authenticated read on a fresh client, so its first request is the login (a POST)."""

    system: str
    login_path: str
    read_path: str
    open: Callable[[Clients], Call]


def _fresh_infisical_secrets(clients: Clients) -> Call:
    return _list_secrets(clients.infisical(), clients.sandbox)


LOGIN_READS = [
    LoginRead("vaultwarden", TOKEN_PATH, VAULTWARDEN_REVISION_DATE.path, lambda c: c.vaultwarden().revision_date),
    LoginRead("infisical", LOGIN_PATH, INFISICAL_SECRETS.path, _fresh_infisical_secrets),
]
LOGIN_FAULTS = [
    Fault("status-503", "status", 503, "api_error", 1),
    RATE_LIMIT_RETRY_AFTER_0,
    Fault("reset", "reset", None, "network_error", 1, RESET.error),
    Fault("timeout", "timeout", HOLD, "timeout", 1, TIMEOUT.error),
    Fault("malformed-json", "malformed_json", None, "parse_error", 1),
    Fault("drift", "drift", None, "parse_error", 1),
]


@pytest.mark.parametrize("fault", LOGIN_FAULTS, ids=[f.id for f in LOGIN_FAULTS])
@pytest.mark.parametrize("login", LOGIN_READS, ids=[r.system for r in LOGIN_READS])
def test_failed_login_is_returned_and_the_read_is_never_sent(
    sb: Sandbox, clients: Clients, login: LoginRead, fault: Fault
) -> None:
    """Returns the failed login (POST, retried only on 429; a drifted token body is parse_error) and sends no read."""
    call = login.open(clients)
    sb.inject(FaultSpec(login.system, fault.kind, fault.arg, path=login.login_path))

    result = call()

    assert result.failure_class == fault.failure_class, result.describe()
    assert (result.method, result.path) == ("POST", login.login_path)
    assert result.attempts == fault.attempts
    assert_waits(clients, result, FAST)  # Vaultwarden's 429 has no Retry-After: it backs off instead
    assert_no_response(result, fault)
    assert len(arrived(sb, login.system, login.login_path, "POST")) == fault.attempts
    assert arrived(sb, login.system, login.read_path) == []
    assert_no_secret(sb, login.system, str(result.exchanges), result.describe(), str(result.body))


# -- tokens: reuse and renewal ------------------------------------------------------------------------------


def test_infisical_logs_in_once_and_reuses_the_token(sb: Sandbox, clients: Clients) -> None:
    """Logs in once for several listings, sending the same Bearer token each time."""
    client = clients.infisical()
    call = _list_secrets(client, sb)

    results = [call() for _ in range(3)]

    assert [r.failure_class for r in results] == [None, None, None]
    assert [r.attempts for r in results] == [1, 1, 1]
    assert clients.sleeps == []
    assert client.logins == 1
    assert len(arrived(sb, "infisical", LOGIN_PATH, "POST")) == 1
    listings = arrived(sb, "infisical", INFISICAL_SECRETS.path, "GET")
    assert len(listings) == 3
    assert len({r.header("Authorization") for r in listings}) == 1
    assert all(is_bearer(r) for r in listings)


@pytest.mark.parametrize(
    ("read", "login_path", "refused"),
    [(INFISICAL_SECRETS, LOGIN_PATH, 403), (VAULTWARDEN_REVISION_DATE, TOKEN_PATH, 401)],
    ids=["infisical", "vaultwarden"],
)
def test_expired_token_is_renewed_within_the_call(
    sb: Sandbox, clients: Clients, read: Read, login_path: str, refused: int
) -> None:
    """Logs in again and repeats the call once when the server rejects a cached token (expired or revoked early).

    Both attempts stay in the result's exchanges, and a warning says what happened.
    """
    call = read.open(clients, FAST)  # logs in once
    sb.expire_tokens(read.system)

    renewed = call()

    assert (renewed.status, renewed.failure_class, renewed.attempts) == (200, None, 2)
    assert renewed.exchanges[0].status == refused
    assert any("logged in again" in w for w in renewed.warnings)
    assert (renewed.waits, clients.sleeps) == ([], [])  # the renewal and the repeat follow the refusal at once
    logins = arrived(sb, read.system, login_path, "POST")
    assert len(logins) == 2
    reads = arrived(sb, read.system, read.path, "GET")
    assert len(reads) == 2
    assert reads[0].header("Authorization") != reads[1].header("Authorization")
    assert sb.requests(read.system)[-2].relative_path == login_path  # the renewal came right before the retry read


def test_fresh_token_rejected_is_not_retried(sb: Sandbox, clients: Clients) -> None:
    """Does not loop when even a freshly issued token is refused: one login, one read, token_invalid."""
    client = clients.infisical()
    sb.inject(FaultSpec("infisical", "status", 403, path=INFISICAL_SECRETS.path))
    result = client.list_secrets(sb.credentials["infisical"]["project_id"], "prod")
    assert (result.status, result.attempts) == (403, 1)
    assert (result.waits, clients.sleeps) == ([], [])
    assert len(arrived(sb, "infisical", LOGIN_PATH, "POST")) == 1
    assert len(arrived(sb, "infisical", INFISICAL_SECRETS.path, "GET")) == 1


# -- Authentik: the echoed token --------------------------------------------------------------------------


def test_authentik_system_never_exposes_the_echoed_token(sb: Sandbox, clients: Clients) -> None:
    """Masks the Bearer token that /admin/system/ echoes, in the recorded exchange and the returned body."""
    token = sb.credentials["authentik"]["api_token"]
    client = clients.authentik()

    result = client.system()

    assert (result.status, result.failure_class) == (200, None)
    assert (result.attempts, clients.sleeps) == (1, [])
    (wire,) = sb.requests("authentik")
    assert wire.header("Authorization") == f"Bearer {token}"  # the token did travel, and came back echoed
    assert result.body["http_headers"]["HTTP_AUTHORIZATION"] == MASK
    (exchange,) = result.exchanges
    assert exchange.request_headers["Authorization"] == MASK
    assert token not in repr(exchange)
    assert token not in str(result.body)
    assert token not in result.describe()
    assert MASK in str(result.exchanges)
