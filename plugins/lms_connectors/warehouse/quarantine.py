"""Quarantine of records that break a row rule, shared by the catalogue and progress steps.

Rejected staging rows get the rule they broke; the raw record goes to
``ops.rejected_records``; batch rules that fail stop the run before any target
table changes.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import psycopg


class BatchRejected(RuntimeError):
    """The batch breaks a batch rule (too many rejects, duplicate ids): nothing is loaded."""


def mark_rejects(conn: psycopg.Connection, table: str, column: str, run_id: str, rejected: pd.DataFrame) -> None:
    """Write the rule each rejected row (columns seq, reason) broke back to its staging row."""
    if rejected.empty:
        return
    conn.execute(
        f"""UPDATE {table} t SET {column} = v.reason
            FROM unnest(%s::int[], %s::text[]) AS v(seq, reason)
            WHERE t.run_id = %s AND t.seq = v.seq""",
        (rejected["seq"].astype(int).tolist(), rejected["reason"].tolist(), run_id),
    )


def record_rejects(
    conn: psycopg.Connection, run_id: str, connector_id: str, entity: str, select_sql: str, params: tuple[Any, ...]
) -> None:
    """Replace the run's rejects of ``entity`` in ops.rejected_records with the rows of
    ``select_sql`` (columns: reason, record), so a retried step does not count twice."""
    conn.execute(
        "DELETE FROM ops.rejected_records WHERE run_id = %s AND connector_id = %s AND entity = %s",
        (run_id, connector_id, entity),
    )
    conn.execute(
        f"""INSERT INTO ops.rejected_records (run_id, connector_id, entity, reason, record)
            SELECT %s, %s, %s, q.reason, q.record FROM ({select_sql}) q""",
        (run_id, connector_id, entity, *params),
    )


def stop_if_failed(failures: list[str], run_id: str) -> None:
    if failures:
        raise BatchRejected(
            "; ".join(failures) + f". Nothing was loaded; the rejected records and their rules are in "
            f"ops.rejected_records (run_id = {run_id!r})"
        )
