"""What a smoke probe works with: `ProbeContext`, the schema checks, `Slo`, `ProbeOutcome` and the probe registry.

A probe is a plain function `probe(ctx) -> None` registered with `@probe("<implementation key>")`; registering a
key twice raises. The implementations live in `probes_<system>.py`; `smoke/probes.py` imports them all and runs
them (`run_probe`).

SLO (`Slo`, from infra.core.slo.yaml): latency is judged per call, and a probe by its slowest call, so a probe
that makes many calls (DNS records of every zone, the drift capture) is not failed for their sum. Every probe
also has an overall deadline (`budgets.probe_deadline_ms`): past it, the next call ends the probe as `timeout`,
and a probe that finishes after it fails as `timeout` too.

Exceptions:

    ProbeFailure        a probe saw something wrong: carries the failure class and the message
    ProbeSetupError     the probe could not start (a credential or setting is missing); class setup_error
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match

from infracore_verify.clients.http import ApiResult, Exchange, PagedResult
from infracore_verify.contracts.model import mapping
from infracore_verify.contracts.sets import BUNDLED_CONTRACTS
from infracore_verify.contracts.verdict import Verdict
from infracore_verify.redact import REDACTOR

API_SCHEMAS = BUNDLED_CONTRACTS / "schemas" / "api"


class ProbeFailure(Exception):
    """A probe saw something wrong: `failure_class` says what kind, the message says what and why."""

    def __init__(self, failure_class: str, message: str) -> None:
        super().__init__(message)
        self.failure_class = failure_class


class ProbeSetupError(Exception):
    """The probe could not start: a credential or a setting is missing (never skipped silently)."""


DEFAULT_PROBE_DEADLINE_MS = 120_000
"""A probe's overall deadline when infra.core.slo.yaml sets no `budgets.probe_deadline_ms`."""


@dataclass(frozen=True)
class Slo:
    """Latency thresholds per call and the overall deadline of one probe, from infra.core.slo.yaml, in seconds."""

    warn: float = 3.0
    incident: float = 7.0
    deadline: float = DEFAULT_PROBE_DEADLINE_MS / 1000

    @classmethod
    def from_data(cls, data: Any) -> Slo:
        """Read `budgets.latency_warn_ms`, `latency_incident_ms` and `probe_deadline_ms` (3000 / 7000 / 120000)."""
        budgets = mapping(mapping(data).get("budgets"))
        return cls(
            float(budgets.get("latency_warn_ms", 3000)) / 1000,
            float(budgets.get("latency_incident_ms", 7000)) / 1000,
            float(budgets.get("probe_deadline_ms", DEFAULT_PROBE_DEADLINE_MS)) / 1000,
        )

    def judge_calls(self, exchanges: Iterable[Exchange]) -> tuple[str | None, list[str]]:
        """Judge each call's latency; return (the incident message of the slowest call, or None; warnings).

        A call is one HTTP exchange: retries are calls of their own and the waits between them are no latency.
        """
        calls = [e for e in exchanges if isinstance(e.elapsed, int | float)]
        if not calls:
            return None, []
        slowest = max(calls, key=lambda e: e.elapsed)
        what = f"{slowest.method} {REDACTOR.mask(slowest.url)}"
        if slowest.elapsed >= self.incident:
            return (
                f"expected every call under {self.incident:.1f}s (SLO incident threshold, per call); the slowest, "
                f"{what}, took {slowest.elapsed:.2f}s [class latency_incident]",
                [],
            )
        if slowest.elapsed >= self.warn:
            return None, [
                f"latency {slowest.elapsed:.2f}s of {what} is at or over the SLO warn threshold {self.warn:.1f}s "
                f"(slowest of {len(calls)} call(s))"
            ]
        return None, []


@dataclass
class ProbeOutcome:
    """What one probe run found: verdict, class, message, latency, warnings and the redacted exchanges."""

    probe_id: str
    system: str
    verdict: Verdict
    failure_class: str | None
    message: str
    elapsed: float
    warnings: list[str] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        """Return the receipt row (no secrets: messages and details are built from masked data)."""
        return {
            "id": self.probe_id,
            "system": self.system,
            "verdict": self.verdict,
            "failure_class": self.failure_class,
            "message": REDACTOR.mask(self.message),
            "latency_seconds": round(self.elapsed, 4),
            "warnings": [REDACTOR.mask(w) for w in self.warnings],
            "requests": len(self.exchanges),
        }

    def exchanges_text(self) -> str:
        """Return the redacted HTTP exchanges as JSON (the report attachment)."""
        return REDACTOR.mask(json.dumps([e.__dict__ for e in self.exchanges], indent=2, default=str))


@lru_cache(maxsize=64)
def _validator(name: str) -> jsonschema.protocols.Validator:
    path = API_SCHEMAS / f"{name}.schema.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def schema_problem(body: Any, schema_name: str) -> str | None:
    """Return how `body` drifts from `contracts/schemas/api/<schema_name>.schema.json`, or None."""
    error = best_match(_validator(schema_name).iter_errors(body))
    if error is None:
        return None
    where = error.json_path
    if error.validator == "required":
        what = error.message.split(" is a required")[0]
        return f"{where}: missing required key {what}"
    return f"{where}: {REDACTOR.mask(error.message)[:200]}"


Clients = Callable[[str], Any]
"""clients(system) -> the system's client; raises ProbeSetupError when it cannot be built."""


class ProbeContext:
    """What a probe works with: clients, contracts data, schema checks, and the record of every call."""

    def __init__(self, clients: Clients, inventory: Any, settings: dict[str, Any] | None = None) -> None:
        self._clients = clients
        self.inventory = mapping(inventory)
        self.settings = settings or {}
        self.exchanges: list[Exchange] = []
        self.warnings: list[str] = []
        self.details: dict[str, Any] = {}
        self.clock: Callable[[], float] = time.monotonic
        self.deadline_at: float | None = None
        """Clock time after which the next call ends the probe as timeout (set by `run_probe`)."""
        self.deadline: float | None = None

    def set_deadline(self, clock: Callable[[], float], started: float, seconds: float) -> None:
        """Give the probe `seconds` from `started` (on `clock`); keep an earlier deadline already set."""
        self.clock = clock
        at = started + seconds
        if self.deadline_at is None or at < self.deadline_at:
            self.deadline_at, self.deadline = at, seconds

    def check_deadline(self, what: str) -> None:
        """Raise ProbeFailure(timeout) when the probe is past its deadline (checked after every call)."""
        if self.deadline_at is not None and self.clock() > self.deadline_at:
            raise ProbeFailure(
                "timeout",
                f"expected the probe to finish within its deadline of {self.deadline or 0:.0f}s "
                f"(infra.core.slo.yaml budgets.probe_deadline_ms); it was still running after {what} [class timeout]",
            )

    def client(self, system: str) -> Any:
        """Return the system's client (built once per run by the fixtures)."""
        return self._clients(system)

    def record(self, result: ApiResult | PagedResult) -> None:
        """Keep a result's exchanges and warnings for the report."""
        pages = result.pages if isinstance(result, PagedResult) else [result]
        for page in pages:
            self.exchanges += page.exchanges
            self.warnings += [w for w in page.warnings if w not in self.warnings]
        if isinstance(result, PagedResult):
            self.warnings += [w for w in result.warnings if w not in self.warnings]

    def call(self, what: str, result: ApiResult, schema: str | None = None, expect: str = "2xx") -> Any:
        """Check one call: it succeeded and its body matches the schema; return the body."""
        self.record(result)
        if not result.ok:
            raise ProbeFailure(
                result.failure_class or "api_error",
                f"expected {what} -> {expect}; got {result.describe()} [class {result.failure_class}]",
            )
        self.check_deadline(what)
        if schema is not None:
            problem = schema_problem(result.body, schema)
            if problem:
                raise ProbeFailure(
                    "schema_drift",
                    f"expected {what} to match contracts/schemas/api/{schema}.schema.json; got {problem} "
                    "[class schema_drift]",
                )
        return result.body

    def listing(self, what: str, result: PagedResult, schema: str | None = None) -> list[Any]:
        """Check a paginated listing: every page succeeded and matches the schema; return all items."""
        self.record(result)
        if result.failure is None:
            self.check_deadline(what)
        if result.failure is not None:
            failure = result.failure
            raise ProbeFailure(
                failure.failure_class or "api_error",
                f"expected {what} -> 2xx on every page; page {len(result.pages)}: {failure.describe()} "
                f"[class {failure.failure_class}]",
            )
        if result.truncated:
            raise ProbeFailure("api_error", f"expected {what} to end; {result.describe()} [class api_error]")
        for number, page in enumerate(result.pages, start=1):
            problem = schema_problem(page.body, schema) if schema else None
            if problem:
                raise ProbeFailure(
                    "schema_drift",
                    f"expected {what} page {number} to match contracts/schemas/api/{schema}.schema.json; "
                    f"got {problem} [class schema_drift]",
                )
        return list(result.items)


ProbeFunc = Callable[[ProbeContext], None]
PROBES: dict[str, ProbeFunc] = {}
"""Implementation key -> probe function, filled by `@probe` when the `probes_<system>` modules are imported."""


def probe(name: str) -> Callable[[ProbeFunc], ProbeFunc]:
    """Register a probe implementation under `name` (a capability id or a capability's `probe` key).

    Raises ValueError when `name` already has an implementation (a second one would silently replace the first).
    """

    def register(func: ProbeFunc) -> ProbeFunc:
        existing = PROBES.get(name)
        if existing is not None:
            raise ValueError(
                f"probe {name!r} is implemented twice: by {existing.__module__}.{existing.__qualname__} "
                f"and by {func.__module__}.{func.__qualname__}"
            )
        PROBES[name] = func
        return func

    return register
