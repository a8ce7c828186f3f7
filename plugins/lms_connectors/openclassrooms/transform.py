"""Pure conversion of provider records into typed staging rows."""

from __future__ import annotations

from typing import Any

from lms_connectors.openclassrooms import contract as c
from lms_connectors.openclassrooms.convert import duration_minutes, parse_timestamp

COURSE_COLUMNS = (
    "provider_course_id",
    "title",
    "description",
    "language",
    "provider_status",
    "duration_minutes",
    "launch_url",
    "image_url",
    "provider_updated_at",
    "reject_reason",
)


def _text(record: dict[str, Any], field: str) -> str | None:
    value = record.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        value = str(value)
    return value


def course_row(record: Any) -> dict[str, Any]:
    """A typed course row; a value that cannot be converted becomes None.

    Whether the row is acceptable is decided by the data-quality rules
    (``lms_connectors.quality``), which then fill ``reject_reason``.
    """
    row: dict[str, Any] = dict.fromkeys(COURSE_COLUMNS)
    if not isinstance(record, dict):
        return row
    cid = _text(record, c.COURSE_ID)
    row["provider_course_id"] = cid.strip() if cid and cid.strip() else None
    row["title"] = _text(record, c.COURSE_TITLE)
    row["description"] = _text(record, c.COURSE_DESCRIPTION) or ""
    lang = _text(record, c.COURSE_LANGUAGE)
    row["language"] = lang.strip().lower() if lang else None
    status = _text(record, c.COURSE_STATUS)
    row["provider_status"] = status.strip().lower() if status and status.strip() else None
    row["launch_url"] = _text(record, c.COURSE_URL)
    row["image_url"] = _text(record, c.COURSE_IMAGE_URL)
    try:
        row["duration_minutes"] = duration_minutes(record.get(c.COURSE_DURATION))
    except ValueError:
        row["duration_minutes"] = None
    raw_updated = record.get(c.COURSE_UPDATED_AT)
    try:
        row["provider_updated_at"] = parse_timestamp(str(raw_updated)) if raw_updated is not None else None
    except ValueError:
        row["provider_updated_at"] = None
    return row
