"""Quarantine of records that break a row rule, shared by the catalogue and progress steps.

Rejected staging rows get the rule they broke; the raw record goes to
``ops.rejected_records``; batch rules that fail stop the run before any target
table changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import psycopg

from lms_connectors.rules.errors import PermanentError

if TYPE_CHECKING:
    from lms_connectors.rules.quality import Rule


class BatchRejected(RuntimeError, PermanentError):
    """The batch breaks a batch rule (too many rejects, duplicate ids): nothing is loaded."""


def _marks_table(conn: psycopg.Connection) -> None:
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS quarantine_marks (seq integer, reason text, detail text) ON COMMIT DROP"
    )


def stage_rejects(conn: psycopg.Connection, broken: Mapping[int, Rule]) -> None:
    """Hold the rule each rejected row (by its seq) broke until ``mark_rejects``.

    Callers that check rows chunk by chunk stage each chunk's rejects; the
    staging rows are then marked in one join, not one table scan per chunk.
    """
    _marks_table(conn)
    if not broken:
        return
    with conn.cursor() as cur, cur.copy("COPY quarantine_marks (seq, reason, detail) FROM STDIN") as copy:
        for seq, rule in broken.items():
            copy.write_row((seq, rule.reason, rule.detail))


def mark_rejects(conn: psycopg.Connection, table: str, column: str, detail_column: str, run_id: str) -> None:
    """Write the staged rejects back to the run's staging rows."""
    _marks_table(conn)
    conn.execute(
        f"""UPDATE {table} t SET {column} = m.reason, {detail_column} = m.detail
            FROM quarantine_marks m
            WHERE t.run_id = %s AND t.seq = m.seq""",
        (run_id,),
    )
    conn.execute("DROP TABLE quarantine_marks")


def record_rejects(
    conn: psycopg.Connection, run_id: str, connector_id: str, entity: str, select_sql: str, params: tuple[Any, ...]
) -> None:
    """Replace the run's rejects of ``entity`` in ops.rejected_records with the rows of
    ``select_sql`` (columns: reason, detail, record), so a retried step does not count twice."""
    conn.execute(
        "DELETE FROM ops.rejected_records WHERE run_id = %s AND connector_id = %s AND entity = %s",
        (run_id, connector_id, entity),
    )
    conn.execute(
        f"""INSERT INTO ops.rejected_records (run_id, connector_id, entity, reason, detail, record)
            SELECT %s, %s, %s, q.reason, q.detail, q.record FROM ({select_sql}) q""",
        (run_id, connector_id, entity, *params),
    )


def stop_if_failed(failures: list[str], run_id: str) -> None:
    if failures:
        raise BatchRejected(
            "; ".join(failures) + f". Nothing was loaded; the rejected records and their rules are in "
            f"ops.rejected_records (run_id = {run_id!r})"
        )
