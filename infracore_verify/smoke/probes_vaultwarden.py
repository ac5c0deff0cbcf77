"""The Vaultwarden smoke probes: liveness, version, server config and, with an API key, the account revision date."""

from __future__ import annotations

import datetime as dt

from infracore_verify.contracts.model import mapping
from infracore_verify.contracts.sets import Contracts
from infracore_verify.smoke.context import ProbeContext, ProbeFailure, probe


@probe("vaultwarden.alive")
def vaultwarden_alive(ctx: ProbeContext) -> None:
    """Expects GET /alive to answer 200 with the server's current time."""
    ctx.call("GET /alive", ctx.client("vaultwarden").alive(), "vaultwarden.alive", expect="200 with a date-time")
    ctx.details["summary"] = "alive"


@probe("vaultwarden.version")
def vaultwarden_version(ctx: ProbeContext) -> None:
    """Reads the Vaultwarden release from GET /api/version."""
    body = ctx.call("GET /api/version", ctx.client("vaultwarden").version(), "vaultwarden.version")
    ctx.details["summary"] = f"version {body or 'unset'}"


@probe("vaultwarden.config")
def vaultwarden_config(ctx: ProbeContext) -> None:
    """Reads GET /api/config and expects the server to call itself Vaultwarden."""
    body = ctx.call("GET /api/config", ctx.client("vaultwarden").config(), "vaultwarden.config")
    name = mapping(mapping(body).get("server")).get("name")
    if name != "Vaultwarden":
        raise ProbeFailure("schema_drift", f"expected server.name 'Vaultwarden'; got {name!r} [class schema_drift]")
    ctx.details["summary"] = f"claims Bitwarden {mapping(body).get('version')}"


def _api_key_declared(ctx: ProbeContext) -> bool:
    """Return True when the selected environment file lists Vaultwarden credentials (the API key)."""
    contracts, name = ctx.settings.get("contracts"), ctx.settings.get("environment")
    if not isinstance(contracts, Contracts) or not name:
        return False
    data = mapping(contracts.environment(str(name)).data)
    credentials = mapping(mapping(mapping(data.get("systems")).get("vaultwarden")).get("credentials"))
    return bool(credentials.get("client_id") or credentials.get("client_secret"))


@probe("vaultwarden.revision.date")
def vaultwarden_revision_date(ctx: ProbeContext) -> None:
    """Logs in with the user API key (client_credentials) and reads GET /api/accounts/revision-date.

    Runs when the environment gives the API key (`systems.vaultwarden.credentials` client_id and client_secret);
    a declared key that does not resolve fails as setup_error. Without one, it passes with a warning that the
    authenticated check did not run (the unauthenticated probes still cover the server).
    """
    client = ctx.client("vaultwarden")
    if not client.has_api_key and not _api_key_declared(ctx):
        ctx.warnings.append(
            "no Vaultwarden API key in the environment (systems.vaultwarden.credentials client_id, client_secret): "
            "the authenticated check did not run"
        )
        ctx.details["summary"] = "no API key configured; authenticated check not run"
        return
    body = ctx.call(
        "POST /identity/connect/token (client_credentials), then GET /api/accounts/revision-date",
        client.revision_date(),
        "vaultwarden.revision-date",
        expect="200 with milliseconds since the epoch",
    )
    when = dt.datetime.fromtimestamp(int(body) / 1000, dt.UTC)
    ctx.details["summary"] = f"account revised {when:%Y-%m-%dT%H:%M:%SZ}"
