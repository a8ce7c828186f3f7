"""The run report a connector's last task logs, and staging housekeeping."""

from __future__ import annotations

import datetime as dt

import psycopg
from psycopg.rows import dict_row


def run_table(conn: psycopg.Connection, run_key: str) -> str:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            """SELECT status, interval_start, interval_end, courses_seen, courses_created, courses_updated,
                      courses_archived, courses_unarchived, activity_records, progress_rows, daily_rows,
                      matched_learners, unmatched_learners, rejected, step_seconds
               FROM ops.sync_runs WHERE run_id = %s""",
            (run_key,),
        ).fetchone()
    if row is None:
        return f"no ops.sync_runs row for {run_key}"
    counts = conn.execute("SELECT counts FROM ops.sync_runs WHERE run_id = %s", (run_key,)).fetchone()[0] or {}
    load = counts.get("load_courses", {})
    row["archived by reason"] = load.get("reasons_added", {})
    row["unarchived by reason"] = load.get("reasons_removed", {})
    # Records of erased learners, dropped before staging (ops.suppressed_learners).
    row["suppressed"] = counts.get("extract_progress", {}).get("suppressed", 0)
    row["removed users erased"] = counts.get("transform_progress", {}).get("removed_users_erased", 0)
    row["rejected by rule"] = {
        step: counts.get(step, {}).get("rejected_by_reason", {}) for step in ("validate_courses", "validate_progress")
    }
    width = max(map(len, row))
    return "\n".join(f"{name.replace('_', ' '):<{width}}  {value}" for name, value in row.items())


def prune_staging(conn: psycopg.Connection, retention_days: int, interval_end: dt.datetime) -> int:
    """Delete staging rows older than the retention, relative to the run's interval (not the wall clock)."""
    cutoff = interval_end - dt.timedelta(days=retention_days)
    deleted = 0
    with conn.transaction():
        for table in ("staging.raw_courses", "staging.courses", "staging.raw_activity", "staging.progress"):
            deleted += conn.execute(f"DELETE FROM {table} WHERE loaded_at < %s", (cutoff,)).rowcount
    return deleted
