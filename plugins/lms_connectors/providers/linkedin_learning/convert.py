"""Pure conversion of screened LinkedIn Learning records into the core's staging rows."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from lms_connectors import guard
from lms_connectors.providers.linkedin_learning import contract as c
from lms_connectors.records import COURSE_COLUMNS

# The quality rule's bounds of a course duration: one minute to 60 days.
MIN_DURATION_MINUTES = 1
MAX_DURATION_MINUTES = 60 * 24 * 60


def duration_minutes(value: float, unit: str) -> int:
    """Whole minutes (rounded half up) of a ``timeToComplete`` value and unit."""
    if unit not in c.DURATION_UNITS:
        raise ValueError(f"unknown duration unit {unit[:20]!r}" if unit else "a duration without a unit")
    minutes = value * c.DURATION_UNITS[unit]
    if not math.isfinite(minutes) or minutes < 0 or minutes > 10**9:
        raise ValueError(f"duration out of range: {value} {unit}")
    return math.floor(minutes + 0.5)


def from_epoch_ms(value: float) -> dt.datetime:
    """An epoch-milliseconds timestamp as an aware UTC datetime, within the guard's window."""
    moment = dt.datetime.fromtimestamp(value / 1000, dt.UTC) if abs(value) < 10**14 else None
    if moment is None or not guard.in_window(moment):
        raise ValueError(f"{value:.0f} ms is outside {guard.TIMESTAMP_MIN:%Y}-{guard.TIMESTAMP_MAX:%Y}")
    return moment


def course_row(record: dict[str, Any]) -> dict[str, Any]:
    """A typed course row from a record the guard let through (never raises for one).

    The status is the asset's availability in lower case (``available``,
    ``retired``), the language the title's locale language, the duration its
    ``timeToComplete`` in minutes.
    """
    row: dict[str, Any] = dict.fromkeys(COURSE_COLUMNS)

    def reject(reason: str, detail: str) -> None:
        if row["reject_reason"] is None:
            row["reject_reason"], row["reject_detail"] = reason, detail

    urn = record.get("id")
    row["provider_course_id"] = urn.strip() if urn and urn.strip() else None
    row["title"] = record.get("title")
    row["description"] = record.get("description") or ""
    lang = record.get("language")
    row["language"] = lang.strip().lower() if lang else None
    status = record.get("availability")
    row["provider_status"] = status.strip().lower() if status and status.strip() else None
    row["launch_url"] = record.get("url")
    row["image_url"] = record.get("image_url")
    if record.get("duration") is not None:
        try:
            # No default unit: a duration whose unit is missing or empty cannot be read.
            minutes = duration_minutes(record["duration"], record.get("duration_unit") or "")
        except ValueError as exc:
            reject("invalid_duration", str(exc))
        else:
            if MIN_DURATION_MINUTES <= minutes <= MAX_DURATION_MINUTES:
                row["duration_minutes"] = minutes
            else:
                reject("invalid_duration", f"{minutes:,} minutes, outside 1 minute to 60 days")
    if record.get("updated_at") is not None:
        try:
            row["provider_updated_at"] = from_epoch_ms(record["updated_at"])
        except (ValueError, OverflowError, OSError) as exc:
            reject("invalid_updated_at", str(exc))
    return row
