"""Cloudflare API v4 client: API token first, Global API Key fallback for reads only, the v4 envelope, paging.

Auth (SPINE §9, without the original's defects):

- The API token (`Authorization: Bearer`) is preferred. Only after the token is refused (401 or 403) on a
  GET or HEAD, and only when both `api_email` and `api_key` are configured, the same request is repeated
  once with the Global API Key (`X-Auth-Email` + `X-Auth-Key`); the result says so (`mode="global"`,
  `fallback_used=True`, `fallback_reason="token_invalid"`, a warning). Each request starts with the token
  again. 429, 5xx, network errors and timeouts never fall back; mutations never fall back.
- With only the Global API Key, it is used from the start (`mode="global"`, no fallback).
- With neither, the constructor raises `CloudflareAuthMissingError` naming what is missing.

Token verification: a user-owned token verifies at `GET /user/tokens/verify`, an account-owned token (what
Cloudflare recommends now) only at `GET /accounts/{account_id}/tokens/verify`; the user endpoint answers 401 or
403 for it. `verify_token(owner)` asks the endpoint the owner names (`user`, `account`), or with `auto` the user
endpoint first and, after a 401/403 there and with an account id configured, the account endpoint; the result's
`path` says which endpoint answered and `token_owner()` what that means. `token_access()` asks, with the token only
(never the fallback), one cheap read per permission the baseline needs, so a token refused for one of them
(403 code 10000, or 9109 for an IP-restricted token) is seen even when the fallback keeps the reads going.

Envelope: a 2xx is a success only when its body is a JSON object with `success: true`. A 2xx with
`success: false` is `api_error` (the server said the call failed; the HTTP status does not decide), and a 2xx
JSON body without a boolean `success` is `parse_error` (not a Cloudflare envelope: a proxy or captive page).
The server's `errors[].code/message` (and any `error_chain`) become the result's `detail`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import requests

from infracore_verify.clients.http import (
    DEFAULT_MAX_PAGES,
    READ_METHODS,
    ApiClient,
    ApiResult,
    Clock,
    Limits,
    MissingSettingError,
    PagedResult,
    Sleep,
    collect_pages,
    register_credentials,
)

SYSTEM = "cloudflare"
FALLBACK_REASON = "token_invalid"


TOKEN_OWNERS = ("auto", "user", "account")
"""Who owns the API token: `user`, `account`, or `auto` (detect: the user endpoint, then the account endpoint)."""
USER_VERIFY_PATH = "/user/tokens/verify"
ACCOUNT_VERIFY_SUFFIX = "/tokens/verify"
TOKEN_PERMISSIONS: tuple[tuple[str, str, Mapping[str, Any]], ...] = (
    ("Zone Read", "/zones", {"per_page": 5}),
    ("DNS Read", "/zones/{zone_id}/dns_records", {"per_page": 1}),
    ("Cloudflare Tunnel Read", "/accounts/{account_id}/cfd_tunnel", {"per_page": 1, "is_deleted": "false"}),
    ("Registrar Read", "/accounts/{account_id}/registrar/registrations", {"per_page": 1}),
)
"""(permission, endpoint, query) of every read the baseline needs the token for, asked by `token_access()`."""


class CloudflareAuthMissingError(MissingSettingError):
    """Neither an API token nor a complete Global API Key (email and key) was given."""


@dataclass(frozen=True)
class CloudflareMessage:
    """One item of an envelope's `errors` or `messages` (a `code` in `messages` is not an error)."""

    code: int | None
    message: str
    chain: tuple[CloudflareMessage, ...] = ()

    def __str__(self) -> str:
        text = f"{self.code} {self.message}" if self.code is not None else self.message
        if self.chain:
            text += " (" + "; ".join(str(link) for link in self.chain) + ")"
        return text

    @classmethod
    def parse(cls, item: Any) -> CloudflareMessage:
        """Build a message from an envelope item (tolerates strings and missing fields)."""
        if not isinstance(item, Mapping):
            return cls(None, str(item))
        code = item.get("code")
        chain = item.get("error_chain")
        return cls(
            code if isinstance(code, int) and not isinstance(code, bool) else None,
            str(item.get("message", "")),
            tuple(cls.parse(link) for link in chain) if isinstance(chain, list) else (),
        )


@dataclass(frozen=True)
class CloudflareEnvelope:
    """The v4 response envelope: success, errors, messages, result and result_info."""

    success: bool
    errors: tuple[CloudflareMessage, ...]
    messages: tuple[CloudflareMessage, ...]
    result: Any
    result_info: Mapping[str, Any] | None

    @classmethod
    def parse(cls, body: Any) -> CloudflareEnvelope | None:
        """Return the envelope of a parsed body, or None when it is not one (no boolean `success`)."""
        if not isinstance(body, Mapping) or not isinstance(body.get("success"), bool):
            return None
        errors = body.get("errors")
        messages = body.get("messages")
        info = body.get("result_info")
        return cls(
            success=body["success"],
            errors=tuple(CloudflareMessage.parse(e) for e in errors) if isinstance(errors, list) else (),
            messages=tuple(CloudflareMessage.parse(m) for m in messages) if isinstance(messages, list) else (),
            result=body.get("result"),
            result_info=info if isinstance(info, Mapping) else None,
        )

    def error_text(self) -> str | None:
        """Return the errors as one line ("10000 Authentication error; ..."), or None when there are none."""
        return "; ".join(str(e) for e in self.errors) or None


@dataclass(frozen=True)
class TokenAccess:
    """One permission check of `token_access()`: the permission, the endpoint asked and its token-only result."""

    permission: str
    endpoint: str
    result: ApiResult

    @property
    def refused(self) -> bool:
        """True when the token was refused (401/403: missing permission, 9109 IP restriction, invalid token)."""
        return self.result.failure_class == "token_invalid"

    @property
    def codes(self) -> tuple[int, ...]:
        """Return the error codes of the refusal (10000 missing permission, 9109 IP-restricted token, ...)."""
        envelope = CloudflareEnvelope.parse(self.result.body)
        return tuple(e.code for e in envelope.errors if e.code is not None) if envelope else ()

    def describe(self) -> str:
        """Return `<permission> (GET <endpoint> -> <status> <codes and messages>)`."""
        envelope = CloudflareEnvelope.parse(self.result.body)
        said = (envelope.error_text() if envelope else None) or self.result.detail or self.result.failure_class
        return f"{self.permission} (GET {self.endpoint} -> {self.result.status or 'no response'} {said})"


def token_owner(result: ApiResult) -> str:
    """Return `account` when the verify result came from the account endpoint, else `user`."""
    return "account" if result.path.startswith("/accounts/") else "user"


def token_health(result: ApiResult) -> str:
    """Return `valid`, `no_token`, the token's non-active status (`disabled`, `expired`) or the failure class."""
    if result.failure_class is not None:
        return result.failure_class
    envelope = CloudflareEnvelope.parse(result.body)
    status = envelope.result.get("status") if envelope and isinstance(envelope.result, Mapping) else None
    if status == "active":
        return "valid"
    return str(status) if status else "parse_error"


class CloudflareClient(ApiClient):
    """Cloudflare v4 client with read-only Global API Key fallback and envelope-aware classification."""

    def __init__(
        self,
        base_url: str,
        *,
        api_token: str | None = None,
        api_email: str | None = None,
        api_key: str | None = None,
        account_id: str | None = None,
        limits: Limits | None = None,
        session: requests.Session | None = None,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        register_credentials(
            SYSTEM,
            [("api_token", api_token), ("api_email", api_email), ("api_key", api_key), ("account_id", account_id)],
        )
        if not api_token and not (api_email and api_key):
            missing = [
                name
                for name, value in (("api_token", api_token), ("api_email", api_email), ("api_key", api_key))
                if not value
            ]
            raise CloudflareAuthMissingError(
                "cloudflare: no usable credentials: give api_token (preferred), or api_email and api_key together "
                f"(the Global API Key); missing: {', '.join(missing)}"
            )
        super().__init__(SYSTEM, base_url, limits, session, sleep=sleep, clock=clock)
        self._token = api_token or None
        self._global = (api_email, api_key) if api_email and api_key else None
        self.account_id = account_id or None

    @property
    def has_global_key(self) -> bool:
        """True when the Global API Key (email and key) is configured, so refused token reads fall back."""
        return self._global is not None

    def _token_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    def _global_headers(self) -> dict[str, str]:
        assert self._global is not None
        email, key = self._global
        return {"X-Auth-Email": email, "X-Auth-Key": key}

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        max_attempts: int | None = None,
    ) -> ApiResult:
        """Send a request with the token (or the Global API Key when no token exists), falling back once for reads."""
        method = method.upper()
        if self._token is None:
            return self._send_as("global", method, path, params, json, max_attempts)
        first = self._send_as("token", method, path, params, json, max_attempts)
        if first.failure_class != "token_invalid":
            return first
        refused = f"API token refused with {first.status}" + (f" ({first.detail})" if first.detail else "")
        if method not in READ_METHODS:
            first.warnings.append(f"{refused} on {method} {path}; mutations never fall back to the Global API Key")
            return first
        if self._global is None:
            first.warnings.append(f"{refused} on {method} {path}; no Global API Key configured to fall back to")
            return first
        second = self._send_as("global", method, path, params, json, max_attempts)
        return _second_answer(
            first,
            second,
            warnings=[
                *first.warnings,
                f"{refused} on {method} {path}; fell back to the Global API Key (read-only fallback)",
                *second.warnings,
            ],
            detail=second.detail,
            fallback_reason=FALLBACK_REASON,
        )

    def _send_as(
        self,
        mode: Literal["token", "global"],
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json: Any,
        max_attempts: int | None,
    ) -> ApiResult:
        """Send one request with the token (`mode="token"`) or the Global API Key (`mode="global"`)."""
        headers = self._token_headers() if mode == "token" else self._global_headers()
        return self.send(method, path, params=params, json=json, headers=headers, mode=mode, max_attempts=max_attempts)

    def classify(self, method: str, path: str, status: int, body: Any, is_json: bool) -> tuple[str | None, str | None]:
        """Classify by status, and a 2xx by its envelope (success:false is api_error, no envelope parse_error)."""
        envelope = CloudflareEnvelope.parse(body)
        if 200 <= status < 300:
            if body is None and (method == "HEAD" or status == 204):
                return None, None
            if envelope is None:
                return "parse_error", "2xx body is not a Cloudflare envelope (no boolean 'success')"
            if not envelope.success:
                return "api_error", envelope.error_text() or "success:false without errors"
            return None, None
        failure, detail = super().classify(method, path, status, body, is_json)
        return failure, (envelope.error_text() if envelope else None) or detail

    def paginate(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        per_page: int = 50,
        *,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> PagedResult:
        """Fetch every page of a listing (GET), following result_info.total_pages, else until a short page."""
        seen = 0

        def fetch(page: int) -> ApiResult:
            return self.request("GET", path, params={**(params or {}), "page": page, "per_page": per_page})

        def extract(result: ApiResult, page: int) -> tuple[list[Any], int | None]:
            nonlocal seen
            envelope = CloudflareEnvelope.parse(result.body)
            assert envelope is not None  # a successful result always has an envelope
            if not isinstance(envelope.result, list):
                result.failure_class = "parse_error"
                result.detail = "listing 'result' is not an array"
                return [], None
            items = envelope.result
            seen += len(items)
            info = envelope.result_info or {}
            total_pages = _positive_int(info.get("total_pages"))
            if total_pages is not None:
                return items, (page + 1 if page < total_pages else None)
            total_count = _positive_int(info.get("total_count"))
            # The server may cap per_page below what was asked; compare with what it says it used.
            size = _positive_int(info.get("per_page")) or per_page
            if not items or len(items) < size or (total_count is not None and seen >= total_count):
                return items, None
            return items, page + 1

        return collect_pages(fetch, extract, max_pages=max_pages)

    def _account_path(self, suffix: str) -> str:
        if not self.account_id:
            raise MissingSettingError(
                f"cloudflare: account_id is not configured; {suffix} needs systems.cloudflare.credentials.account_id"
            )
        return f"/accounts/{quote(self.account_id, safe='')}{suffix}"

    def _token_get(self, path: str, params: Mapping[str, Any] | None = None) -> ApiResult:
        return self.send("GET", path, params=params, headers=self._token_headers(), mode="token")

    def verify_token(self, owner: str = "auto") -> ApiResult:
        """Verify the API token at the endpoint of its owner (`user`, `account`, or `auto`: detect); no token: `no_token`.

        `auto` asks `/user/tokens/verify` and, after a 401/403 there and with an account id configured,
        `/accounts/{account_id}/tokens/verify`; the returned result keeps both exchanges and its `path` names the
        endpoint that answered. Token only: the Global API Key is never used to verify.
        """
        if owner not in TOKEN_OWNERS:
            raise ValueError(f"token owner {owner!r} is not one of {', '.join(TOKEN_OWNERS)}")
        if self._token is None:
            return ApiResult(
                system=self.name,
                method="GET",
                path=USER_VERIFY_PATH,
                status=0,
                failure_class="no_token",
                body=None,
                elapsed=0.0,
                attempts=0,
                waited=0.0,
                exchanges=[],
                mode="none",
                detail="no API token configured (only the Global API Key); nothing to verify",
            )
        if owner == "account":
            return self._token_get(self._account_path(ACCOUNT_VERIFY_SUFFIX))
        first = self._token_get(USER_VERIFY_PATH)
        if owner == "user" or first.failure_class != "token_invalid":
            return first
        refused = f"GET {USER_VERIFY_PATH} answered {first.status}" + (f" ({first.detail})" if first.detail else "")
        if not self.account_id:
            first.warnings.append(
                f"{refused}; an account-owned token verifies only at GET /accounts/{{account_id}}{ACCOUNT_VERIFY_SUFFIX}"
                ", so configure systems.cloudflare.credentials.account_id"
            )
            return first
        second = self._token_get(self._account_path(ACCOUNT_VERIFY_SUFFIX))
        return _second_answer(
            first,
            second,
            warnings=[*first.warnings, *second.warnings],
            detail=second.detail if second.failure_class else None,
        )

    def token_access(self, zone_id: str | None = None) -> list[TokenAccess]:
        """Ask, with the token only, one cheap read per permission the baseline needs (see `TOKEN_PERMISSIONS`).

        The DNS read needs a zone: `zone_id`, else the first zone the Zone read returned (skipped when there is
        none); the account reads need the account id (skipped without it). No request falls back.
        """
        if self._token is None:
            return []
        checks: list[TokenAccess] = []
        for permission, suffix, params in TOKEN_PERMISSIONS:
            if "{zone_id}" in suffix:
                if zone_id is None:
                    continue
                path = suffix.format(zone_id=quote(zone_id, safe=""))
            elif suffix.startswith("/accounts/"):
                if not self.account_id:
                    continue
                path = self._account_path(suffix.removeprefix("/accounts/{account_id}"))
            else:
                path = suffix
            result = self._token_get(path, params)
            checks.append(TokenAccess(permission, suffix, result))
            if suffix == "/zones" and zone_id is None and result.ok:
                envelope = CloudflareEnvelope.parse(result.body)
                first = envelope.result[0] if envelope and isinstance(envelope.result, list) and envelope.result else {}
                zone_id = str(first.get("id")) if isinstance(first, Mapping) and first.get("id") else None
        return checks

    def zones(self, per_page: int = 50) -> PagedResult:
        """List every zone (GET /zones, per_page at most 50)."""
        return self.paginate("/zones", per_page=per_page)

    def dns_records(self, zone_id: str, per_page: int = 100) -> PagedResult:
        """List every DNS record of a zone (GET /zones/{zone_id}/dns_records)."""
        return self.paginate(f"/zones/{quote(zone_id, safe='')}/dns_records", per_page=per_page)

    def tunnels(self, is_deleted: bool | None = False, per_page: int = 50) -> PagedResult:
        """List the account's Cloudflare Tunnels (live ones by default; None includes deleted tunnels)."""
        params = {} if is_deleted is None else {"is_deleted": "true" if is_deleted else "false"}
        return self.paginate(self._account_path("/cfd_tunnel"), params, per_page=per_page)

    def tunnel_configuration(self, tunnel_id: str) -> ApiResult:
        """Fetch a tunnel's remote configuration (ingress rules)."""
        return self.request("GET", self._account_path(f"/cfd_tunnel/{quote(tunnel_id, safe='')}/configurations"))

    def registrar_registrations(self, per_page: int = 50, *, max_pages: int = DEFAULT_MAX_PAGES) -> PagedResult:
        """List the account's domain registrations (GET /accounts/{id}/registrar/registrations), every cursor page.

        Replaces `/registrar/domains`, which reached end of life on 2026-09-27. Paging follows
        `result_info.cursor` until it is empty or absent; a cursor seen before fails the page (parse_error).
        """
        path = self._account_path("/registrar/registrations")
        cursors: dict[int, str] = {}
        seen: set[str] = set()

        def fetch(page: int) -> ApiResult:
            params: dict[str, Any] = {"per_page": per_page}
            if page in cursors:
                params["cursor"] = cursors[page]
            return self.request("GET", path, params=params)

        def extract(result: ApiResult, page: int) -> tuple[list[Any], int | None]:
            envelope = CloudflareEnvelope.parse(result.body)
            assert envelope is not None  # a successful result always has an envelope
            if not isinstance(envelope.result, list):
                result.failure_class = "parse_error"
                result.detail = "listing 'result' is not an array"
                return [], None
            cursor = (envelope.result_info or {}).get("cursor")
            if not isinstance(cursor, str) or not cursor:
                return envelope.result, None
            if cursor in seen:
                result.failure_class = "parse_error"
                result.detail = "result_info.cursor repeats an earlier cursor (the listing would never end)"
                return [], None
            seen.add(cursor)
            cursors[page + 1] = cursor
            return envelope.result, page + 1

        return collect_pages(fetch, extract, max_pages=max_pages)


def _positive_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def _second_answer(
    first: ApiResult, second: ApiResult, *, warnings: list[str], detail: str | None, fallback_reason: str | None = None
) -> ApiResult:
    """Return `second` as the call's answer, with the time, attempts, waits and exchanges of both requests.

    A `fallback_reason` marks the answer as the read-only fallback's (`fallback_used`).
    """
    return ApiResult(
        system=second.system,
        method=second.method,
        path=second.path,
        status=second.status,
        failure_class=second.failure_class,
        body=second.body,
        elapsed=first.elapsed + second.elapsed,
        attempts=first.attempts + second.attempts,
        waited=first.waited + second.waited,
        exchanges=first.exchanges + second.exchanges,
        mode=second.mode,
        fallback_used=fallback_reason is not None,
        fallback_reason=fallback_reason,
        warnings=warnings,
        detail=detail,
        waits=first.waits + second.waits,
    )
