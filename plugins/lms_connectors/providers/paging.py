"""Paging strategies: how a provider's listing is asked for page by page, and where a page says it sits.

A provider's contract declares one strategy, with its own parameter and header names:

- :class:`RangeItems`: a ``Range: items=a-b`` header, answered with ``Content-Range: items a-b/total``
  (``206``), ``416`` past the end; the server says which range it served, so a short page is fine;
- :class:`StartCount`: ``start``/``count`` parameters, answered with the elements and a paging
  object that echoes ``start`` and gives ``total`` (Rest.li);
- :class:`OffsetSnapshot`: ``offset``/``max`` parameters over a snapshot the first page opens (its
  id in a response header, sent back as a parameter), the total in a header; a page does not say
  where it starts, so a page that begins with the previous page's last item is an overlap.

:func:`iter_pages` reads a listing with any of them. The checks every listing gets are written once,
here: each page sits where it was asked for and holds what the total leaves (else it is asked
again, then :class:`ProviderPagingError`); a total that moves, or a listing that ends early, is
:class:`ListingChanged` (the extract reads the listing again from the start).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from lms_connectors.rules.errors import ListingChanged, ProviderPagingError

if TYPE_CHECKING:
    # Types only: a contract declares its paging without loading the HTTP stack (parse time stays light).
    import requests

    from lms_connectors.providers.http import OAuthClient

log = logging.getLogger(__name__)
# A progress line every this many pages of one listing.
LOG_EVERY_PAGES = 50
_CONTENT_RANGE_RE = re.compile(r"^\s*items\s+(?:(\d+)-(\d+)|\*)/(\d+)\s*$")


@dataclasses.dataclass(frozen=True)
class Page:
    """One answer: its items, the listing's total, where the page says it starts (when it says so)
    and the snapshot the next requests must name (when the provider opens one)."""

    items: list[Any]
    total: int
    first: int | None = None
    cursor: str | None = None


class Paging(Protocol):
    # Whether a page says where it starts (else overlaps are found by content).
    echoes_position: ClassVar[bool]
    # Whether every page but the last must be as long as asked (else the server says what it served).
    full_pages: ClassVar[bool]

    def ask(self, offset: int, size: int, cursor: str | None) -> tuple[dict[str, str], dict[str, str]]:
        """The query parameters and headers that ask for ``size`` items from ``offset``."""
        ...

    def read(self, client: OAuthClient, resp: requests.Response, body: bytes, what: str) -> Page | None:
        """The answer as a page, or None when the provider says there is nothing from there on.
        Raises TransientError (from the client's helpers) for an answer to ask again."""
        ...


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


@dataclasses.dataclass(frozen=True)
class RangeItems:
    range_header: str = "Range"
    content_range_header: str = "Content-Range"
    unit: str = "items"
    past_the_end_status: int = 416
    echoes_position: ClassVar[bool] = True
    full_pages: ClassVar[bool] = False

    def ask(self, offset: int, size: int, cursor: str | None) -> tuple[dict[str, str], dict[str, str]]:
        return {}, {self.range_header: f"{self.unit}={offset}-{offset + size - 1}"}

    def read(self, client: OAuthClient, resp: requests.Response, body: bytes, what: str) -> Page | None:
        if resp.status_code == self.past_the_end_status:
            return None
        items, _ = client.decode_page(resp, body, what)
        try:
            rng = parse_content_range(resp.headers.get(self.content_range_header))
        except ProviderPagingError as exc:
            raise client.page_fault(what, str(exc)) from None
        if rng is None:
            if resp.status_code != 200:
                raise client.page_fault(what, f"{resp.status_code} without {self.content_range_header}")
            # A server that ignores Range answers the whole listing at once.
            return Page(items, len(items), 0 if items else None)
        problem = None
        if rng.first is None:
            if items:
                problem = f"empty range with {len(items)} items"
        elif rng.last is None or rng.last < rng.first or rng.last >= rng.total:
            problem = f"range {rng.first}-{rng.last} is outside 0-{rng.total - 1}"
        elif len(items) != rng.last - rng.first + 1:
            problem = (
                f"range {rng.first}-{rng.last} announces {rng.last - rng.first + 1} items, the page holds {len(items)}"
            )
        if problem:
            raise client.page_fault(what, problem)
        return Page(items, rng.total, rng.first)


@dataclasses.dataclass(frozen=True)
class StartCount:
    start_param: str = "start"
    count_param: str = "count"
    items_key: str = "elements"
    paging_key: str = "paging"
    echoes_position: ClassVar[bool] = True
    full_pages: ClassVar[bool] = True

    def ask(self, offset: int, size: int, cursor: str | None) -> tuple[dict[str, str], dict[str, str]]:
        return {self.start_param: str(offset), self.count_param: str(size)}, {}

    def read(self, client: OAuthClient, resp: requests.Response, body: bytes, what: str) -> Page | None:
        elements, others = client.decode_page(resp, body, what, self.items_key)
        paging = others.get(self.paging_key)
        if not isinstance(paging, dict) or not all(type(paging.get(k)) is int for k in ("start", "count", "total")):
            raise client.page_fault(what, "the page has no valid paging")
        return Page(elements, paging["total"], paging["start"])


@dataclasses.dataclass(frozen=True)
class OffsetSnapshot:
    offset_param: str = "offset"
    size_param: str = "max"
    snapshot_param: str = "pagingRequestId"
    snapshot_header: str = "x-paging-request-id"
    total_header: str = "x-total-count"
    # How the provider refuses a snapshot it no longer holds.
    expired_status: int = 400
    echoes_position: ClassVar[bool] = False
    full_pages: ClassVar[bool] = True

    def ask(self, offset: int, size: int, cursor: str | None) -> tuple[dict[str, str], dict[str, str]]:
        params = {self.offset_param: str(offset), self.size_param: str(size)}
        if cursor is not None:
            params[self.snapshot_param] = cursor
        return params, {}

    def read(self, client: OAuthClient, resp: requests.Response, body: bytes, what: str) -> Page | None:
        if resp.status_code == self.expired_status:
            from lms_connectors.providers.http import error_message  # loaded by the client already

            raise ListingChanged(
                f"{client.source} {what}: the snapshot was refused ({error_message(body)}); reading again"
            )
        items, _ = client.decode_page(resp, body, what)
        try:
            total = int(resp.headers[self.total_header])
        except (KeyError, ValueError):
            raise client.page_fault(what, f"the page has no valid {self.total_header}") from None
        return Page(items, total, cursor=resp.headers.get(self.snapshot_header))


_NOTHING = object()


class _Ahead:
    """Pages asked before the reader needs them: at most ``width`` (the client's
    ``concurrent_requests``), at the offsets the last page's length predicts, each in a thread of its own.

    The threads are daemons and stop at their next attempt once the reader has gone (``abandoned``):
    a task that fails or a connection test that reads one page is never held by pages it will not read.
    """

    def __init__(self, fetch: Callable[[int, Any, threading.Event], Page | None], width: int, total: int) -> None:
        self._fetch, self._width, self._total = fetch, width, total
        self._abandoned = threading.Event()
        self._asked: dict[int, Future[Page | None]] = {}

    def take(self, offset: int, step: int, previous: Any) -> Page | None:
        """The page from ``offset``, with the next ones asked meanwhile, ``step`` items apart (the
        last page's length: a server that serves fewer items than asked is followed, not asked
        again and again from offsets it will not start at).

        One page at a time, the page is asked knowing ``previous`` (the item before it), so an
        overlap is caught inside that request's retries, as before pages were read ahead."""
        if self._width == 1:
            return self._fetch(offset, previous, self._abandoned)
        window = range(offset, min(self._total, offset + self._width * step), step)
        # A short page moves the offsets: what was asked from elsewhere is never read, so not kept.
        for stale in self._asked.keys() - set(window):
            del self._asked[stale]
        for o in window:
            if o not in self._asked:
                self._asked[o] = self._ask(o)
        return self._asked.pop(offset).result()

    def _ask(self, offset: int) -> Future[Page | None]:
        future: Future[Page | None] = Future()

        def run() -> None:
            try:
                future.set_result(self._fetch(offset, _NOTHING, self._abandoned))
            except BaseException as exc:  # handed to the reader, who raises it where it reads the page
                future.set_exception(exc)

        threading.Thread(target=run, name=f"page-ahead-{offset}", daemon=True).start()
        return future

    def close(self) -> None:
        self._abandoned.set()
        self._asked.clear()


def iter_pages(
    client: OAuthClient,
    paging: Paging,
    path: str,
    params: dict[str, str],
    headers: dict[str, str],
    what: str,
    page_size: int,
) -> Iterator[list[Any]]:
    """A listing's pages in order, each checked (see the module's docstring).

    The first page is asked alone (it gives the total and any snapshot); then up to the client's
    ``concurrent_requests`` pages are in flight while the caller reads, and yielded in order: the same
    pages as one request at a time."""

    def fetch(
        offset: int, total: int | None, cursor: str | None, previous: Any, abandoned: threading.Event | None = None
    ) -> Page | None:
        asked_params, asked_headers = paging.ask(offset, page_size, cursor)
        return client.get(
            path,
            {**params, **asked_params},
            {**headers, **asked_headers},
            lambda resp, body: _checked(
                client, paging, paging.read(client, resp, body, what), what, offset, total, previous, page_size
            ),
            abandoned,
        )

    started = time.monotonic()
    page = fetch(0, None, None, _NOTHING)
    if page is None or page.total == 0:
        log.info("%s %s: no items (%.1f s)", client.source, what, time.monotonic() - started)
        return
    total, cursor = page.total, page.cursor
    # A page asked ahead cannot know the item before it: an overlap is found on reading it, and that
    # page asked again (with the check inside the retries).
    ahead = _Ahead(lambda o, before, gone: fetch(o, total, cursor, before, gone), client.concurrent_requests, total)
    offset, pages = 0, 0
    try:
        while True:
            if page is None or not page.items:
                raise ListingChanged(
                    f"{client.source} {what}: the provider announced {total} items but has none from item {offset} on"
                )
            pages += 1
            client.count("pages")
            if pages % LOG_EVERY_PAGES == 0:
                elapsed = time.monotonic() - started
                log.info(
                    "%s %s: %d/%d items read in %d pages (%.1f s)", client.source, what, offset, total, pages, elapsed
                )
            yield page.items
            offset += len(page.items)
            if offset >= total:
                break
            previous = page.items[-1]
            page = ahead.take(offset, len(page.items), previous)
            if page is not None and _overlaps(paging, page, previous):
                page = fetch(offset, total, cursor, previous)
    finally:
        ahead.close()
    log.info("%s %s: %d items in %d pages (%.1f s)", client.source, what, offset, pages, time.monotonic() - started)


def _overlaps(paging: Paging, page: Page, previous: Any) -> bool:
    """Whether a page that does not say where it starts begins with the previous page's last item."""
    return not paging.echoes_position and bool(page.items) and page.items[0] == previous


def _checked(
    client: OAuthClient,
    paging: Paging,
    page: Page | None,
    what: str,
    offset: int,
    total: int | None,
    previous: Any,
    size: int,
) -> Page | None:
    """The page, if it sits where it was asked for; anything wrong with this one answer is asked again."""
    if page is None:
        return None
    if total is not None and page.total != total:
        raise ListingChanged(f"{client.source} {what}: the total changed while paging ({total} -> {page.total})")
    expected = max(0, min(size, page.total - offset))
    problem = None
    if paging.echoes_position and page.items and page.first != offset:
        problem = f"asked for items from {offset}, got a page from {page.first} (a repeated or overlapping range)"
    elif len(page.items) > expected or (paging.full_pages and len(page.items) != expected):
        problem = f"the page from {offset} holds {len(page.items)} items, {expected} expected of {page.total}"
    elif previous is not _NOTHING and _overlaps(paging, page, previous):
        problem = f"the page from {offset} starts with the previous page's last item (an overlapping page)"
    if problem:
        raise client.page_fault(what, problem)
    return page
