"""ops.audit_log: every admin action (settings applied, deactivation, erasure, export, approval,
key rotation, retention purges), with who, when and what; never a learner's email or id."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any


def audit(
    conn: Any,
    actor: str | None,
    action: str,
    *,
    connector_id: str | None = None,
    run_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Write one entry, in the caller's transaction (the action and its record commit together)."""
    conn.execute(
        """INSERT INTO ops.audit_log (actor, action, connector_id, run_id, details)
           VALUES (%s, %s, %s, %s, %s::jsonb)""",
        (actor or "unknown", action, connector_id, run_id, json.dumps(details or {}, default=str)),
    )


def actor_of(context: Any) -> str:
    """Who started an Airflow run: the user who triggered it, else the scheduler."""
    dag_run = context.get("dag_run") if context else None
    user = getattr(dag_run, "triggering_user_name", None)
    if user:
        return str(user)
    run_type = getattr(dag_run, "run_type", None)
    return f"airflow:{getattr(run_type, 'value', run_type) or 'unknown'}"


# Retention runs daily (lms_connectors_retention); this long without a purge is a missed deadline:
# the health page shows it and the deadlines DAG alerts.
RETENTION_DEADLINE = dt.timedelta(hours=48)


def last_retention(conn: Any) -> dt.datetime | None:
    """When retention last purged this warehouse (each purge writes one audit entry)."""
    return conn.execute("SELECT max(at) FROM ops.audit_log WHERE action = 'retention'").fetchone()[0]


def retention_overdue(last: dt.datetime | None, now: dt.datetime) -> bool:
    return last is None or now - last > RETENTION_DEADLINE


def retention_alert_due(last: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether the hourly check ending at ``now`` alerts: once when retention becomes overdue, then
    once a day while it stays so (a warehouse never purged: daily, in the hour after 06:00 UTC)."""
    if not retention_overdue(last, now):
        return False
    # Airflow's clock is a pendulum DateTime, whose differences do not take a timedelta's modulo.
    now = dt.datetime.fromtimestamp(now.timestamp(), dt.UTC)
    late = (
        now - (last + RETENTION_DEADLINE)
        if last is not None
        else now - now.replace(hour=6, minute=0, second=0, microsecond=0)
    )
    return dt.timedelta(0) <= late % dt.timedelta(days=1) < dt.timedelta(hours=1)
