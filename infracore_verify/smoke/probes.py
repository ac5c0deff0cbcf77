"""The smoke probes: one read-only check per smoke capability, run through the authenticated clients.

A probe is a plain function `probe(ctx) -> None` registered with `@probe("<capability id>")`. It calls
clients through `ctx`, which records every result (status, class, redacted exchanges), validates bodies
against the project's own response schemas (`contracts/schemas/api/`) and raises `ProbeFailure` with what
was expected, what came back and how it was classified. `run_probe` turns that into a `ProbeOutcome`,
adding the SLO verdicts from `infra.core.slo.yaml`: latency per call (the probe is judged by its slowest call)
and the probe's overall deadline (past it, the probe fails as `timeout`).

Layout: the context, schema checks, SLO and registry are in `context.py` (re-exported here); the implementations
are in `probes_cloudflare.py`, `probes_vaultwarden.py`, `probes_infisical.py`, `probes_authentik.py` and
`probes_drift.py`, all imported (so registered) by this module.

Exceptions:

    ProbeFailure        a probe saw something wrong: carries the failure class and the message
    ProbeSetupError     the probe could not start (a credential or setting is missing); class setup_error
"""

from __future__ import annotations

import time
from collections.abc import Callable

from infracore_verify.clients.http import ApiClientError
from infracore_verify.contracts.verdict import Verdict
from infracore_verify.redact import REDACTOR
from infracore_verify.smoke import (  # noqa: F401  (imported to register their probes)
    probes_authentik,
    probes_cloudflare,
    probes_drift,
    probes_infisical,
    probes_vaultwarden,
)
from infracore_verify.smoke.context import (
    API_SCHEMAS,
    PROBES,
    Clients,
    ProbeContext,
    ProbeFailure,
    ProbeFunc,
    ProbeOutcome,
    ProbeSetupError,
    Slo,
    probe,
    schema_problem,
)

__all__ = [
    "API_SCHEMAS",
    "PROBES",
    "Clients",
    "ProbeContext",
    "ProbeFailure",
    "ProbeFunc",
    "ProbeOutcome",
    "ProbeSetupError",
    "Slo",
    "probe",
    "run_probe",
    "schema_problem",
]


def run_probe(
    probe_id: str,
    implementation: str,
    system: str,
    ctx: ProbeContext,
    slo: Slo,
    clock: Callable[[], float] = time.monotonic,
) -> ProbeOutcome:
    """Run one probe and return its outcome; never raises for what the probe finds or cannot reach.

    The probe gets `slo.deadline` seconds from now on `clock` (or the earlier deadline its runner already set).
    """
    func = PROBES.get(implementation)
    started = clock()
    ctx.set_deadline(clock, started, slo.deadline)
    verdict, failure_class, message = Verdict.PASS, None, f"{probe_id}: ok"
    if func is None:
        verdict, failure_class = Verdict.FAIL, "gate_bug"
        message = f"{probe_id}: no probe implements '{implementation}'; known: {', '.join(sorted(PROBES))}"
    else:
        try:
            func(ctx)
            summary = ctx.details.get("summary")
            if summary:
                message = f"{probe_id}: ok ({summary})"
        except ProbeFailure as exc:
            verdict, failure_class, message = Verdict.FAIL, exc.failure_class, f"{probe_id} ({system}): {exc}"
        except (ProbeSetupError, ApiClientError) as exc:
            verdict, failure_class = Verdict.FAIL, "setup_error"
            message = f"{probe_id} ({system}): cannot run: {exc} [class setup_error]"
    elapsed = clock() - started
    incident, latency_warnings = slo.judge_calls(ctx.exchanges)
    ctx.warnings += latency_warnings
    if verdict == Verdict.PASS and incident is not None:
        verdict, failure_class, message = Verdict.FAIL, "latency_incident", f"{probe_id} ({system}): {incident}"
    if verdict == Verdict.PASS and ctx.deadline_at is not None and clock() > ctx.deadline_at:
        verdict, failure_class = Verdict.FAIL, "timeout"
        message = (
            f"{probe_id} ({system}): expected to finish within its deadline of {ctx.deadline or 0:.0f}s "
            f"(infra.core.slo.yaml budgets.probe_deadline_ms); took {elapsed:.2f}s [class timeout]"
        )
    return ProbeOutcome(
        probe_id,
        system,
        verdict,
        failure_class,
        REDACTOR.mask(message),
        elapsed,
        ctx.warnings,
        ctx.exchanges,
        ctx.details,
    )
