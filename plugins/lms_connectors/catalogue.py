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
import pandas as pd
import psycopg
from psycopg.rows import dict_row

from lms_connectors.openclassrooms import contract
from lms_connectors.openclassrooms.transform import COURSE_COLUMNS, course_row
from lms_connectors.paths import sql_statements
from lms_connectors.settings import ConnectorSettings
from lms_connectors.warehouse import quarantine

log = logging.getLogger(__name__)
CHUNK_ROWS = 5000


class MassArchiveBlocked(RuntimeError):
    """The run would archive more of the active catalogue than the settings allow."""


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
    """Type every staged record into staging.courses (values that do not convert become NULL)."""
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
                        copy.write_row((run_id, seq, *(row[c] for c in COURSE_COLUMNS)))
                rows += len(chunk)
    return {"records": rows}


def validate_courses(
    conn: psycopg.Connection, run_id: str, connector_id: str, settings: ConnectorSettings
) -> dict[str, Any]:
    """Row rules (great-expectations) quarantine bad records; batch rules stop the run
    before any target table changes. Rejects are recorded even when the batch fails."""
    from lms_connectors import quality

    frame = pd.DataFrame(
        conn.execute(
            f"SELECT seq, {', '.join(COURSE_COLUMNS)} FROM staging.courses WHERE run_id = %s ORDER BY seq", (run_id,)
        ).fetchall(),
        columns=["seq", *COURSE_COLUMNS],
    )
    reasons = quality.row_reasons(frame.drop(columns=["seq", "reject_reason"]), quality.COURSE_ROW_RULES, "courses")
    rejected = frame.loc[reasons.notna(), ["seq"]].assign(reason=reasons[reasons.notna()])
    with conn.transaction():
        quarantine.stage_rejects(conn, rejected)
        quarantine.mark_rejects(conn, "staging.courses", "reject_reason", run_id)
        quarantine.record_rejects(
            conn,
            run_id,
            connector_id,
            "course",
            """SELECT s.reject_reason AS reason, r.record
               FROM staging.courses s JOIN staging.raw_courses r USING (run_id, seq)
               WHERE s.run_id = %s AND s.reject_reason IS NOT NULL""",
            (run_id,),
        )
    accepted_ids = frame.loc[reasons.isna(), "provider_course_id"]
    failures = quality.batch_failures(accepted_ids, len(rejected), len(frame), settings.max_reject_share, "course")
    quarantine.stop_if_failed(failures, run_id)
    by_reason = collections.Counter(rejected["reason"])
    return {"records": len(frame), "rejected": len(rejected), "rejected_by_reason": dict(by_reason)}


def load_courses(
    conn: psycopg.Connection,
    run_id: str,
    connector_id: str,
    settings: ConnectorSettings,
    synced_at: dt.datetime,
    *,
    override_mass_archive: bool = False,
) -> dict[str, Any]:
    """Merge staged courses into lms.courses and the group's catalogue, in one transaction.

    Raises MassArchiveBlocked, changing nothing, when the provider's data would
    archive more than ``max_archive_share`` of the active catalogue, unless
    ``override_mass_archive``.
    """
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
        conn.execute(sql["analyze_plan"])
        with conn.cursor(row_factory=dict_row) as cur:
            counts = cur.execute(sql["counts"]).fetchone()
        provider_archivals, active_before = conn.execute(sql["breaker"]).fetchone()
        share = provider_archivals / active_before if active_before else 0.0
        if share > settings.max_archive_share and not override_mass_archive:
            raise MassArchiveBlocked(
                f"this run would archive {provider_archivals} of {active_before} active courses ({share:.0%}) "
                f"because the provider no longer lists them or changed their status, above max_archive_share "
                f"({settings.max_archive_share:.0%}); nothing was changed. If the change is real, run the day "
                f"again with the parameter override_mass_archive = true"
            )
        if share > settings.max_archive_share:
            log.warning("mass archive of %d/%d active courses allowed by override", provider_archivals, active_before)
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
        "provider_archivals": provider_archivals,
        "override_mass_archive": override_mass_archive,
    }
    log.info("catalogue merge for %s: %s", connector_id, result)
    return result
