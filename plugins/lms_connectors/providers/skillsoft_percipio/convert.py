"""Pure conversion of screened Skillsoft Percipio records into the core's staging rows."""

from __future__ import annotations

from typing import Any

from lms_connectors.rules import encodings, records


def language(locale: Any) -> Any:
    """The ISO 639-1 language of a Percipio locale code (``fr-FR`` -> ``fr``); the quality rule
    rejects what is not one."""
    if not isinstance(locale, str):
        return locale
    return locale.strip().split("-", 1)[0].split("_", 1)[0]


def status(record: dict[str, Any]) -> Any:
    """lifecycle.status; content with a retiredDate is retired whatever its status says."""
    value = record.get("status")
    if isinstance(value, str) and value.strip().lower() == "active" and record.get("retired_at"):
        return "retired"
    return value


def course_row(record: dict[str, Any]) -> dict[str, Any]:
    """A typed course row from a record the guard let through (never raises for one).

    The language is the course's primary locale (the first of ``localeCodes``), the title and
    description its first localized metadata; a ``plannedRetirementDate`` changes nothing until
    Percipio retires the course (status RETIRED or a ``retiredDate``).
    """
    return records.course_row(
        provider_course_id=record.get("id"),
        title=record.get("title"),
        description=record.get("description"),
        language=language(record.get("locale")),
        provider_status=status(record),
        launch_url=record.get("url"),
        image_url=record.get("image_url"),
        duration_minutes=encodings.course_minutes(record.get("duration")),
        updated_at=encodings.course_timestamp(record.get("updated_at"), "rfc3339"),
    )
