"""Production client of the Skillsoft Percipio API: the catalogue and the learning-activity report.

A static service-account bearer token (never refreshed: a 401 fails at once), on the shared
machinery of :mod:`lms_connectors.providers.http` (bounded retries honouring ``Retry-After``,
per-request deadline and size cap, same-origin redirects only).

The catalogue is read with ``offset``/``max`` over the snapshot its first page opens (declared in
the contract, read by :mod:`lms_connectors.providers.paging`): a snapshot that expires or whose
total moves raises ListingChanged, and the extract step reads the catalogue again.

Learning activity is a report job: the request is posted, then polled (``poll_seconds`` apart, for
at most ``max_poll_seconds``) until the answer is the report, whose record count is checked against
its ``x-total-count``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import requests

from lms_connectors.providers import paging
from lms_connectors.providers.http import OAuthClient, TransientError, error_message, json_or_none
from lms_connectors.providers.skillsoft_percipio import contract as c
from lms_connectors.rules.encodings import format_rfc3339
from lms_connectors.rules.errors import (
    ProviderPagingError,
    ProviderResponseError,
    ProviderUnavailableError,
)

log = logging.getLogger(__name__)


class PercipioClient(OAuthClient):
    STATIC_TOKEN = True
    # 400 answers an expired pagingRequestId: the catalogue is read again from a new snapshot.
    OK_STATUS = frozenset({200, 202, 400})

    def __init__(
        self,
        base_url: str,
        token: str,
        organization_id: str,
        *,
        page_size: int = c.MAX_PAGE_SIZE,
        poll_seconds: float = c.POLL_SECONDS,
        max_poll_seconds: float = c.MAX_POLL_SECONDS,
        source: str = "Skillsoft Percipio",
        **options: Any,
    ) -> None:
        if not 1 <= page_size <= c.MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {c.MAX_PAGE_SIZE}, got {page_size}")
        super().__init__(base_url, "service account", token, source=source, **options)
        self.organization_id = organization_id
        self.page_size = page_size
        self.poll_seconds = poll_seconds
        self.max_poll_seconds = max_poll_seconds

    def __repr__(self) -> str:
        return f"PercipioClient(base_url={self.base_url!r}, organization_id={self.organization_id!r})"

    def forbidden_message(self) -> str:
        return f"{self._source}: the service account has no access to organization {self.organization_id!r} (403)"

    # --- the catalogue ----------------------------------------------------
    def iter_course_pages(self) -> Iterator[list[Any]]:
        """Pages of the organization's catalogue, from one snapshot."""
        path = c.CATALOG_PATH.format(organization_id=self.organization_id)
        yield from paging.iter_pages(self, c.PAGING, path, {}, {}, "catalogue", self.page_size)

    # --- learning activity ------------------------------------------------
    def iter_activity_pages(self, since: dt.datetime, until: dt.datetime) -> Iterator[list[Any]]:
        """The learning-activity report of [since, until): requested, polled, then read as one page."""
        if until <= since:
            raise ValueError(f"empty interval: {since} >= {until}")
        org = self.organization_id
        body = {"start": format_rfc3339(since), "end": format_rfc3339(until), **c.REPORT_BODY}
        # A report job is created by each POST: sent again only if Percipio surely did not take it.
        request_id = self.request(
            "POST", c.REPORT_PATH.format(organization_id=org), self._check_submitted, json=body, idempotent=False
        )
        status_path = c.REPORT_STATUS_PATH.format(organization_id=org, request_id=quote(request_id, safe=""))
        waited = 0.0
        while (report := self.get(status_path, {}, {}, self._check_report)) is None:
            if waited >= self.max_poll_seconds:
                raise ProviderUnavailableError(
                    f"{self._source}: the learning-activity report {request_id} was not ready after "
                    f"{waited:g} s (max_poll_seconds)"
                )
            self._sleep(self.poll_seconds)
            waited += self.poll_seconds
        self.count("pages")
        log.info(
            "%s learning activity %s: %d records (report %s)",
            self._source,
            f"{since:%Y-%m-%d}",
            len(report),
            request_id,
        )
        yield report

    def _check_submitted(self, resp: requests.Response, body: bytes) -> str:
        doc = json_or_none(body)
        if doc is None and resp.status_code != 400:
            raise TransientError(
                f"{self._source}: malformed JSON in the answer to the report request", final=ProviderResponseError
            )
        if resp.status_code == 400 or not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
            raise ProviderResponseError(
                f"{self._source}: the report request was refused or gave no id ({error_message(body)})"
            )
        # The id goes into the path of every poll with the token: an id that is not one (a "../", a
        # URL) must not reach another endpoint.
        if not c.REPORT_ID.fullmatch(doc["id"]):
            raise ProviderResponseError(
                f"{self._source}: the report request answered an id that is not a report id: {doc['id'][:60]!r}"
            )
        return doc["id"]

    def _check_report(self, resp: requests.Response, body: bytes) -> list[Any] | None:
        """The report's records, or None while the request is pending."""
        if resp.status_code == 400:
            raise ProviderResponseError(f"{self._source}: the report request failed ({error_message(body)})")
        if body.lstrip()[:1] == b"{":
            doc = json_or_none(body)
            if doc is None:
                raise TransientError(
                    f"{self._source}: malformed JSON in the report request's status", final=ProviderResponseError
                )
            status = doc.get("status") if isinstance(doc, dict) else None
            if status in c.PENDING_STATUSES:
                return None
            raise ProviderResponseError(f"{self._source}: the report request ended as {str(status)[:40]!r}")
        records, _ = self.decode_page(resp, body, "learning-activity report")
        announced = resp.headers.get(c.TOTAL_HEADER)
        if announced is not None and announced.isdigit() and int(announced) != len(records):
            raise TransientError(
                f"{self._source} learning-activity report: {len(records)} records, {announced} announced",
                final=ProviderPagingError,
            )
        return records
