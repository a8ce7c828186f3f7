"""Pure conversion of provider records into typed staging rows."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from lms_connectors.openclassrooms import contract as c
from lms_connectors.openclassrooms.convert import duration_minutes, parse_timestamp

_LANG_RE = re.compile(r"^[a-z]{2}$")

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
    """A typed course row; ``reject_reason`` names the first rule it breaks (None = valid)."""
    row: dict[str, Any] = dict.fromkeys(COURSE_COLUMNS)
    if not isinstance(record, dict):
        row["reject_reason"] = "not_an_object"
        return row
    cid = _text(record, c.COURSE_ID)
    row["provider_course_id"] = cid.strip() if cid and cid.strip() else None
    row["title"] = _text(record, c.COURSE_TITLE)
    row["description"] = _text(record, c.COURSE_DESCRIPTION) or ""
    lang = _text(record, c.COURSE_LANGUAGE)
    row["language"] = lang.strip().lower() if lang else None
    status = _text(record, c.COURSE_STATUS)
    row["provider_status"] = status.strip().lower() if status else None
    row["launch_url"] = _text(record, c.COURSE_URL)
    row["image_url"] = _text(record, c.COURSE_IMAGE_URL)
    reason = None
    try:
        row["duration_minutes"] = duration_minutes(record.get(c.COURSE_DURATION))
    except ValueError:
        reason = "invalid_duration"
    updated: dt.datetime | None = None
    raw_updated = record.get(c.COURSE_UPDATED_AT)
    if raw_updated is not None:
        try:
            updated = parse_timestamp(str(raw_updated))
        except ValueError:
            reason = reason or "invalid_updated_at"
    row["provider_updated_at"] = updated
    if row["provider_course_id"] is None:
        reason = "missing_id"
    elif not row["title"] or not row["title"].strip():
        reason = "missing_title"
    elif not row["language"] or not _LANG_RE.match(row["language"]):
        reason = "invalid_language"
    elif not row["provider_status"]:
        reason = "missing_status"
    elif not row["launch_url"]:
        reason = "missing_url"
    elif reason is None and row["duration_minutes"] is not None and row["duration_minutes"] <= 0:
        reason = "invalid_duration"
    row["reject_reason"] = reason
    return row
