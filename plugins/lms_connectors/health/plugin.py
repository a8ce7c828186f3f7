"""Airflow plugin: the connector health page in the Airflow UI (Browse > LMS connector health).

The API server mounts the page's FastAPI app (built on its first request) under ``/lms-connector-health``;
the UI shows it in its navigation. Requests carry the UI's session (JWT
cookie) and only connectors whose DAG the user may read are shown. The plugin also mends the
Test button of Admin > Connections for Airflow 3.3.2 (``airflow_fixes``) and keeps a stored secret
from being sent to an edited endpoint (``secret_guard``) and a trigger's conf from holding a key its
DAG does not declare (``conf_guard``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.plugins_manager import AirflowPlugin

from lms_connectors.health.airflow_fixes import TestButtonPort
from lms_connectors.health.app import URL_PREFIX, LazyApp
from lms_connectors.health.conf_guard import UnknownConfKeys
from lms_connectors.health.secret_guard import StoredSecretGuard


class LmsConnectorHealthPlugin(AirflowPlugin):
    name = "lms_connector_health"
    fastapi_apps: ClassVar[list[dict[str, Any]]] = [
        {"app": LazyApp(), "url_prefix": URL_PREFIX, "name": "LMS connector health"}
    ]
    # Airflow 3.3.2's Test button fails for a Connection without a port: see airflow_fixes.
    fastapi_root_middlewares: ClassVar[list[dict[str, Any]]] = [
        {"middleware": TestButtonPort, "name": "LMS connectors: Test button of a Connection without port"},
        # A stored secret is never sent to an edited base URL, token URL or region: see secret_guard.
        {"middleware": StoredSecretGuard, "name": "LMS connectors: a stored secret stays with its endpoint"},
        # Airflow keeps a conf key a DAG does not declare: see conf_guard.
        {"middleware": UnknownConfKeys, "name": "LMS connectors: a trigger's conf holds declared keys only"},
    ]
    external_views: ClassVar[list[dict[str, Any]]] = [
        {
            "name": "LMS connector health",
            # Relative: the UI resolves it against its base URL (reverse proxies keep working).
            "href": URL_PREFIX.lstrip("/") + "/",
            "destination": "nav",
            "category": "browse",
            "url_route": "lms-connector-health",
        }
    ]
