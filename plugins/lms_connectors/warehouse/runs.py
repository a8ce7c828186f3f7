"""ops.sync_runs bookkeeping: one row per DAG run, visible while it runs."""

from __future__ import annotations

import json
from typing import Any

import psycopg

from lms_connectors.rules.context import RunRequest
from lms_connectors.warehouse.audit import audit

# What a try records: a new try of the same run starts from none of them (a re-run failing at its
# first task showed the previous try's start, counts and step timings under status "failed").
FIGURES = (
    "courses_seen",
    "courses_created",
    "courses_updated",
    "courses_archived",
    "courses_unarchived",
    "courses_rejected",
    "activity_records",
    "progress_rows",
    "daily_rows",
    "matched_learners",
    "unmatched_learners",
    "activity_rejected",
    "rejected",
)


def start_run(conn: psycopg.Connection, request: RunRequest, dag_id: str) -> None:
    """The run's row for this try, with the overrides it was started with (visible even if the run fails).

    Called before anything of the try can fail: a row left by an earlier try is reset, so the row
    never shows figures this try did not produce."""
    reset = ", ".join(f"{column} = NULL" for column in FIGURES)
    with conn.transaction():
        conn.execute(
            f"""INSERT INTO ops.sync_runs (run_id, connector_id, dag_id, interval_start, interval_end, status,
                                          override_mass_archive, delete_unreported)
               VALUES (%s, %s, %s, %s, %s, 'running', %s, %s)
               ON CONFLICT (run_id) DO UPDATE
               SET status = 'running', started_at = now(), finished_at = NULL, error = NULL, settings = NULL,
                   counts = '{{}}', step_seconds = '{{}}', {reset},
                   interval_start = EXCLUDED.interval_start, interval_end = EXCLUDED.interval_end,
                   override_mass_archive = EXCLUDED.override_mass_archive,
                   delete_unreported = EXCLUDED.delete_unreported""",
            (
                request.run_key,
                request.connector_id,
                dag_id,
                request.interval_start,
                request.interval_end,
                request.override_mass_archive,
                request.delete_unreported,
            ),
        )


def record_settings(conn: psycopg.Connection, run_id: str, settings: dict[str, Any]) -> None:
    """The validated settings the run works with."""
    with conn.transaction():
        conn.execute("UPDATE ops.sync_runs SET settings = %s WHERE run_id = %s", (json.dumps(settings), run_id))


def recorded_setting(conn: psycopg.Connection, run_id: str, name: str) -> Any:
    """One of the settings the run recorded (:func:`record_settings`), None when it has none."""
    row = conn.execute("SELECT settings -> %s FROM ops.sync_runs WHERE run_id = %s", (name, run_id)).fetchone()
    return row[0] if row else None


def record_step(conn: psycopg.Connection, run_id: str, step: str, seconds: float, counts: dict[str, Any]) -> None:
    """Merge one step's timing and counts into the run row (in the caller's transaction)."""
    conn.execute(
        """UPDATE ops.sync_runs
           SET step_seconds = step_seconds || jsonb_build_object(%s::text, round(%s::numeric, 3)),
               counts = counts || jsonb_build_object(%s::text, %s::jsonb)
           WHERE run_id = %s""",
        (step, seconds, step, json.dumps(counts, default=str), run_id),
    )


def record_catalogue(conn: psycopg.Connection, run_id: str, seen: int, merge: dict[str, Any], rejected: int) -> None:
    conn.execute(
        """UPDATE ops.sync_runs
           SET courses_seen = %s, courses_created = %s, courses_updated = %s, courses_archived = %s,
               courses_unarchived = %s, courses_rejected = %s,
               rejected = %s + coalesce(activity_rejected, 0), override_mass_archive = %s
           WHERE run_id = %s""",
        (
            seen,
            merge["created"],
            merge["updated"],
            merge["archived"],
            merge["unarchived"],
            rejected,
            rejected,
            merge["override_mass_archive"],
            run_id,
        ),
    )


def finish_run(conn: psycopg.Connection, run_id: str, status: str, error: str | None = None) -> None:
    with conn.transaction():
        conn.execute(
            "UPDATE ops.sync_runs SET status = %s, finished_at = now(), error = %s WHERE run_id = %s",
            (status, error, run_id),
        )


def record_progress(conn: psycopg.Connection, run_id: str, transformed: dict[str, Any], merge: dict[str, Any]) -> None:
    conn.execute(
        """UPDATE ops.sync_runs
           SET activity_records = %s, progress_rows = %s, daily_rows = %s, matched_learners = %s,
               unmatched_learners = %s, activity_rejected = %s,
               rejected = coalesce(courses_rejected, 0) + %s
           WHERE run_id = %s""",
        (
            transformed["records"],
            merge["progress_rows"],
            merge["daily_rows"],
            transformed["matched_learners"],
            transformed["unmatched_learners"],
            transformed["rejected"],
            transformed["rejected"],
            run_id,
        ),
    )


def fail_run(conn: psycopg.Connection, run_id: str, error: str) -> None:
    """Mark the run failed, unless a human already ended it (a rejected change keeps its own status)."""
    with conn.transaction():
        conn.execute(
            "UPDATE ops.sync_runs SET status = 'failed', finished_at = now(), error = %s "
            "WHERE run_id = %s AND status <> 'rejected'",
            (error, run_id),
        )


def step_counts(conn: psycopg.Connection, run_id: str, step: str) -> dict[str, Any]:
    """What a step recorded (a task resumed after a wait reads what it computed before)."""
    row = conn.execute("SELECT counts -> %s FROM ops.sync_runs WHERE run_id = %s", (step, run_id)).fetchone()
    return (row[0] if row else None) or {}


APPROVAL_STEP = "approve_catalogue_change"


def await_approval(conn: psycopg.Connection, run_id: str, request: dict[str, Any]) -> None:
    """The run waits for a human: what is asked is kept with the run (the approval binds to it)."""
    with conn.transaction():
        conn.execute(
            """UPDATE ops.sync_runs SET status = 'awaiting_approval',
                      counts = counts || jsonb_build_object(%s::text, %s::jsonb)
               WHERE run_id = %s""",
            (APPROVAL_STEP, json.dumps({"decision": "pending", **request}), run_id),
        )


def approval_request(conn: psycopg.Connection, run_id: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT counts -> %s FROM ops.sync_runs WHERE run_id = %s", (APPROVAL_STEP, run_id)).fetchone()
    return row[0] if row else None


def record_decision(
    conn: psycopg.Connection, run_id: str, decision: str, by: str | None, error: str | None = None
) -> None:
    """Approved: the run goes on. Rejected or unanswered: the run ends 'rejected', nothing changed."""
    status = "running" if decision == "approved" else "rejected"
    with conn.transaction():
        conn.execute(
            """UPDATE ops.sync_runs
               SET status = %s, error = %s, finished_at = CASE WHEN %s = 'rejected' THEN now() END,
                   counts = jsonb_set(counts, ARRAY[%s::text], (counts -> %s) || jsonb_build_object(
                       'decision', %s::text, 'by', %s::text, 'at', now()))
               WHERE run_id = %s""",
            (status, error, status, APPROVAL_STEP, APPROVAL_STEP, decision, by, run_id),
        )
        connector_id = conn.execute("SELECT connector_id FROM ops.sync_runs WHERE run_id = %s", (run_id,)).fetchone()
        audit(
            conn,
            by or "airflow:timeout",
            "approval",
            connector_id=connector_id[0] if connector_id else None,
            run_id=run_id,
            details={"decision": decision},
        )


def staged_rows(conn: psycopg.Connection, table: str, run_id: str) -> int:
    """The rows of ``run_id`` in the staging ``table`` (a name the pipeline declares, never input)."""
    from psycopg import sql

    schema, name = table.split(".")
    query = sql.SQL("SELECT count(*) FROM {} WHERE run_id = %s").format(sql.Identifier(schema, name))
    return int(conn.execute(query, (run_id,)).fetchone()[0])
