"""Every path and field name of the OpenClassrooms organization API.

Adapting to the live API should be a change to this module only. The same
contract is documented as OpenAPI in ``simulator/openclassrooms.yaml``.
"""

from __future__ import annotations

from lms_connectors.providers.paging import RangeItems
from lms_connectors.rules import records as core
from lms_connectors.rules.guard import Field, Kind, RecordSchema

TOKEN_PATH = "/oauth2/token"  # noqa: S105 - a path, not a secret
TOKEN_SCOPE = "learning_content"  # noqa: S105 - an OAuth scope name
COURSES_PATH = "/organizations/{organization_id}/courses"
ACTIVITY_PATH = "/organizations/{organization_id}/learning-activity"
ACTIVITY_SINCE_PARAM = "updated-since"
ACTIVITY_UNTIL_PARAM = "updated-until"

# Range paging: "Range: items=0-499" answered with "Content-Range: items 0-499/1234" (206), 416 past the end.
PAGING = RangeItems(range_header="Range", content_range_header="Content-Range", unit="items")
MAX_PAGE_SIZE = 500

ERROR_INVALID_CLIENT = "invalid_client"
ERROR_INVALID_TOKEN = "invalid_token"  # noqa: S105 - an OAuth error code

# Course fields.
COURSE_ID = "id"
COURSE_TITLE = "title"
COURSE_DESCRIPTION = "description"
COURSE_LANGUAGE = "language"
COURSE_STATUS = "status"
COURSE_DURATION = "duration"
COURSE_URL = "url"
COURSE_IMAGE_URL = "image_url"
COURSE_UPDATED_AT = "updated_at"

# Learning-activity fields.
ACTIVITY_LEARNER_EMAIL = "learner_email"
ACTIVITY_COURSE_ID = "course_id"
ACTIVITY_PROGRESS = "progress"
ACTIVITY_STARTED_AT = "started_at"
ACTIVITY_COMPLETED_AT = "completed_at"
ACTIVITY_UPDATED_AT = "updated_at"

# Provider statuses under which a course stays available in the LMS.
KEPT_STATUSES = frozenset({"active", "coming-soon", "pre-registration"})

# What the connector keeps of each record (lms_connectors.rules.guard): any other
# field is dropped before staging, and each value must fit its kind and cap.
COURSE_SCHEMA = RecordSchema(
    "course",
    (
        Field(COURSE_ID, Kind.LINE, 255),
        Field(COURSE_TITLE, Kind.TEXT, 1_000),
        # A description feeds the full-text index, whose entries stop at 1 MB.
        Field(COURSE_DESCRIPTION, Kind.TEXT, 100_000),
        Field(COURSE_LANGUAGE, Kind.LINE, 35),
        Field(COURSE_STATUS, Kind.LINE, 64),
        Field(COURSE_DURATION, Kind.LINE, 64),
        Field(COURSE_URL, Kind.LINE, 2_048),
        Field(COURSE_IMAGE_URL, Kind.LINE, 2_048),
        Field(COURSE_UPDATED_AT, Kind.LINE, 64),
    ),
)
# Activity fields take the core's names (lms_connectors.rules.records).
ACTIVITY_SCHEMA = RecordSchema(
    "progress",
    (
        # Hashed on the way in, never stored nor shown in clear.
        Field(core.LEARNER, Kind.LINE, 320, secret=True, path=(ACTIVITY_LEARNER_EMAIL,)),
        Field(core.COURSE_ID, Kind.LINE, 255, path=(ACTIVITY_COURSE_ID,)),
        Field(core.PROGRESS, Kind.NUMBER, path=(ACTIVITY_PROGRESS,)),
        Field(core.STARTED_AT, Kind.LINE, 64, path=(ACTIVITY_STARTED_AT,)),
        Field(core.COMPLETED_AT, Kind.LINE, 64, path=(ACTIVITY_COMPLETED_AT,)),
        Field(core.UPDATED_AT, Kind.LINE, 64, path=(ACTIVITY_UPDATED_AT,)),
    ),
)
