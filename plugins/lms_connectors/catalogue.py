"""Catalogue sync steps: extract -> transform -> validate -> load.

Each step is a transaction over run-scoped staging rows and takes a psycopg
connection, so it runs the same under Airflow, in tests and in benchmarks.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

import orjson
import psycopg
from psycopg.rows import dict_row

from lms_connectors.openclassrooms import contract
from lms_connectors.openclassrooms.transform import COURSE_COLUMNS, course_row
from lms_connectors.paths import sql_statements
from lms_connectors.settings import ConnectorSettings

log = logging.getLogger(__name__)
CHUNK_ROWS = 5000


class BatchRejected(RuntimeError):
    """A batch rule failed: nothing reaches the target tables."""


def advisory_key(connector_id: str) -> str:
    return f"lms_connector:{connector_id}"


def lock_connector(conn: psycopg.Connection, connector_id: str) -> None:
    """Serialise merges of one connector (a backfill and the daily run, say) until commit."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (advisory_key(connector_id),))


def extract_courses(conn: psycopg.Connection, pages: Iterable[list[dict[str, Any]]], run_id: str) -> int:
    """Stream provider pages into staging.raw_courses; a retry starts from a clean slate."""
    seq = 0
    with conn.transaction():
        conn.execute("DELETE FROM staging.raw_courses WHERE run_id = %s", (run_id,))
        with conn.cursor() as cur, cur.copy("COPY staging.raw_courses (run_id, seq, record) FROM STDIN") as copy:
            for page in pages:
                for record in page:
                    copy.write_row((run_id, seq, orjson.dumps(record).decode()))
                    seq += 1
    log.info("staged %d raw course records for run %s", seq, run_id)
    return seq


def transform_courses(conn: psycopg.Connection, run_id: str) -> dict[str, Any]:
    """Type and check every staged record; rejected ones keep their reason."""
    reasons: collections.Counter[str] = collections.Counter()
    rows = 0
    with conn.transaction():
        conn.execute("DELETE FROM staging.courses WHERE run_id = %s", (run_id,))
        columns = ", ".join(("run_id", "seq", *COURSE_COLUMNS))
        with conn.cursor(name="raw_courses") as src, conn.cursor() as dst:
            src.execute("SELECT seq, record FROM staging.raw_courses WHERE run_id = %s ORDER BY seq", (run_id,))
            # One connection cannot read a cursor while a COPY is open: chunk by chunk.
            while chunk := src.fetchmany(CHUNK_ROWS):
                with dst.copy(f"COPY staging.courses ({columns}) FROM STDIN") as copy:
                    for seq, record in chunk:
                        row = course_row(record)
                        if row["reject_reason"]:
                            reasons[row["reject_reason"]] += 1
                        copy.write_row((run_id, seq, *(row[c] for c in COURSE_COLUMNS)))
                rows += len(chunk)
    return {"records": rows, "rejected": sum(reasons.values()), "rejected_by_reason": dict(reasons)}


def validate_courses(
    conn: psycopg.Connection, run_id: str, connector_id: str, settings: ConnectorSettings
) -> dict[str, Any]:
    """Quarantine rejected rows, then apply the batch rules; a broken batch stops the
    run before any target table changes."""
    with conn.transaction():
        conn.execute(
            "DELETE FROM ops.rejected_records WHERE run_id = %s AND connector_id = %s AND entity = 'course'",
            (run_id, connector_id),
        )
        conn.execute(
            """INSERT INTO ops.rejected_records (run_id, connector_id, entity, reason, record)
               SELECT s.run_id, %s, 'course', s.reject_reason, r.record
               FROM staging.courses s JOIN staging.raw_courses r USING (run_id, seq)
               WHERE s.run_id = %s AND s.reject_reason IS NOT NULL""",
            (connector_id, run_id),
        )
    total, rejected = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE reject_reason IS NOT NULL) FROM staging.courses WHERE run_id = %s",
        (run_id,),
    ).fetchone()
    dupes = conn.execute(
        """SELECT provider_course_id, count(*) FROM staging.courses
           WHERE run_id = %s AND reject_reason IS NULL
           GROUP BY provider_course_id HAVING count(*) > 1 ORDER BY 1 LIMIT 5""",
        (run_id,),
    ).fetchall()
    conn.commit()
    if dupes:
        listed = ", ".join(f"{pid} (x{n})" for pid, n in dupes)
        raise BatchRejected(f"the provider listed course ids more than once: {listed}")
    share = rejected / total if total else 0.0
    if share > settings.max_reject_share:
        raise BatchRejected(
            f"{rejected} of {total} course records ({share:.1%}) break a row rule, above the "
            f"max_reject_share setting ({settings.max_reject_share:.1%}); nothing was loaded. "
            f"The records and their rules are in ops.rejected_records (run_id = {run_id!r})"
        )
    return {"records": total, "rejected": rejected}


def load_courses(
    conn: psycopg.Connection,
    run_id: str,
    connector_id: str,
    settings: ConnectorSettings,
    synced_at: dt.datetime,
) -> dict[str, Any]:
    """Merge staged courses into lms.courses and the group's catalogue, in one transaction."""
    sql = sql_statements("catalogue/merge_courses.sql")
    params = {
        "run_id": run_id,
        "connector_id": connector_id,
        "group_id": settings.target_group_id,
        "author_email": settings.author_email,
        "languages": list(settings.languages),
        "kept": sorted(contract.KEPT_STATUSES),
        "synced_at": synced_at,
    }
    with conn.transaction():
        lock_connector(conn, connector_id)
        conn.execute(sql["plan"], params)
        with conn.cursor(row_factory=dict_row) as cur:
            counts = cur.execute(sql["counts"]).fetchone()
        added = dict(conn.execute(sql["reasons_added"]).fetchall())
        removed = dict(conn.execute(sql["reasons_removed"]).fetchall())
        inserted = conn.execute(sql["insert_new"], params).rowcount
        updated = conn.execute(sql["update_changed"], params).rowcount
        catalogued = conn.execute(sql["add_to_catalogue"], params).rowcount
        conn.execute("DROP TABLE course_plan")
    result = {
        "created": counts["created"],
        "updated": counts["updated"],
        "archived": counts["archived"],
        "unarchived": counts["unarchived"],
        "created_archived": counts["created_archived"],
        "active": counts["active_after"],
        "reasons_added": added,
        "reasons_removed": removed,
        "rows_written": inserted + updated,
        "catalogue_added": catalogued,
    }
    log.info("catalogue merge for %s: %s", connector_id, result)
    return result
