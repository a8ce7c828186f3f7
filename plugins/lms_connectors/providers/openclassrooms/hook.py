"""Airflow Hook: the OpenClassrooms client from a Connection.

Connection ``openclassrooms_default``: login = client id, password = client
secret, extra ``organization_id`` (required), base URL from extra
``base_url`` or from schema/host/port; optional extra ``page_size``,
``connect_timeout``, ``read_timeout``, ``max_attempts``,
``max_total_seconds``, ``max_retry_after``, ``max_request_seconds`` (one
request's deadline, body included), ``max_response_bytes``.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook

from lms_connectors.providers.openclassrooms import PROVIDER
from lms_connectors.providers.openclassrooms.client import OpenClassroomsClient


class OpenClassroomsHook(BaseHook):
    conn_name_attr = "openclassrooms_conn_id"
    default_conn_name = "openclassrooms_default"
    conn_type = "http"
    hook_name = "OpenClassrooms"

    def __init__(self, openclassrooms_conn_id: str = default_conn_name, **client_overrides: Any) -> None:
        super().__init__()
        self.openclassrooms_conn_id = openclassrooms_conn_id
        self._overrides = client_overrides

    def get_conn(self) -> OpenClassroomsClient:
        return PROVIDER.client_from_connection(self.get_connection(self.openclassrooms_conn_id), **self._overrides)
