"""The core's names for what it stages: typed course columns, and the fields of an activity record.

A provider's activity allow-list (``Provider.activity_schema``) names its
fields with these, whatever the provider's own JSON calls them, so that one
vectorised transform serves every provider. Courses are typed by the
provider's own converter into :data:`COURSE_COLUMNS`.
"""

from __future__ import annotations

from typing import Any

# staging.courses, as every provider's course converter fills it.
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
    "reject_detail",
)

# An activity record after the guard. LEARNER is the learner's email: hashed
# on the way in, never stored.
LEARNER = "learner"
# Another id of the learner a provider's records carry (its contract says which kind of identity:
# ``Provider.learner_id_kind``): hashed on the way in like the email, never stored.
LEARNER_ID = "learner_id"
COURSE_ID = "course_id"
PROGRESS = "progress"
STARTED_AT = "started_at"
COMPLETED_AT = "completed_at"
UPDATED_AT = "updated_at"
# Seconds the provider measured (providers whose time-spent rule is "measured").
SECONDS_VIEWED = "seconds_viewed"

# The fields the transform reads from a staged record (all but the learner's email and id, hashed at extract).
ACTIVITY_FIELDS = (COURSE_ID, PROGRESS, STARTED_AT, COMPLETED_AT, UPDATED_AT, SECONDS_VIEWED)


def course_row(
    *,
    provider_course_id: Any,
    title: Any,
    description: Any,
    language: Any,
    provider_status: Any,
    launch_url: Any,
    image_url: Any,
    duration_minutes: tuple[int | None, str | None],
    updated_at: tuple[Any, str | None],
) -> dict[str, Any]:
    """The staging row of a screened course, from the values a provider's converter read.

    Ids are trimmed, languages and statuses trimmed and lower-cased; a blank value is None, which
    the data-quality rules name. ``duration_minutes`` and ``updated_at`` come typed with the problem
    that kept them from typing, if any (``lms_connectors.rules.encodings.course_minutes`` and
    ``course_timestamp``): the first problem is the row's reject reason.
    """
    row: dict[str, Any] = dict.fromkeys(COURSE_COLUMNS)
    row["provider_course_id"] = _trimmed(provider_course_id)
    row["title"] = title
    row["description"] = description or ""
    row["language"] = _code(language)
    row["provider_status"] = _code(provider_status)
    row["launch_url"] = launch_url
    row["image_url"] = image_url
    row["duration_minutes"], duration_problem = duration_minutes
    row["provider_updated_at"], updated_problem = updated_at
    for reason, problem in (("invalid_duration", duration_problem), ("invalid_updated_at", updated_problem)):
        if problem:
            row["reject_reason"], row["reject_detail"] = reason, problem
            break
    return row


def _trimmed(value: Any) -> Any:
    return value.strip() or None if isinstance(value, str) else value


def _code(value: Any) -> Any:
    value = _trimmed(value)
    return value.lower() if isinstance(value, str) else value
