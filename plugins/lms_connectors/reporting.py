"""Human-readable run reports and housekeeping."""

from __future__ import annotations

import datetime as dt

import psycopg


def run_table(conn: psycopg.Connection, run_key: str) -> str:
    row = conn.execute(
        """SELECT status, interval_start, interval_end, courses_seen, courses_created, courses_updated,
                  courses_archived, courses_unarchived, rejected, step_seconds
           FROM ops.sync_runs WHERE run_id = %s""",
        (run_key,),
    ).fetchone()
    if row is None:
        return f"no ops.sync_runs row for {run_key}"
    labels = (
        "status",
        "interval start",
        "interval end",
        "courses seen",
        "created",
        "updated",
        "archived",
        "unarchived",
        "rejected",
        "step seconds",
    )
    width = max(map(len, labels))
    return "\n".join(f"{label:<{width}}  {value}" for label, value in zip(labels, row, strict=True))


def prune_staging(conn: psycopg.Connection, retention_days: int, interval_end: str) -> int:
    """Delete staging rows older than the retention, relative to the run's interval (not the wall clock)."""
    cutoff = dt.datetime.fromisoformat(interval_end) - dt.timedelta(days=retention_days)
    deleted = 0
    with conn.transaction():
        for table in ("staging.raw_courses", "staging.courses"):
            deleted += conn.execute(f"DELETE FROM {table} WHERE loaded_at < %s", (cutoff,)).rowcount
    return deleted
