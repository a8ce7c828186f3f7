"""Production client of the OpenClassrooms organization API.

OAuth2 client credentials (HTTP Basic at ``/oauth2/token``) and ``Range``
paging as a generator of pages with a completeness check, on the shared
machinery of :mod:`lms_connectors.providers.http` (token refresh, bounded
retries, per-request deadline and size cap). A page that is malformed or
does not match its range is asked again; a listing whose total moves raises
ListingChanged, and the extract step reads it again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import requests

from lms_connectors.providers.http import OAuthClient, RetryPolicy, TransientError
from lms_connectors.providers.openclassrooms import contract as c
from lms_connectors.rules.encodings import format_rfc3339
from lms_connectors.rules.errors import (
    ListingChanged,
    ProviderAuthError,
    ProviderError,
    ProviderForbiddenError,
    ProviderPagingError,
    ProviderResponseError,
    ProviderUnavailableError,
)

log = logging.getLogger(__name__)
_CONTENT_RANGE_RE = re.compile(r"^\s*items\s+(?:(\d+)-(\d+)|\*)/(\d+)\s*$")

__all__ = [
    "ContentRange",
    "ListingChanged",
    "OpenClassroomsClient",
    "ProviderAuthError",
    "ProviderError",
    "ProviderForbiddenError",
    "ProviderPagingError",
    "ProviderResponseError",
    "ProviderUnavailableError",
    "RetryPolicy",
    "parse_content_range",
]


@dataclasses.dataclass(frozen=True)
class ContentRange:
    first: int | None
    last: int | None
    total: int


def parse_content_range(value: str | None) -> ContentRange | None:
    if value is None:
        return None
    m = _CONTENT_RANGE_RE.match(value)
    if not m:
        raise ProviderPagingError(f"malformed Content-Range header: {value[:80]!r}")
    first, last, total = m.groups()
    return ContentRange(int(first) if first else None, int(last) if last else None, int(total))


class OpenClassroomsClient(OAuthClient):
    OK_STATUS = frozenset({200, 206, 416})

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        organization_id: str,
        *,
        page_size: int = c.MAX_PAGE_SIZE,
        source: str = "OpenClassrooms",
        **options: Any,
    ) -> None:
        if not 1 <= page_size <= c.MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {c.MAX_PAGE_SIZE}, got {page_size}")
        super().__init__(base_url, client_id, client_secret, source=source, **options)
        self.organization_id = organization_id
        self.page_size = page_size

    def __repr__(self) -> str:
        return (
            f"OpenClassroomsClient(base_url={self.base_url!r}, client_id={self.client_id!r}, "
            f"organization_id={self.organization_id!r})"
        )

    def token_request(self) -> tuple[str, dict[str, Any]]:
        return c.TOKEN_PATH, {
            "data": {"grant_type": "client_credentials", "scope": c.TOKEN_SCOPE},
            "auth": (self.client_id, self._secret),
        }

    def forbidden_message(self) -> str:
        return f"{self._source}: client {self.client_id!r} has no access to organization {self.organization_id!r} (403)"

    # --- public API -------------------------------------------------------
    def iter_course_pages(self) -> Iterator[list[Any]]:
        """Pages of the organization's catalogue, in provider order."""
        path = c.COURSES_PATH.format(organization_id=self.organization_id)
        yield from self._iter_pages(path, {}, "courses")

    def iter_activity_pages(self, since: dt.datetime, until: dt.datetime) -> Iterator[list[Any]]:
        """Pages of learning activity with ``since <= updated_at < until``."""
        if until <= since:
            raise ValueError(f"empty interval: {since} >= {until}")
        path = c.ACTIVITY_PATH.format(organization_id=self.organization_id)
        params = {c.ACTIVITY_SINCE_PARAM: format_rfc3339(since), c.ACTIVITY_UNTIL_PARAM: format_rfc3339(until)}
        yield from self._iter_pages(path, params, "learning activity")

    # --- paging -----------------------------------------------------------
    def _iter_pages(self, path: str, params: dict[str, str], what: str) -> Iterator[list[Any]]:
        """Pages in order. A page that is malformed or whose range does not match the request
        is requested again (bounded); a listing whose total moves raises ListingChanged."""
        start, total, read, pages = 0, None, 0, 0
        started = time.monotonic()
        while True:
            end = start + self.page_size - 1
            page = self.get(
                path,
                params,
                {c.RANGE_HEADER: f"{c.RANGE_UNIT}={start}-{end}"},
                lambda resp, body, start=start: self._check_page(resp, body, start, what),
            )
            if page is None:
                raise ListingChanged(
                    f"{self._source} {what}: the provider announced {total} items but has none from item {start} on"
                )
            items, rng = page
            if total is None:
                total = rng.total
            elif rng.total != total:
                raise ListingChanged(f"{self._source} {what}: the total changed while paging ({total} -> {rng.total})")
            if rng.first is None:
                if start:
                    raise ListingChanged(f"{self._source} {what}: the list ended at item {start} of {total}")
                break
            read += len(items)
            pages += 1
            self.stats["pages"] += 1
            if pages % 50 == 0:
                log.info(
                    "%s %s: %d/%d items read in %d pages (%.1f s)",
                    self._source,
                    what,
                    read,
                    total,
                    pages,
                    time.monotonic() - started,
                )
            yield items
            start = rng.last + 1
            if start >= total:
                break
        if read != (total or 0):
            raise ListingChanged(f"{self._source} {what}: read {read} items, the provider announced {total}")
        log.info("%s %s: %d items in %d pages (%.1f s)", self._source, what, read, pages, time.monotonic() - started)

    def _check_page(
        self, resp: requests.Response, body: bytes, start: int, what: str
    ) -> tuple[list[Any], ContentRange] | None:
        """The page's records and range, or None for 416 (nothing from ``start`` on).

        Anything wrong with this one answer is transient: the same page is asked again.
        """
        if resp.status_code == 416:
            return None
        items, _ = self.decode_page(resp, body, what)
        try:
            rng = parse_content_range(resp.headers.get(c.CONTENT_RANGE_HEADER))
        except ProviderPagingError as exc:
            raise TransientError(str(exc), final=ProviderPagingError) from None
        if rng is None:
            if resp.status_code != 200:
                raise TransientError(
                    f"{self._source} {what}: {resp.status_code} without Content-Range", final=ProviderPagingError
                )
            rng = ContentRange(0, len(items) - 1, len(items)) if items else ContentRange(None, None, 0)
        problem = None
        if rng.first is None:
            if items:
                problem = f"empty range with {len(items)} items at {start}"
        elif rng.first != start:
            problem = f"asked for items from {start}, got {rng.first}-{rng.last} (a repeated or overlapping range)"
        elif rng.last is None or rng.last < rng.first or rng.last >= rng.total:
            problem = f"range {rng.first}-{rng.last} is outside 0-{rng.total - 1}"
        elif len(items) != rng.last - rng.first + 1:
            problem = (
                f"range {rng.first}-{rng.last} announces {rng.last - rng.first + 1} items, the page holds {len(items)}"
            )
        if problem:
            raise TransientError(f"{self._source} {what}: {problem}", final=ProviderPagingError)
        return items, rng
