"""Skillsoft Percipio: the catalogue over a paging snapshot, learning activity as a report job.

A static service-account bearer token (the Connection's password) on a regional host (extra
``region``: ``US`` for https://api.percipio.com, ``EU`` for https://dew1-api.percipio.com; or
``base_url``), extra ``organization_id``. Courses whose lifecycle is ACTIVE are kept; RETIRED ones
(or with a ``retiredDate``) are archived. A course the catalogue stops listing stays as it was:
Percipio retires content explicitly, and 360Learning's own Skillsoft connector keeps such courses.
Time spent is the learner's total the report gives (``duration``, seconds), as last reported.
Contract: ``simulator/skillsoft_percipio.yaml``.
"""

from __future__ import annotations

from typing import Any

from lms_connectors.providers import ConnectionLike, FormField, Provider, ProviderClient, base_url_of
from lms_connectors.providers.skillsoft_percipio import contract
from lms_connectors.rules.errors import ConnectionConfigError


class SkillsoftPercipio(Provider):
    name = "skillsoft_percipio"
    label = "Skillsoft Percipio"
    course_schema = contract.COURSE_SCHEMA
    activity_schema = contract.ACTIVITY_SCHEMA
    learner_id_kind = contract.LEARNER_ID_KIND
    kept_statuses = contract.KEPT_STATUSES
    url_hosts = ("percipio.com",)
    activity_timestamps = "rfc3339"
    time_spent_rule = "reported_total"
    removed_courses = "keep"
    credentials = "token"
    connection_extras = ("organization_id",)
    optional_extras = ("region", "poll_seconds", "max_poll_seconds")
    endpoint_extras = ("base_url", "region", "plain_http_hosts")
    # Percipio rate-limits its API (clients are told to retry a 429 after about 10 s) without saying at
    # what rate, and only the catalogue is paged (the activity is one report): two pages at a time.
    concurrent_requests = 2
    connection_form = {  # noqa: RUF012 - a declaration, never mutated
        "organization_id": FormField("Organization ID", description="Your organization's UUID in Percipio"),
        "region": FormField(
            "API region", description="US or EU; or set the API base URL", choices=tuple(contract.REGIONS)
        ),
        "base_url": FormField("API base URL", "https://api.percipio.com", "Empty: the region's host"),
        "poll_seconds": FormField(
            "Report poll interval (s)",
            f"{contract.POLL_SECONDS:g}",
            f"Seconds between two checks of a learning-activity report job (default {contract.POLL_SECONDS:g})",
            number=True,
        ),
        "max_poll_seconds": FormField(
            "Report wait limit (s)",
            f"{contract.MAX_POLL_SECONDS:g}",
            f"How long a run waits for its report before failing (default {contract.MAX_POLL_SECONDS:g}, "
            "inside the task's 60-minute timeout)",
            number=True,
        ),
    }
    lineage_paths = {"catalogue": contract.CATALOG_PATH, "activity": contract.REPORT_PATH}  # noqa: RUF012

    def client_from_connection(self, conn: ConnectionLike, **overrides: Any) -> ProviderClient:
        from lms_connectors.providers.skillsoft_percipio.client import PercipioClient

        self.require(conn)
        options = self.client_options(
            conn,
            overrides,
            page_size=contract.MAX_PAGE_SIZE,
            poll_seconds=contract.POLL_SECONDS,
            max_poll_seconds=contract.MAX_POLL_SECONDS,
        )
        organization = str(conn.extra_dejson["organization_id"])
        return PercipioClient(self.base_url(conn), str(conn.password), organization, **options)

    def base_url(self, conn: ConnectionLike) -> str:
        """extra ``base_url`` (or host), else the host of extra ``region``."""
        extra = conn.extra_dejson
        if extra.get("base_url") or conn.host:
            return base_url_of(conn)
        region = str(extra.get("region") or "").upper()
        if region not in contract.REGIONS:
            raise ConnectionConfigError(
                f"Connection {conn.conn_id!r}: set extra region ({' or '.join(contract.REGIONS)}) or extra base_url"
            )
        return contract.REGIONS[region]

    def course_row(self, record: dict[str, Any]) -> dict[str, Any]:
        from lms_connectors.providers.skillsoft_percipio.convert import course_row

        return course_row(record)


PROVIDER = SkillsoftPercipio()
