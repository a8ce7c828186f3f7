"""Alerts: a failed run, or a day not synced in time, reaches a person.

Configured by one Airflow Connection (the registry's ``alerts_conn_id``, default ``lms_alerts``):

- ``conn_type`` ``smtp``: e-mail through the SMTP provider's hook (host, port, login, password of
  the Connection; recipients in its extra ``to``, a list or a comma-separated string);
- ``conn_type`` ``http`` (or ``https``): a JSON POST to ``<schema>://<host>:<port>/<extra.path>``,
  with ``Authorization: Bearer <password>`` when the Connection has a password (Slack, Teams or
  an incident tool's webhook).

Without the Connection, alerts are off and nothing is logged above DEBUG. An alert that cannot be
delivered is logged and never fails the task that raised it (the failure itself stays visible).
Messages carry ids, dates and the error's first line: no settings, no credentials, no records.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
from typing import Any

from airflow.sdk.bases.notifier import BaseNotifier

log = logging.getLogger(__name__)
DEFAULT_CONN_ID = "lms_alerts"
TIMEOUT_SECONDS = 10


def _connection(conn_id: str) -> Any | None:
    from airflow.sdk import Connection

    try:
        return Connection.get(conn_id)
    except Exception:  # AirflowNotFoundException, or a secrets backend that has no such key
        log.debug("no Connection %r: alerts are off", conn_id)
        return None


def _ui_link(dag_id: str, run_id: str | None = None) -> str | None:
    """The DAG (or one of its runs) in the Airflow UI, when the API's base URL is configured."""
    from urllib.parse import quote

    from airflow.configuration import conf

    base = conf.get("api", "base_url", fallback=None)
    if not base:
        return None
    dag_url = f"{base.rstrip('/')}/dags/{dag_id}"
    return f"{dag_url}/runs/{quote(run_id, safe='')}" if run_id else dag_url


def send(conn_id: str, alert: dict[str, Any]) -> bool:
    """Deliver one alert through the Connection ``conn_id``; False when alerts are off or it failed."""
    conn = _connection(conn_id)
    if conn is None:
        return False
    subject = f"[LMS connector] {alert['summary']}"
    try:
        if conn.conn_type == "smtp":
            from airflow.providers.smtp.hooks.smtp import SmtpHook

            extra = conn.extra_dejson
            to = extra.get("to") or []
            to = [a.strip() for a in to.split(",")] if isinstance(to, str) else list(to)
            if not to:
                raise ValueError(f"Connection {conn_id!r} has no recipients (extra 'to')")
            body = "\n".join(f"{k}: {v}" for k, v in alert.items() if v is not None)
            with SmtpHook(smtp_conn_id=conn_id) as hook:
                hook.send_email_smtp(to=to, subject=subject, html_content=f"<pre>{html.escape(body)}</pre>")
        else:
            import requests

            scheme = conn.schema or ("https" if conn.conn_type == "https" else "http")
            port = f":{conn.port}" if conn.port else ""
            path = str(conn.extra_dejson.get("path", "")).lstrip("/")
            headers = {"Authorization": f"Bearer {conn.password}"} if conn.password else {}
            response = requests.post(
                f"{scheme}://{conn.host}{port}/{path}",
                data=json.dumps({"text": subject, **alert}, default=str),
                headers={"Content-Type": "application/json", **headers},
                timeout=TIMEOUT_SECONDS,
            )
            response.raise_for_status()
    except Exception as exc:
        # The alert is best effort: the failure it reports is already recorded by Airflow and in
        # ops.sync_runs. Say why it was not delivered, without the Connection's secrets.
        log.error("alert not delivered through Connection %r: %s", conn_id, type(exc).__name__)
        return False
    log.info("alert sent through Connection %r: %s", conn_id, alert["summary"])
    return True


class RunFailedNotifier(BaseNotifier):
    """``on_failure_callback`` of the connector tasks: one alert per failed task (after its retries)."""

    def __init__(self, connector_id: str, conn_id: str = DEFAULT_CONN_ID) -> None:
        super().__init__()
        self.connector_id = connector_id
        self.conn_id = conn_id

    def notify(self, context: dict[str, Any]) -> None:
        ti = context["task_instance"]
        dag_id = context["dag"].dag_id
        exc = context.get("exception")
        start = context.get("data_interval_start")
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}" if exc else "failed"
        send(
            self.conn_id,
            {
                "summary": f"{dag_id}: {ti.task_id} failed for {start.date() if start else context['run_id']}",
                "connector_id": self.connector_id,
                "dag_id": dag_id,
                "run_id": context["run_id"],
                "task_id": ti.task_id,
                "interval_start": start.isoformat() if start else None,
                "error": error[:500],
                "url": _ui_link(dag_id, context["run_id"]),
            },
        )


def day_due(checked_at: dt.datetime, deadline_hours: float) -> dt.date | None:
    """The day whose deadline (its end + ``deadline_hours``) falls in the hour ending at ``checked_at``."""
    for back in range(int(deadline_hours // 24) + 2):
        day = (checked_at - dt.timedelta(days=back)).date()
        deadline = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC) + dt.timedelta(
            hours=deadline_hours
        )
        if checked_at - dt.timedelta(hours=1) < deadline <= checked_at:
            return day
    return None


def day_synced(conn: Any, connector_id: str, day: dt.date) -> bool:
    """Whether a run covering ``day`` has succeeded (or was skipped: a disabled connector is not late)."""
    start = dt.datetime.combine(day, dt.time(), dt.UTC)
    row = conn.execute(
        """SELECT 1 FROM ops.sync_runs
           WHERE connector_id = %s AND status IN ('success', 'skipped')
             AND interval_start <= %s AND interval_end >= %s
           LIMIT 1""",
        (connector_id, start, start + dt.timedelta(days=1)),
    ).fetchone()
    return row is not None


def deadline_missed(spec: Any, day: dt.date, checked_at: dt.datetime) -> bool:
    """Alert: the day's sync has not succeeded by its deadline."""
    return send(
        spec.alerts_conn_id,
        {
            "summary": f"{spec.dag_id}: the sync of {day} has not succeeded by {checked_at:%Y-%m-%d %H:%M} UTC",
            "connector_id": spec.id,
            "dag_id": spec.dag_id,
            "interval_start": f"{day.isoformat()}T00:00:00+00:00",
            "deadline_hours": spec.deadline_hours,
            "url": _ui_link(spec.dag_id),
        },
    )


def retention_missed(spec: Any, last: dt.datetime | None, checked_at: dt.datetime) -> bool:
    """Alert: retention has not purged the warehouse of ``spec`` for longer than its deadline."""
    from lms_connectors.orchestration.privacy_dags import RETENTION_DAG_ID
    from lms_connectors.warehouse.audit import RETENTION_DEADLINE

    since = f"since {last:%Y-%m-%d %H:%M} UTC" if last else "ever"
    return send(
        spec.alerts_conn_id,
        {
            "summary": f"{RETENTION_DAG_ID} has not purged the warehouse {since} "
            f"(deadline {RETENTION_DEADLINE.total_seconds() / 3600:g} h): learner data outlives its retention",
            "dag_id": RETENTION_DAG_ID,
            "warehouse_conn_id": spec.warehouse_conn_id,
            "last_run": last.isoformat() if last else None,
            "url": _ui_link(RETENTION_DAG_ID),
        },
    )
