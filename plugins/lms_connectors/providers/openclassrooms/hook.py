"""The OpenClassrooms Connection type's hook (``openclassrooms``; default ``openclassrooms_default``).

Fields: Client ID (login), Client secret (password), extra ``organization_id`` (required) and
``base_url``; optional extras as every client reads them (``page_size``, ``connect_timeout``,
``read_timeout``, ``max_attempts``, ``max_total_seconds``, ``max_retry_after``,
``max_request_seconds``, ``max_response_bytes``).
"""

from __future__ import annotations

from lms_connectors.providers.hook import ConnectorHook
from lms_connectors.providers.openclassrooms import PROVIDER


class OpenClassroomsHook(ConnectorHook):
    provider = PROVIDER
    conn_type = PROVIDER.conn_type
    default_conn_name = "openclassrooms_default"
    hook_name = "OpenClassrooms"
