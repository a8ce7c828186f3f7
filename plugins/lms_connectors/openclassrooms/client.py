"""Production client of the OpenClassrooms organization API.

OAuth2 client credentials with a cached token (refreshed once on
``invalid_token``), ``Range`` paging as a generator of pages with a
completeness check, and bounded retries (tenacity) for 429, 5xx, connection
resets, read timeouts, malformed or truncated bodies and pages whose range
does not add up. Each request has an overall deadline and a size cap, so a
server that trickles its answer cannot hold a task. The client secret never
appears in logs, reprs or exceptions.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import requests
import tenacity
import urllib3

from lms_connectors.errors import (
    ListingChanged,
    ProviderAuthError,
    ProviderError,
    ProviderForbiddenError,
    ProviderPagingError,
    ProviderResponseError,
    ProviderUnavailableError,
)
from lms_connectors.jsonpage import PageDecodeError, decode_array
from lms_connectors.openclassrooms import contract as c
from lms_connectors.openclassrooms.convert import format_timestamp

log = logging.getLogger(__name__)

_CONTENT_RANGE_RE = re.compile(r"^\s*items\s+(?:(\d+)-(\d+)|\*)/(\d+)\s*$")
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


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


class _TransientError(Exception):
    """A failed attempt worth repeating; ``final`` is what to raise once the attempts run out."""

    def __init__(
        self, message: str, retry_after: float | None = None, final: type[ProviderError] = ProviderUnavailableError
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.final = final


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Bounds of the retry loop: attempts, waits and total time."""

    max_attempts: int = 8
    initial_wait: float = 1.0
    max_wait: float = 60.0
    jitter: float = 1.0
    max_retry_after: float = 120.0
    max_total_seconds: float = 900.0
    # One request, from sending it to the last byte of its body.
    max_request_seconds: float = 120.0


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


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        # HTTP dates are allowed by RFC 9110; the provider sends seconds, but
        # do not fail on the other form.
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


class OpenClassroomsClient:
    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        organization_id: str,
        *,
        page_size: int = c.MAX_PAGE_SIZE,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        source: str = "OpenClassrooms",
        max_response_bytes: int = 64 * 2**20,
    ) -> None:
        if not base_url:
            raise ValueError("base_url is required")
        if not 1 <= page_size <= c.MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {c.MAX_PAGE_SIZE}, got {page_size}")
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self.organization_id = organization_id
        self.page_size = page_size
        self.timeout = (connect_timeout, read_timeout)
        self.retry = retry or RetryPolicy()
        self._session = session or requests.Session()
        self._sleep = sleep
        self._source = source
        self.max_response_bytes = max_response_bytes
        self._token: str | None = None
        self._token_expires = 0.0
        self.stats = {"requests": 0, "retries": 0, "token_fetches": 0, "pages": 0}

    def __repr__(self) -> str:
        return f"OpenClassroomsClient(base_url={self.base_url!r}, client_id={self.client_id!r}, organization_id={self.organization_id!r})"

    # --- public API -------------------------------------------------------
    def iter_course_pages(self) -> Iterator[list[dict[str, Any]]]:
        """Pages of the organization's catalogue, in provider order."""
        path = c.COURSES_PATH.format(organization_id=self.organization_id)
        yield from self._iter_pages(path, {}, "courses")

    def iter_activity_pages(self, since: dt.datetime, until: dt.datetime) -> Iterator[list[dict[str, Any]]]:
        """Pages of learning activity with ``since <= updated_at < until``."""
        if until <= since:
            raise ValueError(f"empty interval: {since} >= {until}")
        path = c.ACTIVITY_PATH.format(organization_id=self.organization_id)
        params = {c.ACTIVITY_SINCE_PARAM: format_timestamp(since), c.ACTIVITY_UNTIL_PARAM: format_timestamp(until)}
        yield from self._iter_pages(path, params, "learning activity")

    # --- paging -----------------------------------------------------------
    def _iter_pages(self, path: str, params: dict[str, str], what: str) -> Iterator[list[Any]]:
        """Pages in order. A page that is malformed or whose range does not match the request
        is requested again (bounded); a listing whose total moves raises ListingChanged."""
        start, total, read, pages = 0, None, 0, 0
        started = time.monotonic()
        while True:
            end = start + self.page_size - 1
            page = self._get(
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
        try:
            items, _ = decode_array(body)
        except PageDecodeError as exc:
            raise _TransientError(
                f"{self._source} {what}: malformed JSON in the response to GET {_path(resp.url)} ({exc})",
                final=ProviderResponseError,
            ) from None
        try:
            rng = parse_content_range(resp.headers.get(c.CONTENT_RANGE_HEADER))
        except ProviderPagingError as exc:
            raise _TransientError(str(exc), final=ProviderPagingError) from None
        if rng is None:
            if resp.status_code != 200:
                raise _TransientError(
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
            raise _TransientError(f"{self._source} {what}: {problem}", final=ProviderPagingError)
        return items, rng

    # --- requests with auth, deadlines and retries ------------------------
    def _get(
        self,
        path: str,
        params: dict[str, str],
        headers: dict[str, str],
        check: Callable[[requests.Response, bytes], Any],
    ) -> Any:
        """One logical GET: transient failures retried (bounded), the token refreshed once on 401,
        and ``check`` run on every answer inside the retry loop."""

        def attempt() -> Any:
            resp, body = self._authorized_get(path, params, headers)
            if resp.status_code == 401:
                # One refresh on an expired or revoked token, then the call again.
                self._token = None
                resp, body = self._authorized_get(path, params, headers)
                if resp.status_code == 401:
                    raise ProviderAuthError(f"{self._source}: the access token was refused twice for {_path(resp.url)}")
            if resp.status_code == 403:
                raise ProviderForbiddenError(
                    f"{self._source}: client {self.client_id!r} has no access to organization "
                    f"{self.organization_id!r} (403)"
                )
            if resp.status_code not in (200, 206, 416):
                raise ProviderResponseError(
                    f"{self._source}: unexpected status {resp.status_code} for {_path(resp.url)}"
                )
            return check(resp, body)

        return self._with_retries(attempt)

    def _authorized_get(
        self, path: str, params: dict[str, str], headers: dict[str, str]
    ) -> tuple[requests.Response, bytes]:
        token = self._access_token()
        return self._send("GET", path, params=params, headers={**headers, "Authorization": f"Bearer {token}"})

    def _access_token(self) -> str:
        # Refresh a little early so a token does not die between check and use.
        if self._token and time.monotonic() < self._token_expires - 30:
            return self._token
        resp, body = self._send(
            "POST",
            c.TOKEN_PATH,
            data={"grant_type": "client_credentials", "scope": c.TOKEN_SCOPE},
            auth=(self.client_id, self._secret),
        )
        if resp.status_code in (400, 401):
            error = _error_code(body)
            raise ProviderAuthError(
                f"{self._source} refused the client credentials for client id {self.client_id!r} "
                f"({error or resp.status_code}); check the Connection's login and password"
            )
        if resp.status_code != 200:
            raise ProviderResponseError(f"{self._source}: token endpoint answered {resp.status_code}")
        try:
            token_body = orjson.loads(body)
            self._token = str(token_body["access_token"])
            self._token_expires = time.monotonic() + float(token_body.get("expires_in", 3600))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise _TransientError(
                f"{self._source}: token response lacks access_token/expires_in", final=ProviderResponseError
            ) from exc
        self.stats["token_fetches"] += 1
        return self._token

    def _send(self, method: str, path: str, **kwargs: Any) -> tuple[requests.Response, bytes]:
        """One HTTP exchange, its body read whole within the deadline; transient failures become _TransientError."""
        self.stats["requests"] += 1
        started = time.monotonic()
        try:
            resp = self._session.request(method, self.base_url + path, timeout=self.timeout, stream=True, **kwargs)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            raise _TransientError(f"{type(exc).__name__} on {method} {path}") from None
        try:
            if resp.status_code in RETRYABLE_STATUS:
                retry_after = _retry_after_seconds(resp.headers.get("Retry-After"))
                raise _TransientError(f"HTTP {resp.status_code} on {method} {path}", retry_after)
            return resp, self._read_body(resp, started, f"{method} {path}")
        finally:
            resp.close()

    def _read_body(self, resp: requests.Response, started: float, request: str) -> bytes:
        # read1 returns what one read of the socket gives: a server that trickles its
        # body one byte at a time still reaches the deadline check between reads.
        deadline = started + self.retry.max_request_seconds
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                chunk = resp.raw.read1(65536, decode_content=True)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise _TransientError(f"{type(exc).__name__} while reading the response to {request}") from None
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > self.max_response_bytes:
                raise _TransientError(
                    f"the response to {request} exceeds {self.max_response_bytes:,} bytes", final=ProviderResponseError
                )
            if time.monotonic() > deadline:
                raise _TransientError(
                    f"the response to {request} took over {self.retry.max_request_seconds:g} s (deadline)"
                )
            chunks.append(chunk)

    def _with_retries(self, call: Callable[[], Any]) -> Any:
        policy = self.retry
        backoff = tenacity.wait_exponential_jitter(
            multiplier=policy.initial_wait, max=policy.max_wait, jitter=policy.jitter
        )

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, _TransientError) and exc.retry_after is not None:
                # Honour the server's wait, with a little jitter so parallel
                # clients do not come back in lockstep.
                return min(exc.retry_after, policy.max_retry_after) + random.uniform(0, policy.jitter * 0.1)  # noqa: S311
            return backoff(state)

        def before_sleep(state: tenacity.RetryCallState) -> None:
            self.stats["retries"] += 1
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "%s: %s; retry %d/%d in %.2f s",
                self._source,
                exc,
                state.attempt_number,
                policy.max_attempts - 1,
                state.upcoming_sleep,
            )

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_TransientError),
            wait=wait,
            stop=tenacity.stop_after_attempt(policy.max_attempts) | tenacity.stop_after_delay(policy.max_total_seconds),
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=False,
        )
        try:
            return retrying(call)
        except tenacity.RetryError as err:
            last = err.last_attempt.exception()
            final = last.final if isinstance(last, _TransientError) else ProviderUnavailableError
            raise final(
                f"{self._source} still failing after {err.last_attempt.attempt_number} attempts: {last}"
            ) from None


def _error_code(body: bytes) -> str | None:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    error = doc.get("error") if isinstance(doc, dict) else None
    return str(error)[:80] if error is not None else None


def _path(url: str) -> str:
    """The URL without its query string, which may be long and is never needed in errors."""
    return url.split("?", 1)[0]
