"""OpenClassrooms: organization API with OAuth2 client credentials and ``Range`` paging.

Catalogue at ``/organizations/{id}/courses``, learning activity (each learner
and course's every update, so a snapshots history) at
``/organizations/{id}/learning-activity``; the contract is
``simulator/openclassrooms.yaml``. Time spent is theoretical: the course's duration
x progress. Connection: login = client id, password = client secret, extra
``organization_id`` and ``base_url`` (or host/schema/port).
"""

from __future__ import annotations

from typing import Any

from lms_connectors.providers import ConnectionLike, FormField, Provider, ProviderClient
from lms_connectors.providers.openclassrooms import contract


class OpenClassrooms(Provider):
    name = "openclassrooms"
    label = "OpenClassrooms"
    course_schema = contract.COURSE_SCHEMA
    activity_schema = contract.ACTIVITY_SCHEMA
    kept_statuses = contract.KEPT_STATUSES
    url_hosts = ("openclassrooms.com", "oc-static.com")
    activity_timestamps = "rfc3339"
    time_spent_rule = "theoretical"
    connection_extras = ("organization_id",)
    connection_form = {  # noqa: RUF012 - a declaration, never mutated
        "organization_id": FormField("Organization ID", description="Your organization's id in the OpenClassrooms API"),
        "base_url": FormField("API base URL", "https://api.openclassrooms.com"),
    }
    lineage_paths = {"catalogue": contract.COURSES_PATH, "activity": contract.ACTIVITY_PATH}  # noqa: RUF012

    def client_from_connection(self, conn: ConnectionLike, **overrides: Any) -> ProviderClient:
        from lms_connectors.providers.openclassrooms.client import OpenClassroomsClient

        self.require(conn)
        options = self.client_options(conn, overrides, page_size=contract.MAX_PAGE_SIZE)
        organization = str(conn.extra_dejson["organization_id"])
        return OpenClassroomsClient(self.base_url(conn), str(conn.login), str(conn.password), organization, **options)

    def course_row(self, record: dict[str, Any]) -> dict[str, Any]:
        from lms_connectors.providers.openclassrooms.transform import course_row

        return course_row(record)


PROVIDER = OpenClassrooms()
