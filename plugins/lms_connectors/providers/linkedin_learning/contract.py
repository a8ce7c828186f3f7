"""Every path, parameter and field of the LinkedIn Learning API the connector uses.

Modelled on LinkedIn's public reference (``learningAssets`` and
``learningActivityReports``, Rest.li 2.0 on ``api.linkedin.com``): 2-legged
OAuth 2 with the client id and secret posted as a form to
``/oauth/v2/accessToken`` (on ``www.linkedin.com`` in production: the
Connection's ``token_url``), ``start``/``count`` paging answered as
``{"elements": [...], "paging": {"start", "count", "total"}}``, epoch
milliseconds, locales as language + country, durations as a value and a
unit. The simulator serves the same contract (``simulator/linkedin_learning.yaml``).
Adapting to the live API is a change to this module.
"""

from __future__ import annotations

from typing import Final

from lms_connectors.providers.paging import StartCount
from lms_connectors.rules import records as core
from lms_connectors.rules.guard import Field, Kind, RecordSchema, where

TOKEN_PATH = "/oauth/v2/accessToken"  # noqa: S105 - a path, not a secret
ASSETS_PATH = "/v2/learningAssets"
REPORTS_PATH = "/v2/learningActivityReports"
HEADERS = {"X-Restli-Protocol-Version": "2.0.0", "LinkedIn-Version": "202410"}
MAX_PAGE_SIZE = 100

# Courses, retired ones included (the connector archives them).
ASSETS_QUERY = {
    "q": "criteria",
    "assetFilteringCriteria.assetTypes[0]": "COURSE",
    "assetRetrievalCriteria.includeRetired": "true",
    "assetRetrievalCriteria.expandDepth": "1",
}
# One daily window per request: metrics per learner and course over [startedAt, startedAt + 1 day).
REPORTS_QUERY = {
    "q": "criteria",
    "aggregationCriteria.primary": "INDIVIDUAL",
    "aggregationCriteria.secondary": "CONTENT",
    "assetType": "COURSE",
    "contentSource": "ALL_SOURCES",
    "timeOffset.unit": "DAY",
    "timeOffset.duration": "1",
}
STARTED_AT_PARAM = "startedAt"

# How fresh a report's data is (epoch ms): on each element, and (inferred) in an empty report's metadata.
LATEST_DATA_AT = "latestDataAt"
ELEMENTS = "elements"
# Rest.li paging: start/count, answered with {"elements": [...], "paging": {"start", "count", "total"}}.
PAGING = StartCount(start_param="start", count_param="count", items_key=ELEMENTS, paging_key="paging")

AVAILABLE = "available"
# Minutes in one unit of details.timeToComplete.
DURATION_UNITS = {"SECOND": 1 / 60, "MINUTE": 1, "HOUR": 60, "DAY": 24 * 60, "WEEK": 7 * 24 * 60}
KEPT_STATUSES = frozenset({AVAILABLE})

COURSE_SCHEMA = RecordSchema(
    "course",
    (
        Field("id", Kind.LINE, 255, path=("urn",)),
        Field("title", Kind.TEXT, 1_000, path=("title", "value")),
        Field("description", Kind.TEXT, 100_000, path=("details", "description", "value")),
        Field("language", Kind.LINE, 35, path=("title", "locale", "language")),
        Field("availability", Kind.LINE, 64, path=("details", "availability")),
        Field("duration", Kind.NUMBER, path=("details", "timeToComplete", "duration")),
        Field("duration_unit", Kind.LINE, 16, path=("details", "timeToComplete", "unit")),
        Field("url", Kind.LINE, 2_048, path=("details", "urls", "webLaunch")),
        Field("image_url", Kind.LINE, 2_048, path=("details", "images", "primary")),
        Field("updated_at", Kind.NUMBER, path=("details", "lastUpdatedAt")),
    ),
)


def _metric(kind: str, member: str) -> tuple:
    return ("activities", where(engagementType=kind), member)


# learnerDetails.uniqueUserId: the id the enterprise gave the learner, as its single sign-on does.
LEARNER_ID_KIND: Final = "sso_subject"

# Each element is one learner and one course over the report's window.
ACTIVITY_SCHEMA = RecordSchema(
    "progress",
    (
        # Hashed on the way in, never stored nor shown in clear (learnerDetails.name is not read at all).
        Field(core.LEARNER, Kind.LINE, 320, secret=True, path=("learnerDetails", "email")),
        # The enterprise's id of the learner (set by its SSO or user sync): hashed like the email.
        Field(core.LEARNER_ID, Kind.LINE, 255, secret=True, path=("learnerDetails", "uniqueUserId")),
        Field(core.COURSE_ID, Kind.LINE, 255, path=("contentDetails", "contentUrn")),
        Field(core.PROGRESS, Kind.NUMBER, path=_metric("PROGRESS_PERCENTAGE", "engagementValue")),
        Field(core.SECONDS_VIEWED, Kind.NUMBER, path=_metric("SECONDS_VIEWED", "engagementValue")),
        # The record's moment: the learner's last engagement with the course in the window.
        Field(core.UPDATED_AT, Kind.NUMBER, path=_metric("PROGRESS_PERCENTAGE", "lastEngagedAt")),
    ),
)
