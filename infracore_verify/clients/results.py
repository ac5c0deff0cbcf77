"""What a client call returns: the redacted `Exchange` of each attempt, `ApiResult`, `PagedResult`, and the errors.

The failure classes an `ApiResult` carries and the exception hierarchy are described in `clients/http.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from infracore_verify.redact import REDACTOR

DEFAULT_MAX_PAGES = 1000
"""Upper bound on pages fetched by one paginated listing, so a server that never ends cannot loop us."""


class ApiClientError(Exception):
    """Base class of every error raised by the API clients."""


class MissingSettingError(ApiClientError):
    """A call needs a credential or setting that the client was not given."""


@dataclass
class Exchange:
    """One HTTP attempt as it went over the wire, already redacted."""

    method: str
    url: str
    status: int | None
    request_headers: dict[str, str]
    response_headers: dict[str, str]
    request_body: Any
    response_body: Any
    elapsed: float
    error: str | None = None


@dataclass
class ApiResult:
    """The outcome of one logical request (all its attempts and any auth fallback)."""

    system: str
    method: str
    path: str
    status: int
    failure_class: str | None
    body: Any = field(repr=False)
    elapsed: float
    attempts: int
    waited: float
    exchanges: list[Exchange]
    mode: str = ""
    fallback_used: bool = False
    fallback_reason: str | None = None
    warnings: list[str] = field(default_factory=list)
    detail: str | None = None
    waits: list[float] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the request succeeded."""
        return self.failure_class is None

    def describe(self) -> str:
        """Return one line without secrets: method, path, status, class, attempts, waits, mode, server detail."""
        status = str(self.status) if self.status else "no response"
        outcome = self.failure_class or "ok"
        tries = f"{self.attempts} attempt" + ("" if self.attempts == 1 else "s")
        extra = f", fallback={self.fallback_reason}" if self.fallback_used else ""
        text = f"{self.method} {self.path} -> {status} {outcome} after {tries} (waited {self.waited:.1f}s, mode={self.mode or 'none'}{extra})"
        if self.detail:
            text += f": {self.detail}"
        return REDACTOR.mask(text)

    def raise_for_failure(self) -> ApiResult:
        """Return self when the request succeeded, else raise `ApiError`."""
        if not self.ok:
            raise ApiError(self)
        return self


class ApiError(ApiClientError):
    """A call that had to succeed failed; `result` holds every attempt."""

    def __init__(self, result: ApiResult) -> None:
        super().__init__(f"{result.system}: {result.describe()}")
        self.result = result


@dataclass
class PagedResult:
    """A listing gathered over several pages; stops at the first failing page."""

    items: list[Any] = field(repr=False)
    pages: list[ApiResult]
    failure: ApiResult | None = None
    truncated: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every page succeeded and the listing is complete."""
        return self.failure is None and not self.truncated

    @property
    def fallback_used(self) -> bool:
        """True when any page fell back to another auth mode."""
        return any(page.fallback_used for page in self.pages)

    def describe(self) -> str:
        """Return one line: the item and page counts, or the failing page's description."""
        if self.failure is not None:
            return f"listing failed on page {len(self.pages)}: {self.failure.describe()}"
        first = self.pages[0] if self.pages else None
        where = f"{first.method} {first.path} " if first else ""
        text = f"{where}-> {len(self.items)} items in {len(self.pages)} pages"
        if self.truncated:
            text += f" (truncated: {'; '.join(self.warnings) or 'page limit reached'})"
        return REDACTOR.mask(text)

    def raise_for_failure(self) -> PagedResult:
        """Return self when complete, else raise `ApiError` for the failing (or last) page."""
        if self.failure is not None:
            raise ApiError(self.failure)
        if self.truncated:
            raise ApiClientError(self.describe())
        return self


def collect_pages(
    fetch: Callable[[int], ApiResult],
    extract: Callable[[ApiResult, int], tuple[list[Any], int | None]],
    *,
    first_page: int = 1,
    max_pages: int = DEFAULT_MAX_PAGES,
) -> PagedResult:
    """Fetch pages from `first_page` on: `extract(result, page)` returns the items and the next page (or None).

    `extract` may mark a page failed (set its `failure_class`), e.g. when the body is not a listing.
    """
    items: list[Any] = []
    pages: list[ApiResult] = []
    page: int | None = first_page
    while page is not None:
        if len(pages) >= max_pages:
            return PagedResult(items, pages, truncated=True, warnings=[f"stopped after {max_pages} pages (max_pages)"])
        result = fetch(page)
        pages.append(result)
        if not result.ok:
            return PagedResult(items, pages, failure=result)
        page_items, next_page = extract(result, page)
        if not result.ok:  # `extract` may fail a page whose body is not a listing
            return PagedResult(items, pages, failure=result)
        items.extend(page_items)
        if next_page is not None and next_page <= page:
            # A server pointing backwards (or at the same page) would loop forever.
            return PagedResult(items, pages, truncated=True, warnings=[f"page {page} points back to page {next_page}"])
        page = next_page
    return PagedResult(items, pages)
