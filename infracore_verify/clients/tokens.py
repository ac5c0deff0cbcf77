"""Bearer-token clients: `CachedToken` (renewed ahead of expiry) and `TokenLoginClient` (log in, retry once)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from infracore_verify.clients.http import ApiClient, Clock
from infracore_verify.clients.results import ApiResult


class CachedToken:
    """A bearer token with its expiry, renewed ahead of time (at min(60 s, 10 % of its lifetime) left)."""

    RENEW_MARGIN = 60.0
    RENEW_FRACTION = 0.1

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._value: str | None = None
        self._renew_at: float | None = None
        self.lock = threading.Lock()

    def set(self, value: str, expires_in: float | None) -> None:
        """Keep `value`; `expires_in` of None or <= 0 means it never expires."""
        self._value = value
        if expires_in is None or expires_in <= 0:
            self._renew_at = None
        else:
            margin = min(self.RENEW_MARGIN, self.RENEW_FRACTION * expires_in)
            self._renew_at = self._clock() + expires_in - margin

    def get(self) -> str | None:
        """Return the token while it is fresh, else None (absent or due for renewal)."""
        if self._value is None:
            return None
        if self._renew_at is not None and self._clock() >= self._renew_at:
            return None
        return self._value

    def clear(self) -> None:
        """Forget the token (after the server refused it)."""
        self._value = None
        self._renew_at = None


class TokenLoginClient(ApiClient):
    """A client that logs in for a bearer token, caches it, renews it ahead of expiry and, when the server
    rejects a cached token early (expired or revoked), logs in once more and repeats the request once."""

    _access: CachedToken

    def login(self) -> ApiResult:
        """Log in and cache the access token (each system's own login)."""
        raise NotImplementedError

    def token_rejected(self, result: ApiResult) -> bool:
        """Return True when the server refused the bearer token of `result` (each system's own answer)."""
        raise NotImplementedError

    def _token(self) -> str | ApiResult:
        """Return the cached token, logging in when there is none or it is due; else the failed login's result."""
        with self._access.lock:
            token = self._access.get()
            if token is not None:
                return token
            result = self.login()
            token = self._access.get()
            return token if result.ok and token is not None else result

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        max_attempts: int | None = None,
    ) -> ApiResult:
        """Send an authenticated request (logging in when needed); a failed login is returned as is."""

        def send(token: str) -> ApiResult:
            return self.send(
                method,
                path,
                params=params,
                json=json,
                headers={"Authorization": f"Bearer {token}"},
                mode="token",
                max_attempts=max_attempts,
            )

        cached = self._access.get() is not None
        token = self._token()
        if isinstance(token, ApiResult):
            return token
        first = send(token)
        if not self.token_rejected(first):
            return first
        self._access.clear()
        if not cached:
            return first
        token = self._token()
        if isinstance(token, ApiResult):
            token.exchanges = first.exchanges + token.exchanges
            return token
        second = send(token)
        if self.token_rejected(second):
            self._access.clear()
        second.exchanges = first.exchanges + second.exchanges
        second.attempts += first.attempts
        second.warnings.append("the server rejected the cached token; logged in again and repeated the request once")
        return second
