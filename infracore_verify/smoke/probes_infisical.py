"""The Infisical smoke probes: server status, machine-identity login and the secrets namespace (key names only)."""

from __future__ import annotations

from infracore_verify.contracts.model import as_list, mapping
from infracore_verify.smoke.context import ProbeContext, ProbeFailure, ProbeSetupError, probe


@probe("infisical.status")
def infisical_status(ctx: ProbeContext) -> None:
    """Expects GET /api/status to answer 200 with message Ok."""
    body = ctx.call("GET /api/status", ctx.client("infisical").status(), "infisical.status")
    if mapping(body).get("message") != "Ok":
        raise ProbeFailure(
            "api_error", f"expected message 'Ok'; got {mapping(body).get('message')!r} [class api_error]"
        )
    ctx.details["summary"] = "status Ok"


@probe("secrets.auth.status")
def infisical_login(ctx: ProbeContext) -> None:
    """Logs in with the machine identity (universal auth) and expects a bearer token.

    The login is the run's one login, shared with the secret listings (each login uses up a `numUsesLimit`
    use and writes an audit entry): when another probe already logged in, this probe checks that login.
    """
    client = ctx.client("infisical")
    ctx.call("POST /api/v1/auth/universal-auth/login", client.session_login(), "infisical.login")
    ctx.details["summary"] = f"machine identity logged in; logins this session: {client.logins}"


@probe("secrets.namespace.status")
def infisical_namespace(ctx: ProbeContext) -> None:
    """Lists the secrets namespace (values hidden) and expects the keys the environment needs to exist."""
    client = ctx.client("infisical")
    project_id = ctx.settings.get("infisical_project_id")
    if not project_id:
        raise ProbeSetupError("no Infisical project id: set systems.infisical.credentials.project_id")
    environment = str(ctx.settings.get("infisical_environment", "prod"))
    path = str(ctx.settings.get("infisical_path", "/"))
    body = ctx.call(
        f"GET /api/v3/secrets/raw (environment {environment}, path {path})",
        client.list_secrets(project_id, environment, path, recursive=True, view_values=False),
        "infisical.secrets-raw",
    )
    keys = {str(mapping(s).get("secretKey")) for s in as_list(mapping(body).get("secrets"))}
    wanted = set(as_list(ctx.settings.get("infisical_required_keys")))
    missing = sorted(wanted - keys)
    if missing:
        raise ProbeFailure(
            "inventory_drift",
            f"expected keys {', '.join(missing)} under {path} in {environment}; they are absent [class inventory_drift]",
        )
    ctx.details["summary"] = f"{len(keys)} keys under {path}"
