"""The core's names for what it stages: typed course columns, and the fields of an activity record.

A provider's activity allow-list (``Provider.activity_schema``) names its
fields with these, whatever the provider's own JSON calls them, so that one
vectorised transform serves every provider. Courses are typed by the
provider's own converter into :data:`COURSE_COLUMNS`.
"""

from __future__ import annotations

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
COURSE_ID = "course_id"
PROGRESS = "progress"
STARTED_AT = "started_at"
COMPLETED_AT = "completed_at"
UPDATED_AT = "updated_at"
# Seconds the provider measured (providers whose time-spent rule is "measured").
SECONDS_VIEWED = "seconds_viewed"

# The fields the transform reads from a staged record (all but the learner, hashed at extract).
ACTIVITY_FIELDS = (COURSE_ID, PROGRESS, STARTED_AT, COMPLETED_AT, UPDATED_AT, SECONDS_VIEWED)
