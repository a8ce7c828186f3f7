"""Pure conversion of screened LinkedIn Learning records into the core's staging rows."""

from __future__ import annotations

import math
from typing import Any

from lms_connectors.providers.linkedin_learning import contract as c
from lms_connectors.rules import encodings, records


def duration_minutes(amount: float, unit: str) -> int:
    """Whole minutes (rounded half up) of a ``timeToComplete`` value and unit."""
    if unit not in c.DURATION_UNITS:
        raise ValueError(f"unknown duration unit {unit[:20]!r}" if unit else "a duration without a unit")
    minutes = amount * c.DURATION_UNITS[unit]
    if not math.isfinite(minutes) or minutes < 0 or minutes > 10**9:
        raise ValueError(f"duration out of range: {amount} {unit}")
    return math.floor(minutes + 0.5)


def course_row(record: dict[str, Any]) -> dict[str, Any]:
    """A typed course row from a record the guard let through (never raises for one).

    The status is the asset's availability in lower case (``available``,
    ``retired``), the language the title's locale language, the duration its
    ``timeToComplete`` in minutes.
    """
    duration = record.get("duration")
    # No default unit: a duration whose unit is missing or empty cannot be read.
    timed = None if duration is None else (duration, record.get("duration_unit") or "")
    return records.course_row(
        provider_course_id=record.get("id"),
        title=record.get("title"),
        description=record.get("description"),
        language=record.get("language"),
        provider_status=record.get("availability"),
        launch_url=record.get("url"),
        image_url=record.get("image_url"),
        duration_minutes=encodings.course_minutes(timed, lambda pair: duration_minutes(*pair)),
        updated_at=encodings.course_timestamp(record.get("updated_at"), "epoch_ms"),
    )
