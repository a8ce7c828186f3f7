"""ops.audit_log: every admin action (settings applied, deactivation, erasure, export, approval,
key rotation, retention purges), with who, when and what; never a learner's email or id."""

from __future__ import annotations

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
