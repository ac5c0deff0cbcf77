"""The Authentik smoke probes: health (live, ready), version, the token's own user and the outposts."""

from __future__ import annotations

from infracore_verify.clients.http import ApiResult
from infracore_verify.contracts.model import as_list, mapping
from infracore_verify.smoke.context import ProbeContext, ProbeFailure, probe

HEALTHY_AUTHENTIK = (200, 204)


def _authentik_health(ctx: ProbeContext, what: str, result: ApiResult) -> None:
    ctx.record(result)
    if result.status in HEALTHY_AUTHENTIK:
        return
    meaning = {503: "not ready", 502: "starting"}.get(result.status, result.failure_class or "unhealthy")
    raise ProbeFailure(
        result.failure_class or "unhealthy",
        f"expected {what} -> 200 or 204; got {result.describe()} ({meaning}) [class {result.failure_class or 'unhealthy'}]",
    )


@probe("authentik.health.live")
def authentik_live(ctx: ProbeContext) -> None:
    """Expects GET /-/health/live/ to answer 200 or 204."""
    _authentik_health(ctx, "GET /-/health/live/", ctx.client("authentik").health_live())
    ctx.details["summary"] = "live"


@probe("authentik.health.ready")
def authentik_ready(ctx: ProbeContext) -> None:
    """Expects GET /-/health/ready/ to answer 200 or 204 (the database is reachable)."""
    _authentik_health(ctx, "GET /-/health/ready/", ctx.client("authentik").health_ready())
    ctx.details["summary"] = "ready"


@probe("authentik.version")
def authentik_version(ctx: ProbeContext) -> None:
    """Reads the running and latest version and warns when the server is outdated."""
    body = mapping(ctx.call("GET /api/v3/admin/version/", ctx.client("authentik").version(), "authentik.version"))
    if body.get("outdated"):
        ctx.warnings.append(
            f"authentik {body.get('version_current')} is outdated (latest {body.get('version_latest')})"
        )
    if body.get("outpost_outdated"):
        ctx.warnings.append("an outpost runs another version than the server (authentik.outposts.status names it)")
    ctx.details["summary"] = f"version {body.get('version_current')}"


@probe("authentik.user.self")
def authentik_user_self(ctx: ProbeContext) -> None:
    """Reads the token's own user and expects it active."""
    body = mapping(ctx.call("GET /api/v3/core/users/me/", ctx.client("authentik").me(), "authentik.users-me"))
    user = mapping(body.get("user"))
    if user.get("is_active") is not True:
        raise ProbeFailure(
            "token_invalid",
            f"expected the API user to be active; got is_active={user.get('is_active')!r} [class token_invalid]",
        )
    ctx.details["summary"] = f"user {user.get('username')}"


@probe("authentik.outposts.status")
def authentik_outposts(ctx: ProbeContext) -> None:
    """Lists the outposts and reads each one's health; fails when an instance is outdated (`version_outdated`).

    An outpost with no connected instance only warns (it may be scaled to zero).
    """
    client = ctx.client("authentik")
    outposts = ctx.listing("GET /api/v3/outposts/instances/", client.outposts(), "authentik.outposts")
    outdated: list[str] = []
    for outpost in outposts:
        uuid = str(mapping(outpost).get("pk"))
        name = mapping(outpost).get("name")
        health = ctx.call(
            f"GET /api/v3/outposts/instances/{uuid}/health/", client.outpost_health(uuid), "authentik.outpost-health"
        )
        if not as_list(health):
            ctx.warnings.append(f"outpost {name} has no connected instance")
        for instance in as_list(health):
            entry = mapping(instance)
            if entry.get("version_outdated") is True:
                outdated.append(
                    f"outpost {name!r} is outdated: instance {entry.get('hostname')} runs {entry.get('version')}, "
                    f"the server expects {entry.get('version_should')} (version_outdated: true)"
                )
    if outdated:
        raise ProbeFailure(
            "inventory_drift",
            f"expected every outpost instance on the server's version; {'; '.join(outdated)} [class inventory_drift]",
        )
    ctx.details["summary"] = f"{len(outposts)} outposts, none outdated"
