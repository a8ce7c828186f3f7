"""LinkedIn Learning: ``learningAssets`` and ``learningActivityReports`` with 2-legged OAuth 2.

Catalogue: courses of the account's ``learningAssets`` (availability
AVAILABLE is kept; RETIRED archives the course). Learning activity: daily
``learningActivityReports`` aggregated by learner and course, whose seconds
viewed are measured by LinkedIn: time spent is their sum over the days the
warehouse holds (the "measured" rule), not duration x progress. Contract:
``simulator/linkedin_learning.yaml``. Connection: login = client id,
password = client secret, extra ``base_url`` (API) and optional
``token_url`` (production: https://www.linkedin.com/oauth/v2/accessToken).
"""

from __future__ import annotations

from typing import Any

from lms_connectors.providers import ConnectionLike, FormField, Provider, ProviderClient
from lms_connectors.providers.linkedin_learning import contract


class LinkedInLearning(Provider):
    name = "linkedin_learning"
    label = "LinkedIn Learning"
    course_schema = contract.COURSE_SCHEMA
    activity_schema = contract.ACTIVITY_SCHEMA
    learner_id_kind = contract.LEARNER_ID_KIND
    kept_statuses = contract.KEPT_STATUSES
    url_hosts = ("linkedin.com", "licdn.com")
    # Live learningAssets pages serve images.primary from cdn.lynda.com (the Lynda heritage).
    image_hosts = ("lynda.com",)
    activity_timestamps = "epoch_ms"
    time_spent_rule = "measured"
    # Reports say how fresh they are (latestDataAt): a day is loaded once LinkedIn's data covers it.
    freshness = "reported"
    # LinkedIn's token endpoint is on another host than its API in production.
    optional_extras = ("token_url",)
    endpoint_extras = ("base_url", "token_url", "plain_http_hosts")
    connection_form = {  # noqa: RUF012 - a declaration, never mutated
        "base_url": FormField("API base URL", "https://api.linkedin.com"),
        "token_url": FormField(
            "Token URL",
            "https://www.linkedin.com/oauth/v2/accessToken",
            "Empty: the API base URL's /oauth/v2/accessToken",
        ),
    }
    lineage_paths = {"catalogue": contract.ASSETS_PATH, "activity": contract.REPORTS_PATH}  # noqa: RUF012

    def client_from_connection(self, conn: ConnectionLike, **overrides: Any) -> ProviderClient:
        from lms_connectors.providers.linkedin_learning.client import LinkedInLearningClient

        self.require(conn)
        options = self.client_options(conn, overrides, page_size=contract.MAX_PAGE_SIZE, token_url=None)
        return LinkedInLearningClient(self.base_url(conn), str(conn.login), str(conn.password), **options)

    def course_row(self, record: dict[str, Any]) -> dict[str, Any]:
        from lms_connectors.providers.linkedin_learning.convert import course_row

        return course_row(record)


PROVIDER = LinkedInLearning()
