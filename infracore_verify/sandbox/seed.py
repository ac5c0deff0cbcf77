"""What the sandbox serves: zones, tunnels, secrets, outposts and versions, derived from the shipped contracts.

`SandboxSeed.from_contracts(dir)` reads `cloudflare.inventory.yaml` (account, zones, tunnels and their ingress)
and `environments/sandbox.yaml` (the credential names and the variables they are exported under). The zone
list equals the inventory, so inventory parity holds on a fresh sandbox; `with_extra_zones(n)` adds
sandbox-only zones for pagination tests. One sandbox-only object is always added: a *deleted* copy of the
first tunnel, so a tunnel listing that forgets `is_deleted=false` shows up as an extra tunnel.

Exceptions: `SandboxError` > `SandboxSeedError` (the contracts cannot seed the sandbox).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from infracore_verify.contracts.sets import BUNDLED_CONTRACTS, Contracts, ContractsPathError

CREDENTIAL_NAMES: dict[str, tuple[str, ...]] = {
    "cloudflare": ("api_token", "api_email", "api_key", "account_id"),
    "vaultwarden": ("client_id", "client_secret"),
    "infisical": ("client_id", "client_secret", "project_id"),
    "authentik": ("api_token",),
}
"""The credentials each emulated system accepts, named as in contracts/environments/sandbox.yaml."""

INFISICAL_CREDENTIAL_KEYS: dict[str, tuple[str, str]] = {
    "CLOUDFLARE_API_TOKEN": ("cloudflare", "api_token"),
    "CLOUDFLARE_API_EMAIL": ("cloudflare", "api_email"),
    "CLOUDFLARE_API_KEY": ("cloudflare", "api_key"),
    "CLOUDFLARE_ACCOUNT_ID": ("cloudflare", "account_id"),
    "VAULTWARDEN_CLIENT_ID": ("vaultwarden", "client_id"),
    "VAULTWARDEN_CLIENT_SECRET": ("vaultwarden", "client_secret"),
    "AUTHENTIK_API_TOKEN": ("authentik", "api_token"),
}
"""Secret keys the sandbox's Infisical holds (environment/path from the seed) and the credential each mirrors."""

_NAMESPACE = uuid.UUID("7f3c1e52-9a4b-4c1d-8e2f-5a6b7c8d9e0f")


class SandboxError(Exception):
    """The sandbox cannot do what was asked (not started, port taken, unknown system)."""


class SandboxSeedError(SandboxError):
    """The contracts cannot seed the sandbox; the message names the file and the YAML path."""


def stable_hex(*parts: str, length: int = 32) -> str:
    """Return a deterministic lowercase hex id derived from `parts` (Cloudflare-style 32-hex ids)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:length]


def stable_uuid(*parts: str) -> str:
    """Return a deterministic UUID string derived from `parts`."""
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(parts)))


@dataclass(frozen=True)
class ZoneSeed:
    """A Cloudflare zone; `registrar` zones also appear in the registrar domain list."""

    name: str
    id: str
    registrar: bool = False
    status: str = "active"


@dataclass(frozen=True)
class IngressRuleSeed:
    """One tunnel ingress rule; the catch-all rule has no hostname."""

    service: str
    hostname: str | None = None
    path: str | None = None


@dataclass(frozen=True)
class TunnelSeed:
    """A Cloudflare tunnel (cfd_tunnel) and its ingress; the API serves the ingress only when `source` is cloudflare."""

    name: str
    id: str
    ingress: tuple[IngressRuleSeed, ...] = ()
    status: str = "healthy"
    deleted: bool = False
    source: str = "local"
    """`local`: cloudflared's own config file holds the ingress (the API answers config: null, source local), as
    for the infra-core cloudflared container; `cloudflare`: managed remotely, the API serves the ingress."""
    configured: bool = True
    """False: a remotely managed tunnel not configured yet (config: null, source cloudflare)."""


@dataclass(frozen=True)
class SecretSeed:
    """An Infisical secret in the sandbox project."""

    environment: str
    path: str
    key: str
    value: str
    comment: str = ""


@dataclass(frozen=True)
class OutpostSeed:
    """An Authentik outpost and how many connected instances report health for it."""

    name: str
    id: str
    type: str = "proxy"
    managed: str | None = None
    instances: int = 1
    outdated: bool = False
    """Its instances run an older version than the server (health answers version_outdated: true)."""


DEFAULT_EXTRA_SECRETS: tuple[SecretSeed, ...] = (
    SecretSeed("prod", "/", "SANDBOX_NOTE", "emulated by infracore-verify; not a real secret"),
    SecretSeed("prod", "/", "LOG_LEVEL", "info"),
    SecretSeed("prod", "/infra-core/other", "OTHER_SERVICE_URL", "http://127.0.0.1:9/unused"),
    SecretSeed("prod", "/infra-core/other", "OTHER_SERVICE_TOKEN", "sandbox-other-service-token-not-secret"),
    SecretSeed("dev", "/", "DEV_ONLY_FLAG", "true"),
)
"""Keys besides the credential mirror: at `/` and `/infra-core/other` in prod, and one in dev."""

DEFAULT_OUTPOSTS: tuple[OutpostSeed, ...] = (
    OutpostSeed(
        "authentik Embedded Outpost",
        stable_uuid("outpost", "embedded"),
        "proxy",
        "goauthentik.io/outposts/embedded",
    ),
    OutpostSeed("infra-core-ldap", stable_uuid("outpost", "infra-core-ldap"), "ldap", None),
)


@dataclass(frozen=True)
class SandboxSeed:
    """Everything the emulated systems serve, except the credentials (fresh per Sandbox instance)."""

    account_id: str = "0123456789abcdef0123456789abcdef"
    account_name: str = "infra-core (sandbox)"
    zones: tuple[ZoneSeed, ...] = ()
    tunnels: tuple[TunnelSeed, ...] = ()
    extra_dns_records: int = 0
    """Filler TXT records added to every zone (for guardrail and pagination tests)."""
    vaultwarden_version: str = "1.37.2"
    vaultwarden_server_version: str = "2026.6.0"
    """What /api/config claims as Bitwarden server version (not the Vaultwarden release)."""
    vaultwarden_token_ttl: int = 7200
    infisical_token_ttl: int = 7200
    """`expiresIn` of universal-auth logins; 0 means the token never expires."""
    infisical_token_max_ttl: int = 2592000
    infisical_environments: tuple[str, ...] = ("dev", "prod")
    infisical_credentials_environment: str = "prod"
    infisical_credentials_path: str = "/infra-core"
    infisical_secrets: tuple[SecretSeed, ...] = DEFAULT_EXTRA_SECRETS
    authentik_version: str = "2026.2.2"
    authentik_outposts: tuple[OutpostSeed, ...] = DEFAULT_OUTPOSTS
    cloudflare_token_owner: str = "account"
    """Who owns the Cloudflare API token: `account` (verifies at /accounts/{id}/tokens/verify only) or `user`."""
    credential_env: tuple[tuple[str, str, str], ...] = field(default=())
    """(system, credential name, environment variable) triples from environments/sandbox.yaml."""
    source: str = "built-in"

    @classmethod
    def default(cls) -> SandboxSeed:
        """Return the seed derived from the contracts shipped with the suite (read once per process)."""
        return _bundled_seed()

    @classmethod
    def from_contracts(cls, contracts_dir: Path) -> SandboxSeed:
        """Derive a seed from a contract set (suite layout or ops repository root), or raise SandboxSeedError."""
        try:
            contracts = Contracts.open(Path(contracts_dir))
        except ContractsPathError as error:
            raise SandboxSeedError(str(error)) from None
        inventory = contracts.doc("inventory")
        data = inventory.data
        if not isinstance(data, dict):
            problems = "; ".join(f.render() for f in inventory.errors) or "not a mapping"
            raise SandboxSeedError(f"{inventory.display}: cannot seed the sandbox from it: {problems}")
        account_id = data.get("account_id")
        if not isinstance(account_id, str) or not account_id:
            raise SandboxSeedError(f"{inventory.display}: $.account_id must be a non-empty string to seed the sandbox")
        zones = tuple(
            _zone(item, i, inventory.display) for i, item in enumerate(_list(data, "zones", inventory.display))
        )
        tunnels = [
            _tunnel(item, i, inventory.display) for i, item in enumerate(_list(data, "tunnels", inventory.display))
        ]
        if tunnels:
            first = tunnels[0]
            tunnels.append(
                TunnelSeed(
                    f"{first.name}-retired",
                    stable_uuid("tunnel", first.id, "retired"),
                    (IngressRuleSeed("http_status:404"),),
                    status="down",
                    deleted=True,
                )
            )
        environment = contracts.environment("sandbox")
        return cls(
            account_id=account_id,
            zones=zones,
            tunnels=tuple(tunnels),
            credential_env=_credential_env(environment.data, environment.display),
            source=str(contracts.path),
        )

    def with_extra_zones(self, count: int) -> SandboxSeed:
        """Return a copy with `count` sandbox-only zones (extra-NN.sandbox.invalid) appended."""
        extra = tuple(
            ZoneSeed(f"extra-{n:02d}.sandbox.invalid", stable_hex("zone", f"extra-{n:02d}"))
            for n in range(1, count + 1)
        )
        return replace(self, zones=self.zones + extra)

    def env_var(self, system: str, name: str) -> str:
        """Return the environment variable a credential is exported under (sandbox.yaml, else SYSTEM_NAME)."""
        for s, n, var in self.credential_env:
            if (s, n) == (system, name):
                return var
        return f"{system}_{name}".upper()


@lru_cache(maxsize=1)
def _bundled_seed() -> SandboxSeed:
    return SandboxSeed.from_contracts(BUNDLED_CONTRACTS)


def _list(data: dict[str, Any], key: str, display: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise SandboxSeedError(f"{display}: $.{key} must be a list to seed the sandbox")
    return value


def _zone(item: Any, index: int, display: str) -> ZoneSeed:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not isinstance(item.get("id"), str):
        raise SandboxSeedError(f"{display}: $.zones[{index}] needs string 'name' and 'id' to seed the sandbox")
    return ZoneSeed(item["name"], item["id"], bool(item.get("registrar", False)))


def _tunnel(item: Any, index: int, display: str) -> TunnelSeed:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not isinstance(item.get("id"), str):
        raise SandboxSeedError(f"{display}: $.tunnels[{index}] needs string 'name' and 'id' to seed the sandbox")
    rules: list[IngressRuleSeed] = []
    for r, rule in enumerate(item.get("ingress") or []):
        if not isinstance(rule, dict) or not isinstance(rule.get("service"), str):
            raise SandboxSeedError(f"{display}: $.tunnels[{index}].ingress[{r}] needs a string 'service'")
        rules.append(IngressRuleSeed(rule["service"], rule.get("hostname"), rule.get("path")))
    return TunnelSeed(item["name"], item["id"], tuple(rules))


def _credential_env(data: Any, display: str) -> tuple[tuple[str, str, str], ...]:
    if not isinstance(data, dict):
        return ()
    systems = data.get("systems")
    if not isinstance(systems, dict):
        return ()
    out: list[tuple[str, str, str]] = []
    for system, body in systems.items():
        credentials = body.get("credentials") if isinstance(body, dict) else None
        if system not in CREDENTIAL_NAMES or not isinstance(credentials, dict):
            continue
        for name, ref in credentials.items():
            if name not in CREDENTIAL_NAMES[system]:
                raise SandboxSeedError(
                    f"{display}: $.systems.{system}.credentials.{name}: the sandbox does not emulate a credential "
                    f"named {name!r}; use one of {', '.join(CREDENTIAL_NAMES[system])}"
                )
            if isinstance(ref, dict) and isinstance(ref.get("env"), str):
                out.append((system, name, ref["env"]))
    return tuple(out)
