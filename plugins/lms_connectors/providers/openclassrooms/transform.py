"""Pure conversion of screened OpenClassrooms course records into the core's staging rows."""

from __future__ import annotations

from typing import Any

from lms_connectors.providers.openclassrooms import contract as c
from lms_connectors.rules import encodings, records


def course_row(record: dict[str, Any]) -> dict[str, Any]:
    """A typed course row from a record the guard let through.

    A value that cannot be typed within its column's range becomes None with
    a reason: this never raises for a screened record. Missing values stay
    None; the data-quality rules (``lms_connectors.rules.quality``) name those.
    """
    return records.course_row(
        provider_course_id=record.get(c.COURSE_ID),
        title=record.get(c.COURSE_TITLE),
        description=record.get(c.COURSE_DESCRIPTION),
        language=record.get(c.COURSE_LANGUAGE),
        provider_status=record.get(c.COURSE_STATUS),
        launch_url=record.get(c.COURSE_URL),
        image_url=record.get(c.COURSE_IMAGE_URL),
        duration_minutes=encodings.course_minutes(record.get(c.COURSE_DURATION)),
        updated_at=encodings.course_timestamp(record.get(c.COURSE_UPDATED_AT), "rfc3339"),
    )
