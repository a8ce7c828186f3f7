"""Production client of the OpenClassrooms organization API.

OAuth2 client credentials (HTTP Basic at ``/oauth2/token``) and ``Range`` paging (declared in
the contract, read by :mod:`lms_connectors.providers.paging`), on the shared machinery of
:mod:`lms_connectors.providers.http` (token refresh, bounded retries, per-request deadline and
size cap).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from typing import Any

from lms_connectors.providers import paging
from lms_connectors.providers.http import OAuthClient, RetryPolicy
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

__all__ = [
    "ListingChanged",
    "OpenClassroomsClient",
    "ProviderAuthError",
    "ProviderError",
    "ProviderForbiddenError",
    "ProviderPagingError",
    "ProviderResponseError",
    "ProviderUnavailableError",
    "RetryPolicy",
]


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
        yield from paging.iter_pages(self, c.PAGING, path, {}, {}, "courses", self.page_size)

    def iter_activity_pages(self, since: dt.datetime, until: dt.datetime) -> Iterator[list[Any]]:
        """Pages of learning activity with ``since <= updated_at < until``."""
        if until <= since:
            raise ValueError(f"empty interval: {since} >= {until}")
        path = c.ACTIVITY_PATH.format(organization_id=self.organization_id)
        params = {c.ACTIVITY_SINCE_PARAM: format_rfc3339(since), c.ACTIVITY_UNTIL_PARAM: format_rfc3339(until)}
        yield from paging.iter_pages(self, c.PAGING, path, params, {}, "learning activity", self.page_size)
