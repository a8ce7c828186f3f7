"""A stored secret is never sent to an edited endpoint.

Airflow reuses a Connection's stored password when the Test button (``POST
/api/v2/connections/test``) or Save (``PATCH /api/v2/connections/{id}``) sends the masked ``***``,
and refuses only when the host or port changed. This project's providers keep where the
credentials go in the extra (``base_url``, ``token_url``, ``region``, ``plain_http_hosts``): an
operator who edits only the URL and presses Test would send ``client-id:<stored secret>`` to the
other host. This root middleware refuses such a request (400, like Airflow's own refusal) unless
it carries the secret again; other Connection types pass untouched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from lms_connectors import providers
from lms_connectors.health.airflow_fixes import Message, Receive, Send, refuse_or_pass

MASKED = "***"
_TEST = re.compile(r"/api/v2/connections/test$")
_SAVE = re.compile(r"/api/v2/connections/(?P<conn_id>[^/]+)$")


def refusal(body: Mapping[str, Any], stored: Any, update_mask: list[str] | None = None) -> str | None:
    """Why a Test or Save request must not reuse the stored Connection's secret, or None.

    ``body`` is the request's Connection (its extra a JSON string, as the API takes it), ``stored``
    the Connection it would take its secret from (None: there is none), ``update_mask`` the fields
    a Save applies (None: every field the body holds)."""
    if stored is None:
        return None
    provider = providers.by_conn_type(body.get("conn_type")) or providers.by_conn_type(stored.conn_type)
    if provider is None:
        return None
    applied = set(body) if update_mask is None else set(body) & set(update_mask)
    password = body.get("password") if "password" in applied else None
    if password and password != MASKED:
        return None  # the secret is given again: it goes where the request says
    was = {"schema": stored.schema, "host": stored.host, "port": stored.port, **stored.extra_dejson}
    now = dict(was)
    now.update({k: body.get(k) for k in ("schema", "host", "port") if k in applied})
    if "extra" in applied:
        extra = body.get("extra") or "{}"
        try:
            asked = json.loads(extra) if isinstance(extra, str) else dict(extra)
        except ValueError:
            return None  # Airflow refuses a malformed extra itself
        now = {**{k: now[k] for k in ("schema", "host", "port")}, **(asked if isinstance(asked, dict) else {})}
    changed = provider.endpoint_changes(now, was)
    if not changed:
        return None
    secret = "client secret" if provider.credentials == "client" else "service account token"
    return (
        f"{', '.join(changed)} differ{'s' if len(changed) == 1 else ''} from the stored Connection's: "
        f"the stored {secret} is only used where it was saved for. Enter the {secret} again to test or "
        "save this Connection with the new endpoint."
    )


def _stored(conn_id: str) -> Any:
    from airflow.exceptions import AirflowNotFoundException
    from airflow.models.connection import Connection

    try:
        return Connection.get_connection_from_secrets(conn_id)
    except AirflowNotFoundException:
        return None


class StoredSecretGuard:
    """ASGI root middleware: :func:`refusal` on the Test and Save requests of a Connection."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        path, method = scope.get("path", ""), scope.get("method")
        save = _SAVE.search(path) if method == "PATCH" else None
        if scope["type"] != "http" or not ((method == "POST" and _TEST.search(path)) or save):
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"")
        await refuse_or_pass(self.app, scope, receive, send, lambda body: self._refusal(body, save, query))

    async def _refusal(self, body: bytes, save: re.Match[str] | None, query: bytes) -> str | None:
        from starlette.concurrency import run_in_threadpool

        try:
            doc = json.loads(body)
        except ValueError:
            return None  # Airflow answers a malformed body itself
        if not isinstance(doc, dict):
            return None
        conn_id = save.group("conn_id") if save else doc.get("connection_id")
        if not isinstance(conn_id, str) or not conn_id:
            return None
        mask = parse_qs(query.decode("latin-1")).get("update_mask")
        fields = [f.strip() for m in mask for f in m.split(",")] if mask else None
        stored = await run_in_threadpool(_stored, conn_id)
        return refusal(doc, stored, fields)
