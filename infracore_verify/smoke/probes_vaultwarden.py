"""The Vaultwarden smoke probes: liveness, version and server config."""

from __future__ import annotations

from infracore_verify.contracts.model import mapping
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
