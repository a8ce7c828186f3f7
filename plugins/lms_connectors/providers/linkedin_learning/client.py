"""Production client of the LinkedIn Learning API (``learningAssets``, ``learningActivityReports``).

2-legged OAuth 2 (client credentials posted as a form) and Rest.li ``start``/``count`` paging
(declared in the contract, read by :mod:`lms_connectors.providers.paging`), on the shared
machinery of :mod:`lms_connectors.providers.http` (token refresh, bounded retries, per-request
deadline and size cap). Learning activity is requested one UTC day at a time, so a record's
metrics are those of its day.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from typing import Any

import requests

from lms_connectors.providers import paging
from lms_connectors.providers.http import OAuthClient, check_endpoint
from lms_connectors.providers.linkedin_learning import contract as c

log = logging.getLogger(__name__)
DAY = dt.timedelta(days=1)


class LinkedInLearningClient(OAuthClient):
    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        token_url: str | None = None,
        page_size: int = c.MAX_PAGE_SIZE,
        source: str = "LinkedIn Learning",
        **options: Any,
    ) -> None:
        if not 1 <= page_size <= c.MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {c.MAX_PAGE_SIZE}, got {page_size}")
        super().__init__(base_url, client_id, client_secret, source=source, **options)
        self.token_url = token_url or self.base_url + c.TOKEN_PATH
        check_endpoint(self.token_url, f"{source}: token_url", self.plain_http_hosts)
        self.page_size = page_size

    def token_request(self) -> tuple[str, dict[str, Any]]:
        return self.token_url, {
            "data": {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self._secret}
        }

    def forbidden_message(self) -> str:
        return f"{self._source}: client {self.client_id!r} may not read LinkedIn Learning reports or assets (403)"

    # --- public API -------------------------------------------------------
    def iter_course_pages(self) -> Iterator[list[Any]]:
        """Pages of the account's courses (retired ones included)."""
        yield from self._pages(c.ASSETS_PATH, c.ASSETS_QUERY, "learning assets")

    def iter_activity_pages(self, since: dt.datetime, until: dt.datetime) -> Iterator[list[Any]]:
        """Pages of activity reports for each UTC day of [since, until), in day order."""
        if until <= since:
            raise ValueError(f"empty interval: {since} >= {until}")
        if (until - since) % DAY or since.astimezone(dt.UTC).timetz() != dt.time(tzinfo=dt.UTC):
            raise ValueError("LinkedIn Learning activity is read by whole UTC days")
        day = since
        while day < until:
            yield from self._pages(c.REPORTS_PATH, _day_query(day), f"activity reports of {day:%Y-%m-%d}")
            day += DAY

    def activity_covered_until(self, since: dt.datetime, until: dt.datetime) -> dt.datetime | None:
        """Until when LinkedIn's reports hold the interval's activity: the ``latestDataAt`` of the
        last day's report (its first element, else its ``metadata``), or None when it says nothing."""
        day = until - DAY
        params = {**_day_query(day), "start": "0", "count": "1"}
        latest = self.get(c.REPORTS_PATH, params, c.HEADERS, self._latest_data_at)
        return None if latest is None else dt.datetime.fromtimestamp((latest + 1) / 1000, dt.UTC)

    def _pages(self, path: str, query: dict[str, str], what: str) -> Iterator[list[Any]]:
        return paging.iter_pages(self, c.PAGING, path, query, c.HEADERS, what, self.page_size)

    def _latest_data_at(self, resp: requests.Response, body: bytes) -> int | None:
        elements, others = self.decode_page(resp, body, "activity report", c.ELEMENTS)
        found = [e.get(c.LATEST_DATA_AT) for e in elements[:1] if isinstance(e, dict)]
        metadata = others.get("metadata")
        if isinstance(metadata, dict):
            found.append(metadata.get(c.LATEST_DATA_AT))
        stamps = [v for v in found if type(v) is int and 0 < v < 10**14]
        return min(stamps) if stamps else None


def _day_query(day: dt.datetime) -> dict[str, str]:
    """The report query of the UTC day starting at ``day``."""
    return {**c.REPORTS_QUERY, c.STARTED_AT_PARAM: str(int(day.timestamp() * 1000))}
