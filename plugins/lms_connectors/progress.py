"""Learning statistics steps: extract -> transform -> validate -> load.

Learner emails are turned into a keyed hash (HMAC-SHA256, key in
``ops.hash_keys``) as they are extracted, so no email reaches the database in
clear; LMS users are matched on the hash of their own (trimmed, lower-case)
email. Transform works on pandas chunks; load merges in one transaction.
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import hmac
import io
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import orjson
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
from psycopg.rows import dict_row

from lms_connectors.catalogue import lock_connector
from lms_connectors.openclassrooms import contract as c
from lms_connectors.openclassrooms.convert import normalise_email
from lms_connectors.paths import sql_statements
from lms_connectors.settings import ConnectorSettings
from lms_connectors.warehouse import quarantine

log = logging.getLogger(__name__)
CHUNK_ROWS = 50_000
# Above this many rows written, the merge refreshes the targets' statistics.
ANALYZE_AFTER_ROWS = 20_000
PROGRESS_COLUMNS = (
    "provider_course_id",
    "lms_course_id",
    "user_id",
    "progress_pct",
    "time_spent_minutes",
    "started_at",
    "completed_at",
    "provider_updated_at",
    "learner_hash",
    "outcome",
)


def hash_key(conn: psycopg.Connection) -> bytes:
    row = conn.execute("SELECT key FROM ops.hash_keys WHERE name = 'learner_email'").fetchone()
    if row is None:
        raise RuntimeError("ops.hash_keys has no learner_email key; apply the warehouse migrations")
    return row[0].encode()


def learner_hash(key: bytes, email: Any) -> str | None:
    if not isinstance(email, str) or not email.strip():
        return None
    return hmac.new(key, normalise_email(email).encode(), hashlib.sha256).hexdigest()


def extract_activity(conn: psycopg.Connection, pages: Iterable[list[dict[str, Any]]], run_id: str) -> int:
    """Stream activity pages into staging.raw_activity with the email replaced by its hash."""
    key = hash_key(conn)
    seq = 0
    with conn.transaction():
        conn.execute("DELETE FROM staging.raw_activity WHERE run_id = %s", (run_id,))
        with (
            conn.cursor() as cur,
            cur.copy("COPY staging.raw_activity (run_id, seq, learner_hash, record) FROM STDIN") as copy,
        ):
            for page in pages:
                for record in page:
                    if isinstance(record, dict):
                        email = record.pop(c.ACTIVITY_LEARNER_EMAIL, None)
                        digest = learner_hash(key, email)
                    else:
                        digest = None
                    copy.write_row((run_id, seq, digest, orjson.dumps(record).decode()))
                    seq += 1
                if seq and seq % 200_000 < len(page):
                    log.info("staged %d activity records so far", seq)
    log.info("staged %d raw activity records for run %s", seq, run_id)
    return seq


def _lookups(conn: psycopg.Connection, connector_id: str) -> tuple[pd.Series, pd.DataFrame]:
    key = hash_key(conn)
    pairs = {learner_hash(key, email): uid for uid, email in conn.execute("SELECT user_id, email FROM lms.users")}
    # A Series maps a chunk's hashes in one indexer lookup; a dict is turned into one per call.
    users = pd.Series(pairs, dtype=object)
    courses = pd.DataFrame(
        conn.execute(
            "SELECT provider_course_id, lms_course_id, duration_minutes FROM lms.courses WHERE connector_id = %s",
            (connector_id,),
        ).fetchall(),
        columns=["course_id", "lms_course_id", "duration_minutes"],
    )
    return users, courses


def _timestamps(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")


def transform_chunk(records: pd.DataFrame, users: Mapping[str, str] | pd.Series, courses: pd.DataFrame) -> pd.DataFrame:
    """Pure: typed progress rows; values that do not convert become NULL.

    ``records`` has columns seq, learner_hash and the provider fields. The
    outcome is ``ok`` or ``unmatched`` (the learner is no LMS user); the
    data-quality rules later turn broken rows into rejects.
    """
    df = records.copy()
    for col in (
        c.ACTIVITY_COURSE_ID,
        c.ACTIVITY_PROGRESS,
        c.ACTIVITY_STARTED_AT,
        c.ACTIVITY_COMPLETED_AT,
        c.ACTIVITY_UPDATED_AT,
    ):
        if col not in df:
            df[col] = None
    course_id = df[c.ACTIVITY_COURSE_ID].astype("string").str.strip()
    df["course_id"] = course_id.astype(object).where(course_id.fillna("") != "", None)
    progress = pd.to_numeric(df[c.ACTIVITY_PROGRESS], errors="coerce")
    df = df.merge(courses, on="course_id", how="left")
    df["user_id"] = df["learner_hash"].map(users)
    return pd.DataFrame(
        {
            "seq": df["seq"],
            "provider_course_id": df["course_id"],
            "lms_course_id": df["lms_course_id"].astype("Int64"),
            "user_id": df["user_id"],
            "progress_pct": progress.round(2),
            "time_spent_minutes": (df["duration_minutes"] * progress.clip(0, 100) / 100).round(2),
            "started_at": _timestamps(df[c.ACTIVITY_STARTED_AT]),
            "completed_at": _timestamps(df[c.ACTIVITY_COMPLETED_AT]),
            "provider_updated_at": _timestamps(df[c.ACTIVITY_UPDATED_AT]),
            "learner_hash": df["learner_hash"],
            "outcome": np.where(df["user_id"].isna(), "unmatched", "ok"),
        }
    )


# The provider fields the transform reads, extracted by Postgres from the raw
# JSON (``->>``): no JSON decoding or per-record dicts in Python.
ACTIVITY_FIELDS = (
    c.ACTIVITY_COURSE_ID,
    c.ACTIVITY_PROGRESS,
    c.ACTIVITY_STARTED_AT,
    c.ACTIVITY_COMPLETED_AT,
    c.ACTIVITY_UPDATED_AT,
)


def to_csv(frame: pd.DataFrame, run_id: str) -> bytes:
    """Staging rows as CSV for COPY: pyarrow's writer, NULL as an unquoted empty field."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type) and field.type.tz is not None:
            # Arrow stores UTC; written without the zone, timestamps format 15x faster
            # (the COPY runs with TimeZone = UTC, see transform_progress).
            table = table.set_column(i, field.name, table.column(i).cast(pa.timestamp("us")))
    table = table.add_column(0, "run_id", pa.array([run_id] * len(frame), pa.string()))
    buf = io.BytesIO()
    pa_csv.write_csv(table, buf, pa_csv.WriteOptions(include_header=False))
    return buf.getvalue()


def transform_progress(conn: psycopg.Connection, run_id: str, connector_id: str) -> dict[str, Any]:
    users, courses = _lookups(conn, connector_id)
    outcomes: collections.Counter[str] = collections.Counter()
    unmatched: set[str] = set()
    matched: set[str] = set()
    with conn.transaction():
        conn.execute("DELETE FROM staging.progress WHERE run_id = %s", (run_id,))
        # to_csv writes UTC timestamps without a zone.
        conn.execute("SET LOCAL TimeZone = 'UTC'")
        columns = ", ".join(("run_id", "seq", *PROGRESS_COLUMNS))
        fields = ", ".join("record ->> %s" for _ in ACTIVITY_FIELDS)
        with conn.cursor(name="raw_activity") as src, conn.cursor() as dst:
            src.execute(
                f"SELECT seq, learner_hash, {fields} FROM staging.raw_activity WHERE run_id = %s ORDER BY seq",
                (*ACTIVITY_FIELDS, run_id),
            )
            done = 0
            while chunk := src.fetchmany(CHUNK_ROWS):
                out = transform_chunk(
                    pd.DataFrame(chunk, columns=["seq", "learner_hash", *ACTIVITY_FIELDS]), users, courses
                )
                outcomes.update(out["outcome"].value_counts().to_dict())
                unmatched.update(out.loc[out["outcome"] == "unmatched", "learner_hash"].dropna().unique())
                matched.update(out.loc[out["outcome"] == "ok", "user_id"].unique())
                with dst.copy(f"COPY staging.progress ({columns}) FROM STDIN (FORMAT csv)") as copy:
                    copy.write(to_csv(out, run_id))
                done += len(out)
                if done % (4 * CHUNK_ROWS) < CHUNK_ROWS:
                    log.info("transformed %d activity records so far", done)
    return {
        "records": sum(outcomes.values()),
        "unmatched_records": outcomes.get("unmatched", 0),
        "unmatched_learners": len(unmatched),
        "matched_learners": len(matched),
    }


def validate_progress(
    conn: psycopg.Connection,
    run_id: str,
    connector_id: str,
    settings: ConnectorSettings,
    interval_start: dt.datetime,
    interval_end: dt.datetime,
) -> dict[str, Any]:
    """Row rules (great-expectations, chunk by chunk) quarantine broken records; too many
    rejects stop the run before any target table changes. Records must fall in the
    run's interval [interval_start, interval_end)."""
    from lms_connectors import quality

    columns = ["seq", "learner_hash", "provider_course_id", "lms_course_id", "progress_pct", "provider_updated_at"]
    total = 0
    by_reason: collections.Counter[str] = collections.Counter()
    with conn.transaction():
        with conn.cursor(name="progress_rules") as src:
            # Row rules need no order; staging.progress has no index to read one from.
            src.execute(f"SELECT {', '.join(columns)} FROM staging.progress WHERE run_id = %s", (run_id,))
            while chunk := src.fetchmany(CHUNK_ROWS):
                frame = pd.DataFrame(chunk, columns=columns)
                frame["progress_pct"] = frame["progress_pct"].astype(float)
                updated = pd.to_datetime(frame["provider_updated_at"], utc=True)
                # A missing timestamp is invalid_updated_at's to report.
                frame["in_interval"] = updated.isna() | ((updated >= interval_start) & (updated < interval_end))
                reasons = quality.row_reasons(frame.drop(columns=["seq"]), quality.PROGRESS_ROW_RULES, "progress")
                rejected = frame.loc[reasons.notna(), ["seq"]].assign(reason=reasons[reasons.notna()])
                quarantine.stage_rejects(conn, rejected)
                by_reason.update(rejected["reason"])
                total += len(frame)
        quarantine.mark_rejects(conn, "staging.progress", "outcome", run_id)
        # The raw record already holds the learner's hash, never the email.
        quarantine.record_rejects(
            conn,
            run_id,
            connector_id,
            "progress",
            """SELECT p.outcome AS reason, r.record || jsonb_build_object('learner_hash', r.learner_hash) AS record
               FROM staging.progress p JOIN staging.raw_activity r USING (run_id, seq)
               WHERE p.run_id = %s AND p.outcome NOT IN ('ok', 'unmatched')""",
            (run_id,),
        )
    rejected_total = sum(by_reason.values())
    failures = quality.batch_failures(
        pd.Series([], dtype=object), rejected_total, total, settings.max_reject_share, "learning-activity"
    )
    quarantine.stop_if_failed(failures, run_id)
    return {"records": total, "rejected": rejected_total, "rejected_by_reason": dict(by_reason)}


def load_progress(
    conn: psycopg.Connection, run_id: str, connector_id: str, interval_start: dt.datetime, interval_end: dt.datetime
) -> dict[str, Any]:
    """Current progress (newer provider record wins) and the days' snapshot, in one transaction.

    When the interval's days already hold rows, only day rows that are new or
    changed reach the batch (``batch_rows``) and the targets; a re-run that
    changes nothing writes nothing.
    """
    sql = sql_statements("stats/merge_progress.sql")
    params = {
        "run_id": run_id,
        "connector_id": connector_id,
        "day_from": interval_start.date(),
        "day_to": interval_end.date()
        if interval_end.time() == dt.time()
        else interval_end.date() + dt.timedelta(days=1),
    }
    with conn.transaction():
        lock_connector(conn, connector_id)
        conn.execute(sql["memory"])
        fresh = conn.execute(sql["daily_is_empty"], params).fetchone()[0]
        if fresh:
            conn.execute(sql["no_diff"])
            stale = changed = 0
        else:
            changed = conn.execute(sql["diff"], params).rowcount
            conn.execute(sql["analyze_diff"])
            stale = conn.execute(sql["daily_delete_stale"], params).rowcount
            changed -= stale
        # A re-run that changes nothing does not read the run's records again.
        batch = "batch" if fresh or changed else "empty_batch"
        conn.execute(sql[batch], {**params, "all_records": fresh})
        if conn.execute(sql["current_is_empty"], params).fetchone()[0]:
            current = conn.execute(sql["insert_current"], params).rowcount
        else:
            current = conn.execute(sql["upsert_current"], params).rowcount
        daily = conn.execute(sql["insert_daily" if fresh else "daily_upsert"], params).rowcount
        unmatched = conn.execute(sql["unmatched"], params).rowcount
        if current + daily + stale > ANALYZE_AFTER_ROWS:
            conn.execute(sql["analyze_targets"])
        with conn.cursor(row_factory=dict_row) as cur:
            summary = cur.execute(sql["summary"]).fetchone()
        conn.execute("DROP TABLE progress_batch")
    result = {
        "progress_rows": current,
        "daily_rows": daily + stale,
        "daily_rows_deleted": stale,
        "unmatched_hashes_recorded": unmatched,
        **summary,
    }
    log.info("progress merge for %s: %s", connector_id, result)
    return result
