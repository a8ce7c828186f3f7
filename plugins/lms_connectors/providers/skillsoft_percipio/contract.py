"""Every path, header and field of the Skillsoft Percipio API the connector uses.

From Skillsoft's public documentation and other teams' client code: a static service-account
bearer token, a regional base URL, the catalogue paged with ``offset``/``max`` over a snapshot
(``pagingRequestId``, total in ``x-total-count``), learning activity as an asynchronous report job.
What is inferred rather than documented is marked so in ``simulator/skillsoft_percipio.yaml``, the
same contract as OpenAPI. Adapting to the live API is a change to this module.
"""

from __future__ import annotations

import re
from typing import Final

from lms_connectors.providers.paging import OffsetSnapshot
from lms_connectors.rules import records as core
from lms_connectors.rules.guard import Field, Kind, RecordSchema

# The API's host per region (the Connection's extra ``region``; ``base_url`` overrides it).
REGIONS = {"US": "https://api.percipio.com", "EU": "https://dew1-api.percipio.com"}

CATALOG_PATH = "/content-discovery/v2/organizations/{organization_id}/catalog-content"
TOTAL_HEADER = "x-total-count"
# offset/max over the snapshot the first page opens (x-paging-request-id, sent back as pagingRequestId);
# an expired snapshot is refused with 400.
PAGING = OffsetSnapshot(
    offset_param="offset",
    size_param="max",
    snapshot_param="pagingRequestId",
    snapshot_header="x-paging-request-id",
    total_header=TOTAL_HEADER,
    expired_status=400,
)
MAX_PAGE_SIZE = 1000

REPORT_PATH = "/reporting/v1/organizations/{organization_id}/report-requests/learning-activity"
REPORT_STATUS_PATH = "/reporting/v1/organizations/{organization_id}/report-requests/{request_id}"
# What a report request's id may be (Percipio answers UUIDs): it goes into a path, percent-encoded.
REPORT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
# Inferred: the request's body beside its window.
REPORT_BODY = {"contentType": "Course", "formatType": "JSON", "sort": {"field": "lastAccessDate", "order": "asc"}}
PENDING_STATUSES = frozenset({"PENDING", "IN_PROGRESS"})
# Skillsoft asks clients to come back after about 10 s (a 429 says so too).
POLL_SECONDS = 10.0
# The report wait ends with its own error well before a task's execution_timeout (60 min by default)
# would kill the task without saying why.
MAX_POLL_SECONDS = 2700.0

# lifecycle.status, lower-cased: only active content stays available in the LMS.
ACTIVE = "active"
KEPT_STATUSES = frozenset({ACTIVE})

COURSE_SCHEMA = RecordSchema(
    "course",
    (
        Field("id", Kind.LINE, 255, path=("id",)),
        # The course's own locale is the first of its locales; its first metadata entry is in it.
        Field("title", Kind.TEXT, 1_000, path=("localizedMetadata", 0, "title")),
        Field("description", Kind.TEXT, 100_000, path=("localizedMetadata", 0, "description")),
        Field("locale", Kind.LINE, 35, path=("localeCodes", 0)),
        Field("status", Kind.LINE, 64, path=("lifecycle", "status")),
        Field("retired_at", Kind.LINE, 64, path=("lifecycle", "retiredDate")),
        Field("duration", Kind.LINE, 64, path=("duration",)),
        Field("url", Kind.LINE, 2_048, path=("link",)),
        Field("image_url", Kind.LINE, 2_048, path=("imageUrl",)),
        Field("updated_at", Kind.LINE, 64, path=("lifecycle", "lastUpdatedDate")),
    ),
)

# userId: the learner's Percipio user id (their login name), an account of Percipio's.
LEARNER_ID_KIND: Final = "provider_account"

# One learner and one content over the report's window (inferred field names, see the module's doc).
ACTIVITY_SCHEMA = RecordSchema(
    "progress",
    (
        # Hashed on the way in, never stored nor shown in clear (names are not read at all).
        Field(core.LEARNER, Kind.LINE, 320, secret=True, path=("emailAddress",)),
        # The learner's Percipio login (userId): hashed like the email.
        Field(core.LEARNER_ID, Kind.LINE, 255, secret=True, path=("userId",)),
        Field(core.COURSE_ID, Kind.LINE, 255, path=("contentUuid",)),
        Field(core.PROGRESS, Kind.NUMBER, path=("percentOfBookOrVideo",)),
        # The learner's total seconds on the content, up to the report's end.
        Field(core.SECONDS_VIEWED, Kind.NUMBER, path=("duration",)),
        Field(core.STARTED_AT, Kind.LINE, 64, path=("firstAccess",)),
        Field(core.COMPLETED_AT, Kind.LINE, 64, path=("completedDate",)),
        Field(core.UPDATED_AT, Kind.LINE, 64, path=("lastAccess",)),
    ),
)
