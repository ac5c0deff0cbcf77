"""The cross-system drift probe: capture the live state read-only and compare it with the contracts."""

from __future__ import annotations

from dataclasses import replace

from infracore_verify.contracts.model import as_list
from infracore_verify.contracts.sets import BUNDLED_CONTRACTS, Contracts
from infracore_verify.smoke.context import ProbeContext, ProbeFailure, ProbeSetupError, probe


@probe("infra.core.drift")
def infra_core_drift(ctx: ProbeContext) -> None:
    """Captures the live state read-only (secret key names, never values) and fails on unexpected drift from the contracts.

    Reads `settings["contracts"]` (a Contracts; default: the bundled set with this run's inventory),
    `settings["environment"]` and `settings["sandbox"]`. Stores the matrix in `details["drift"]` (markdown, json,
    summary). Unreadable observations (versions, outposts, status) are warnings; an unreadable attribute the
    contracts declare fails with its failure class, and unexpected differences fail as inventory_drift.
    """
    # Imported here: the capture and the matrix are only needed when this probe runs (start-up cost).
    from infracore_verify.smoke.capture import capture
    from infracore_verify.smoke.drift import DriftContractError, Expected, drift_matrix, error_text

    environment = str(ctx.settings.get("environment") or "") or None
    contracts = ctx.settings.get("contracts")
    try:
        if isinstance(contracts, Contracts):
            expected = Expected.from_contracts(contracts, environment)
        else:
            expected = replace(
                Expected.from_contracts(Contracts.open(BUNDLED_CONTRACTS), environment), inventory=ctx.inventory
            )
    except DriftContractError as exc:
        raise ProbeSetupError(f"the contracts the drift comparison reads do not load: {exc}") from None
    data = capture(
        ctx.client,
        environment=environment or "unknown",
        is_sandbox=ctx.settings.get("sandbox") is True,
        settings=ctx.settings,
        record=ctx.record,
    )
    matrix = drift_matrix(expected, data)
    ctx.details["drift"] = {"markdown": matrix.to_markdown(), "json": matrix.to_json(), "summary": matrix.summary()}
    unreadable = {(c.system, c.attribute) for c in matrix.unreadable()}
    for error in as_list(data.get("errors")):
        if (error["system"], error["attribute"]) not in unreadable:
            ctx.warnings.append(f"not observed: {error['system']}.{error['attribute']}: {error_text(error)}")
    problems = [f"cannot compare {c.name}: {'; '.join(c.errors)}" for c in matrix.unreadable()]
    drift = matrix.unexpected_lines()
    if drift:
        raise ProbeFailure(
            "inventory_drift",
            "live state drifts from the contracts: " + "; ".join(drift + problems) + " [class inventory_drift]",
        )
    if problems:
        first = next(
            (str(e["class"]) for e in as_list(data.get("errors")) if (e["system"], e["attribute"]) in unreadable),
            "api_error",
        )
        raise ProbeFailure(first, "expected to compare the live state with the contracts; " + "; ".join(problems))
    ctx.details["summary"] = matrix.summary()
