"""Reading a provider listing into staging, again from the start when it changed under us.

A page that is malformed or does not match its request is asked again by the
client. A listing whose total moves while it is read (records added or
removed between two pages) cannot be mended page by page: the extract step
rolls its staging transaction back and reads the whole listing again, a
bounded number of times.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from lms_connectors.rules.errors import ListingChanged

log = logging.getLogger(__name__)
ATTEMPTS = 3

Pages = Iterable[list[Any]]


def restarting(
    stage: Callable[[Pages], int],
    pages: Callable[[], Pages] | Pages,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Run ``stage`` (one transaction over the pages) until the listing reads whole.

    ``pages`` is a factory of page iterators (the client's ``iter_*_pages``);
    a plain iterable cannot be read twice, so it gets one attempt.
    """
    if not callable(pages):
        return stage(pages)
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return stage(pages())
        except ListingChanged as exc:
            if attempt == ATTEMPTS:
                raise
            log.warning("%s changed while it was read (%s); reading it again (%d/%d)", what, exc, attempt + 1, ATTEMPTS)
            sleep(min(2.0**attempt, 30.0))
    raise AssertionError("unreachable")
