"""Pure conversion of screened provider records into typed staging rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lms_connectors import guard
from lms_connectors.providers.openclassrooms import contract as c
from lms_connectors.providers.openclassrooms.convert import duration_minutes, parse_timestamp
from lms_connectors.records import COURSE_COLUMNS

# The quality rule's bounds of a course duration: one minute to 60 days.
MIN_DURATION_MINUTES = 1
MAX_DURATION_MINUTES = 60 * 24 * 60


def course_row(record: dict[str, Any]) -> dict[str, Any]:
    """A typed course row from a record the guard let through.

    A value that cannot be typed within its column's range becomes None with
    a reason: this never raises for a screened record. Missing values stay
    None; the data-quality rules (``lms_connectors.quality``) name those.
    """
    row: dict[str, Any] = dict.fromkeys(COURSE_COLUMNS)

    def reject(reason: str, detail: str) -> None:
        if row["reject_reason"] is None:
            row["reject_reason"], row["reject_detail"] = reason, detail

    cid = record.get(c.COURSE_ID)
    row["provider_course_id"] = cid.strip() if cid and cid.strip() else None
    row["title"] = record.get(c.COURSE_TITLE)
    row["description"] = record.get(c.COURSE_DESCRIPTION) or ""
    lang = record.get(c.COURSE_LANGUAGE)
    row["language"] = lang.strip().lower() if lang else None
    status = record.get(c.COURSE_STATUS)
    row["provider_status"] = status.strip().lower() if status and status.strip() else None
    row["launch_url"] = record.get(c.COURSE_URL)
    row["image_url"] = record.get(c.COURSE_IMAGE_URL)
    row["duration_minutes"], problem = _bounded(
        record.get(c.COURSE_DURATION),
        duration_minutes,
        lambda minutes: MIN_DURATION_MINUTES <= minutes <= MAX_DURATION_MINUTES,
        "minutes, outside 1 minute to 60 days",
    )
    if problem:
        reject("invalid_duration", problem)
    row["provider_updated_at"], problem = _bounded(
        record.get(c.COURSE_UPDATED_AT),
        parse_timestamp,
        guard.in_window,
        f"outside {guard.TIMESTAMP_MIN:%Y}-{guard.TIMESTAMP_MAX:%Y}",
    )
    if problem:
        reject("invalid_updated_at", problem)
    return row


def _bounded(
    raw: Any, parse: Callable[[Any], Any], accept: Callable[[Any], bool], bounds: str
) -> tuple[Any, str | None]:
    """(the parsed value, None), or (None, why) when ``raw`` does not parse or falls outside ``bounds``."""
    if raw is None:
        return None, None
    try:
        value = parse(raw)
    except ValueError as exc:
        return None, str(exc)
    if not accept(value):
        return None, f"{raw!r} is {value}, {bounds}"
    return value, None
