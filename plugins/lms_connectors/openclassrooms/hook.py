"""Airflow Hook: builds the OpenClassrooms client from a Connection.

Connection ``openclassrooms_default``: login = client id, password = client
secret, extra ``organization_id`` (required), base URL from extra
``base_url`` or from schema/host/port; optional extra ``page_size``,
``connect_timeout``, ``read_timeout``, ``max_attempts``,
``max_total_seconds``, ``max_retry_after``, ``max_request_seconds`` (one
request's deadline, body included), ``max_response_bytes``.
"""

from __future__ import annotations

from typing import Any, Protocol

from airflow.sdk import BaseHook

from lms_connectors.errors import ConnectionConfigError
from lms_connectors.openclassrooms.client import OpenClassroomsClient, RetryPolicy


class ConnectionLike(Protocol):
    conn_id: str
    host: str | None
    schema: str | None
    port: int | None
    login: str | None
    password: str | None

    @property
    def extra_dejson(self) -> dict[str, Any]: ...


__all__ = ["ConnectionConfigError", "OpenClassroomsHook", "base_url_of", "client_from_connection"]


def base_url_of(conn: ConnectionLike) -> str:
    extra = conn.extra_dejson
    if extra.get("base_url"):
        return str(extra["base_url"]).rstrip("/")
    host = (conn.host or "").rstrip("/")
    if not host:
        raise ConnectionConfigError(f"Connection {conn.conn_id!r}: set host (or extra.base_url)")
    if "://" not in host:
        host = f"{conn.schema or 'https'}://{host}"
    if conn.port:
        host = f"{host}:{conn.port}"
    return host


def client_from_connection(conn: ConnectionLike, **overrides: Any) -> OpenClassroomsClient:
    extra = conn.extra_dejson
    missing = [
        name
        for name, value in (
            ("login (client id)", conn.login),
            ("password (client secret)", conn.password),
            ("extra.organization_id", extra.get("organization_id")),
        )
        if not value
    ]
    if missing:
        raise ConnectionConfigError(f"Connection {conn.conn_id!r}: missing {', '.join(missing)}")
    defaults = RetryPolicy()
    retry = RetryPolicy(
        max_attempts=int(extra.get("max_attempts", defaults.max_attempts)),
        max_total_seconds=float(extra.get("max_total_seconds", defaults.max_total_seconds)),
        max_retry_after=float(extra.get("max_retry_after", defaults.max_retry_after)),
        initial_wait=float(extra.get("initial_wait", defaults.initial_wait)),
        max_request_seconds=float(extra.get("max_request_seconds", defaults.max_request_seconds)),
    )
    kwargs: dict[str, Any] = {
        "page_size": int(extra.get("page_size", 500)),
        "connect_timeout": float(extra.get("connect_timeout", 10)),
        "read_timeout": float(extra.get("read_timeout", 60)),
        "max_response_bytes": int(extra.get("max_response_bytes", 64 * 2**20)),
        "retry": retry,
        "source": f"OpenClassrooms (Connection {conn.conn_id!r})",
    }
    kwargs.update(overrides)
    return OpenClassroomsClient(
        base_url_of(conn), str(conn.login), str(conn.password), str(extra["organization_id"]), **kwargs
    )


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
        return client_from_connection(self.get_connection(self.openclassrooms_conn_id), **self._overrides)
