"""Learning statistics steps: extract -> transform -> validate -> load.

Learner emails are turned into a keyed hash (HMAC-SHA256; the key comes from
an Airflow Connection, ``lms_connectors.privacy.pseudonym``) as they are extracted, so
no email reaches the database in clear; LMS users are matched on the hash of
their own (trimmed, lower-case) email. Transform works on pandas chunks; load merges in one transaction.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import io
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import orjson
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
from psycopg.rows import dict_row

from lms_connectors.privacy.pseudonym import identity_hash, learner_hash
from lms_connectors.providers import Provider
from lms_connectors.rules import guard, listing
from lms_connectors.rules import records as r
from lms_connectors.rules.errors import PermanentError, StagingLost
from lms_connectors.rules.paths import sql_statements
from lms_connectors.rules.settings import ConnectorSettings
from lms_connectors.warehouse import quarantine, validation
from lms_connectors.warehouse.db import lock_connector
from lms_connectors.warehouse.lms_users import identity_pages, survivors, user_pages

log = logging.getLogger(__name__)
# Rows a step holds at a time: its peak memory is set by these, not by the run's size. Measured
# (bench/steps.py, 100,000 and 1,000,000 records): 50,000-row chunks put transform at 290 MB and
# validation at 410 (great-expectations' import alone is 260 MB, its run of a chunk 73 MB more at
# 50,000 rows, 27 MB at 10,000); per chunk a validation run costs about 0.15 s of fixed work
# (bench/gx_chunks.py).
CHUNK_ROWS = 20_000
VALIDATE_CHUNK_ROWS = 10_000
# Validation lists at most this many failing rows per rule from the database (DATABASE_REJECTS_MAX
# seq values a rule: a few MB); a rule that fails more sends the run to the chunked check.
DATABASE_REJECTS_MAX = 20_000
# Above this many rows written to a target, and above the rows its statistics know of, the merge
# refreshes the targets' statistics (stale_statistics).
ANALYZE_AFTER_ROWS = 20_000
# A connector's first load of more rows than this refreshes them too, whatever the targets hold.
FIRST_LOAD_ANALYZE_ROWS = 1_000
PROGRESS_COLUMNS = (
    "provider_course_id",
    "lms_course_id",
    "user_id",
    "progress_pct",
    "time_spent_minutes",
    "time_viewed_minutes",
    "started_at",
    "completed_at",
    "provider_updated_at",
    "learner_hash",
    "identity_hash",
    "outcome",
    "reject_detail",
)


# A day's measured viewing beyond this is not plausible (a week of continuous viewing).
MAX_SECONDS_VIEWED = 7 * 24 * 3600


def extract_activity(
    conn: psycopg.Connection,
    pages: listing.Pages | Callable[[], listing.Pages],
    run_id: str,
    key: bytes,
    provider: Provider,
    suppression_key: bytes | None = None,
    only: frozenset[str] | None = None,
) -> dict[str, int]:
    """Stream activity pages through the record guard into staging.raw_activity.

    The email is replaced by its keyed hash and every field off the
    allow-list is dropped before anything is written; a record the guard
    quarantines is staged as its safe envelope with the reason. A record of
    an erased learner (``ops.suppressed_learners``, hashed with
    ``suppression_key``) is dropped before staging and only counted. A listing
    that changed while it was read is read again (``pages`` a factory).
    With ``only`` (learner hashes, of emails or ids), the records of other
    learners are not staged (a healing reads a day for some learners alone).
    """
    return listing.restarting(
        lambda it: _extract_activity(conn, it, run_id, key, provider, suppression_key, only),
        pages,
        "the learning activity",
    )


def suppressed_hashes(conn: psycopg.Connection) -> tuple[int, frozenset[str]]:
    """The erasures applied so far (a counter) and the suppression list they left, in one snapshot."""
    generation, hashes = conn.execute(
        """SELECT (SELECT generation FROM ops.erasure_generation),
                  ARRAY(SELECT suppression_hash FROM ops.suppressed_learners)"""
    ).fetchone()
    return int(generation), frozenset(hashes)


def erasure_generation(conn: psycopg.Connection) -> int:
    return int(conn.execute("SELECT generation FROM ops.erasure_generation").fetchone()[0])


def _extract_activity(
    conn: psycopg.Connection,
    pages: listing.Pages,
    run_id: str,
    key: bytes,
    provider: Provider,
    suppression_key: bytes | None,
    only: frozenset[str] | None = None,
) -> dict[str, int]:
    schema = provider.activity_schema
    email_path = schema.field(r.LEARNER).path
    learner_ids = _LearnerIds.of(provider)
    seq = suppressed = 0
    generation, erased = suppressed_hashes(conn)
    if suppression_key is None:
        erased = frozenset()
    with conn.transaction():
        conn.execute("DELETE FROM staging.raw_activity WHERE run_id = %s", (run_id,))
        with (
            conn.cursor() as cur,
            cur.copy(
                """COPY staging.raw_activity (run_id, seq, learner_hash, identity_hash, record, reject_reason,
                                              reject_detail) FROM STDIN"""
            ) as copy,
        ):
            for page in pages:
                for raw in page:
                    if erased and (
                        learner_hash(suppression_key, guard.lookup(raw, email_path)) in erased
                        or learner_ids.hash(suppression_key, raw) in erased
                    ):
                        suppressed += 1
                        continue
                    screened = guard.screen(raw, schema)
                    record = screened.record
                    # A refused record's email and id still give hashes (to link its rejects), never clear
                    # values; an accepted record's screened copy holds them.
                    learner_id = record.pop(r.LEARNER_ID, None)
                    if screened.reason is None:
                        email = record.pop(r.LEARNER, None)
                    else:
                        email, learner_id = guard.lookup(raw, email_path), learner_ids.value(raw)
                    identity = learner_ids.hash_value(key, learner_id)
                    hashed = learner_hash(key, email)
                    if only is not None and hashed not in only and identity not in only:
                        continue
                    copy.write_row(
                        (
                            run_id,
                            seq,
                            # A learner without an email is known by their id.
                            hashed or identity,
                            identity,
                            orjson.dumps(record).decode(),
                            screened.reason,
                            screened.detail,
                        )
                    )
                    seq += 1
                if seq and seq % 200_000 < len(page):
                    log.info("staged %d activity records so far", seq)
    log.info("staged %d raw activity records for run %s (%d of erased learners dropped)", seq, run_id, suppressed)
    return {"records": seq, "suppressed": suppressed, "erasure_generation": generation}


@dataclasses.dataclass(frozen=True)
class _LearnerIds:
    """Where a provider's records carry a learner id (``records.LEARNER_ID``), and which identity it is."""

    path: tuple | None
    kind: str
    issuer: str

    @classmethod
    def of(cls, provider: Provider) -> _LearnerIds:
        if provider.learner_id_kind is None:
            return cls(None, "", "")
        return cls(
            provider.activity_schema.field(r.LEARNER_ID).path, provider.learner_id_kind, provider.identity_issuer
        )

    def value(self, raw: Any) -> Any:
        """The raw record's learner id, None when the provider's records carry none."""
        return None if self.path is None else guard.lookup(raw, self.path)

    def hash_value(self, key: bytes, value: Any) -> str | None:
        """The keyed hash of a learner id, None when there is none."""
        return None if self.path is None else identity_hash(key, self.kind, self.issuer, value)

    def hash(self, key: bytes, raw: Any) -> str | None:
        """The keyed hash of the raw record's learner id, None when it carries none."""
        return self.hash_value(key, self.value(raw))


# How a learner (``a``: its ``learner_hash`` and ``identity_hash``) is matched to the LMS users staged by
# stage_user_hashes, for the transform and healing alike. The strongest identity first: a learner's id
# that is an LMS user's (or several users') decides, whatever their email says; else their email. The
# learner is an LMS user's when MATCHED_USERS is 1; more is ambiguous, NULL unknown.
MATCH_JOINS = """LEFT JOIN lms_user_hashes u ON u.learner_hash = a.learner_hash
                 LEFT JOIN lms_identity_hashes i ON i.learner_hash = a.identity_hash"""
MATCHED_USER = "CASE WHEN i.users IS NOT NULL THEN i.user_id ELSE u.user_id END"
MATCHED_USERS = "coalesce(i.users, u.users)"


def stage_user_hashes(conn: psycopg.Connection, key: bytes, provider: Provider) -> None:
    """The LMS users' hashes in temporary tables (dropped at commit), hashed chunk by chunk: the
    transform joins the run's records to them in the database, so no task holds every user.

    ``lms_user_hashes``: every email the LMS knows for a user gives a hash (``lms.users`` and
    ``lms.user_emails``). ``lms_identity_hashes``: every identity of the kind the provider's records
    carry (``lms.user_identities``). A hash that stands for two users or more (a former email of one
    is another's, two addresses differing only by case or spaces, an id given twice) matches
    neither: ``user_id`` is NULL and ``users`` counts them, so the transform quarantines its records
    instead of guessing."""
    # A retired account's emails and ids are its survivor's (lms_connectors.pipeline.merges).
    merged = survivors(conn)
    _stage_hashes(
        conn,
        "lms_user_hashes",
        (
            ((merged.get(uid, uid), learner_hash(key, email)) for uid, email in users)
            for users in user_pages(conn, CHUNK_ROWS)
        ),
    )
    kind, issuer = provider.learner_id_kind, provider.identity_issuer
    _stage_hashes(
        conn,
        "lms_identity_hashes",
        (
            ((merged.get(uid, uid), identity_hash(key, str(kind), issuer, value)) for uid, value in users)
            for users in (identity_pages(conn, kind, issuer, CHUNK_ROWS) if kind else ())
        ),
    )


def _stage_hashes(conn: psycopg.Connection, table: str, pages: Iterable[Iterable[tuple[str, str | None]]]) -> None:
    """``table`` (learner_hash, user_id, users): each hash of ``pages`` (user id, hash; None for a
    value that gives none), with its user where it stands for one user alone."""
    conn.execute("CREATE TEMP TABLE user_hashes (learner_hash text NOT NULL, user_id text NOT NULL) ON COMMIT DROP")
    for users in pages:
        with conn.cursor() as cur, cur.copy("COPY user_hashes (learner_hash, user_id) FROM STDIN") as copy:
            for uid, hashed in users:
                if hashed is not None:
                    copy.write_row((hashed, uid))
    conn.execute(
        f"""CREATE TEMP TABLE {table} ON COMMIT DROP AS
            SELECT learner_hash, CASE WHEN count(DISTINCT user_id) = 1 THEN min(user_id) END AS user_id,
                   count(DISTINCT user_id) AS users
            FROM user_hashes GROUP BY learner_hash"""
    )
    conn.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (learner_hash)")
    conn.execute(f"ANALYZE {table}")
    conn.execute("DROP TABLE user_hashes")


def _courses(conn: psycopg.Connection, connector_id: str) -> pd.DataFrame:
    return pd.DataFrame(
        conn.execute(
            "SELECT provider_course_id, lms_course_id, duration_minutes FROM lms.courses WHERE connector_id = %s",
            (connector_id,),
        ).fetchall(),
        columns=["course_id", "lms_course_id", "duration_minutes"],
    )


# What the database's match of a record's hashes to LMS users gives the transform.
_MATCH_COLUMNS = ("user_id", "lms_users", "matched_by", "identity_hash")


def transform_chunk(records: pd.DataFrame, courses: pd.DataFrame, provider: Provider) -> pd.DataFrame:
    """Pure: typed progress rows, every value within its column's range.

    ``records`` has columns seq, learner_hash, the provider fields, ``_MATCH_COLUMNS`` (user_id: the
    LMS user matched to the learner's id or email; lms_users: how many that id or email stands for;
    matched_by: ``id`` or ``email``) and the guard's reject_reason/reject_detail. The outcome is
    ``ok``, ``unmatched`` (no LMS user), ``ambiguous_learner`` (several: never guessed) or the reason
    a value could not be typed; the data-quality rules then name the remaining broken rows.

    Completion is the provider's completed_at or a progress of exactly 100
    before any rounding: a completed record without completed_at gets its
    updated_at, and a progress below 100 never rounds up to 100.

    Timestamps are read in the provider's encoding (``Provider.timestamps``). Time
    comes from the provider's rule (``Provider.time_rule``): a rule whose minutes
    are the day's gives them as ``time_viewed_minutes`` (summed by the merge),
    any other as ``time_spent_minutes``.
    """
    df = records.copy()
    for col in (*r.ACTIVITY_FIELDS, *_MATCH_COLUMNS, "reject_reason", "reject_detail"):
        if col not in df:
            df[col] = None
    course_id = df[r.COURSE_ID].astype("string").str.strip()
    df["course_id"] = course_id.astype(object).where(course_id.fillna("") != "", None)
    raw_progress = pd.to_numeric(df[r.PROGRESS], errors="coerce")
    progress_bad = raw_progress.notna() & ~raw_progress.between(0, 100)
    progress = raw_progress.where(~progress_bad)
    pct = progress.round(2)
    pct = pct.where(~((pct >= 100) & (progress < 100)), 99.99)
    raw_seconds = pd.to_numeric(df[r.SECONDS_VIEWED], errors="coerce")
    seconds_bad = raw_seconds.notna() & ~raw_seconds.between(0, MAX_SECONDS_VIEWED)
    seconds = raw_seconds.where(~seconds_bad).fillna(0.0)
    encoding = provider.timestamps
    updated, updated_bad = encoding.parse_series(df[r.UPDATED_AT])
    started, started_bad = encoding.parse_series(df[r.STARTED_AT])
    completed, completed_bad = encoding.parse_series(df[r.COMPLETED_AT])
    completed = completed.where(completed.notna() | (progress != 100), updated)
    df = df.merge(courses, on="course_id", how="left")
    rule = provider.time_spent_minutes(
        df["duration_minutes"].to_numpy(dtype=float), progress.to_numpy(dtype=float), seconds.to_numpy(dtype=float)
    )
    minutes = pd.Series(rule, dtype=float).round(2)
    measured = provider.time_rule.summed_by_day

    reason = pd.Series(df["reject_reason"].to_numpy(), dtype=object)
    detail = pd.Series(df["reject_detail"].to_numpy(), dtype=object)
    window = f"{encoding.described} from {guard.TIMESTAMP_MIN:%Y} to {guard.TIMESTAMP_MAX:%Y}"
    _mark_ambiguous(df["lms_users"], df["matched_by"], reason, detail)
    for bad, name, field, expected in (
        (progress_bad, "progress_out_of_range", r.PROGRESS, "a progress from 0 to 100"),
        (seconds_bad, "invalid_time_viewed", r.SECONDS_VIEWED, f"a time viewed from 0 to {MAX_SECONDS_VIEWED} s"),
        (updated_bad, "invalid_updated_at", r.UPDATED_AT, window),
        (started_bad, "invalid_started_at", r.STARTED_AT, window),
        (completed_bad, "invalid_completed_at", r.COMPLETED_AT, window),
    ):
        hit = bad.to_numpy() & reason.isna().to_numpy()
        if hit.any():
            reason[hit] = name
            detail[hit] = [f"{field} {_shown(v)} is not {expected}" for v in df.loc[hit, field]]
    outcome = np.where(reason.notna(), reason, np.where(df["user_id"].isna(), "unmatched", "ok"))
    keep = reason.isna().to_numpy()
    return pd.DataFrame(
        {
            "seq": df["seq"],
            "provider_course_id": df["course_id"],
            "lms_course_id": df["lms_course_id"].astype("Int64"),
            "user_id": df["user_id"],
            "progress_pct": pct.where(keep),
            "time_spent_minutes": minutes.where(keep & (not measured)),
            "time_viewed_minutes": minutes.where(keep & measured),
            "started_at": started,
            "completed_at": completed,
            "provider_updated_at": updated,
            "learner_hash": df["learner_hash"],
            "identity_hash": df["identity_hash"],
            "outcome": outcome,
            "reject_detail": detail,
        }
    )


def _mark_ambiguous(lms_users: pd.Series, matched_by: pd.Series, reason: pd.Series, detail: pd.Series) -> None:
    """Give ``ambiguous_learner`` to the records not yet rejected whose id or email is several LMS users'."""
    users = pd.to_numeric(lms_users, errors="coerce").fillna(0).to_numpy()
    hit = (users > 1) & reason.isna().to_numpy()
    if hit.any():
        reason[hit] = "ambiguous_learner"
        detail[hit] = [
            f"the learner's {'id' if by == 'id' else 'email'} is that of {int(n)} LMS users"
            for n, by in zip(users[hit], matched_by.to_numpy()[hit], strict=True)
        ]


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def transform_guarded(records: pd.DataFrame, courses: pd.DataFrame, provider: Provider) -> pd.DataFrame:
    """:func:`transform_chunk`, except that a chunk it cannot convert is converted record by
    record, and a record that still fails is quarantined (``unconvertible_record``)."""
    try:
        return transform_chunk(records, courses, provider)
    except Exception as exc:  # one record must not stop the run: find it and quarantine it
        log.warning("a chunk of %d records failed to convert (%s); converting record by record", len(records), exc)
    parts = []
    for i in range(len(records)):
        one = records.iloc[i : i + 1].reset_index(drop=True)
        try:
            parts.append(transform_chunk(one, courses, provider))
        except Exception as exc:
            # The same conversion of a record with no provider values cannot fail and gives the right types.
            blank = one[["seq", "learner_hash", "user_id"]].assign(
                reject_reason="unconvertible_record", reject_detail=f"{type(exc).__name__}: {str(exc)[:200]}"
            )
            parts.append(transform_chunk(blank, courses, provider))
    return pd.concat(parts, ignore_index=True)


# The fields the transform reads are extracted by Postgres from the raw JSON
# (``->>``, r.ACTIVITY_FIELDS): no JSON decoding or per-record dicts in Python.


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


def transform_progress(
    conn: psycopg.Connection, run_id: str, connector_id: str, key: bytes, provider: Provider
) -> dict[str, Any]:
    courses = _courses(conn, connector_id)
    outcomes: collections.Counter[str] = collections.Counter()
    columns = [
        "seq",
        "learner_hash",
        "identity_hash",
        "user_id",
        "lms_users",
        "matched_by",
        *r.ACTIVITY_FIELDS,
        "reject_reason",
        "reject_detail",
    ]
    with conn.transaction():
        conn.execute("DELETE FROM staging.progress WHERE run_id = %s", (run_id,))
        stage_user_hashes(conn, key, provider)
        # to_csv writes UTC timestamps without a zone.
        conn.execute("SET LOCAL TimeZone = 'UTC'")
        # The cursor is read to its end: plan for all its rows, not its first tenth, and in no order
        # (each row carries its seq). Ordered and fast-start, the plan probed the users' hashes through
        # their index once per record: 6.4 s for 1M records, against 1.4 s for a hash join.
        conn.execute("SET LOCAL cursor_tuple_fraction = 1")
        targets = ", ".join(("run_id", "seq", *PROGRESS_COLUMNS))
        # ->> gives text: the progress is read as the JSON number the guard let through.
        fields = ", ".join("a.record ->> %s" for _ in r.ACTIVITY_FIELDS)
        with conn.cursor(name="raw_activity") as src, conn.cursor() as dst:
            src.execute(
                f"""SELECT a.seq, a.learner_hash, a.identity_hash, {MATCHED_USER}, {MATCHED_USERS},
                           CASE WHEN i.users IS NOT NULL THEN 'id' ELSE 'email' END,
                           {fields}, a.reject_reason, a.reject_detail
                    FROM staging.raw_activity a {MATCH_JOINS}
                    WHERE a.run_id = %s""",
                (*r.ACTIVITY_FIELDS, run_id),
            )
            done = 0
            while chunk := src.fetchmany(CHUNK_ROWS):
                out = transform_guarded(pd.DataFrame(chunk, columns=columns), courses, provider)
                outcomes.update(out["outcome"].value_counts().to_dict())
                with dst.copy(f"COPY staging.progress ({targets}) FROM STDIN (FORMAT csv)") as copy:
                    copy.write(to_csv(out, run_id))
                done += len(out)
                if done % (4 * CHUNK_ROWS) < CHUNK_ROWS:
                    log.info("transformed %d activity records so far", done)
        # Counted where the rows are: a set of every learner seen would grow with the tenant.
        unmatched, matched = conn.execute(
            """SELECT count(DISTINCT learner_hash) FILTER (WHERE outcome = 'unmatched'),
                      count(DISTINCT user_id) FILTER (WHERE outcome = 'ok')
               FROM staging.progress WHERE run_id = %s""",
            (run_id,),
        ).fetchone()
    return {
        "records": sum(outcomes.values()),
        "unmatched_records": outcomes.get("unmatched", 0),
        "unmatched_learners": unmatched,
        "matched_learners": matched,
    }


def validate_progress(
    conn: psycopg.Connection,
    run_id: str,
    connector_id: str,
    settings: ConnectorSettings,
    interval_start: dt.datetime,
    interval_end: dt.datetime,
) -> dict[str, Any]:
    """Row rules (great-expectations) quarantine broken records; too many rejects stop the run
    before any target table changes. Records must fall in the run's interval
    [interval_start, interval_end).

    The rules read the run's rows in the database (``staging.progress_checked``); when a rule fails
    more than DATABASE_REJECTS_MAX rows, they are checked again chunk by chunk in pandas, so that
    every failing row is named in bounded memory."""
    from lms_connectors.rules import quality

    with conn.transaction():
        with _checked_rows_reader(conn, run_id, interval_start, interval_end) as reader:
            broken = validation.database_row_rules(
                lambda: reader, "staging", "progress_checked", "seq", quality.PROGRESS_ROW_RULES, DATABASE_REJECTS_MAX
            )
        if broken is None:
            log.info("a row rule fails more than %d records: checking them chunk by chunk", DATABASE_REJECTS_MAX)
            _stage_chunked_rejects(conn, run_id, interval_start, interval_end)
        else:
            quarantine.stage_rejects(conn, broken)
        quarantine.mark_rejects(conn, "staging.progress", "outcome", "reject_detail", run_id)
        # The raw record already holds the learner's hash, never the email.
        quarantine.record_rejects(
            conn,
            run_id,
            connector_id,
            "progress",
            """SELECT p.outcome AS reason, p.reject_detail AS detail,
                      r.record || jsonb_build_object('learner_hash', r.learner_hash)
                      || CASE WHEN r.identity_hash IS NULL THEN '{}'::jsonb
                              ELSE jsonb_build_object('identity_hash', r.identity_hash) END AS record
               FROM staging.progress p JOIN staging.raw_activity r USING (run_id, seq)
               WHERE p.run_id = %s AND p.outcome NOT IN ('ok', 'unmatched')""",
            (run_id,),
        )
        # Counted once marked: the rejects of earlier steps and of these rules alike.
        by_outcome = dict(
            conn.execute(
                "SELECT outcome, count(*) FROM staging.progress WHERE run_id = %s GROUP BY outcome", (run_id,)
            ).fetchall()
        )
    total = sum(by_outcome.values())
    by_reason = {k: n for k, n in by_outcome.items() if k not in ("ok", "unmatched")}
    rejected_total = sum(by_reason.values())
    failures = quality.batch_failures(
        pd.Series([], dtype=object), rejected_total, total, settings.max_reject_share, "learning-activity"
    )
    quarantine.stop_if_failed(failures, run_id)
    return {"records": total, "rejected": rejected_total, "rejected_by_reason": by_reason}


def _check_settings(
    conn: psycopg.Connection, run_id: str, interval_start: dt.datetime, interval_end: dt.datetime, *, local: bool
) -> None:
    """The session settings ``staging.progress_checked`` reads: the run and its interval."""
    conn.execute(
        """SELECT set_config('lms.run_id', %(run)s, %(local)s),
                  set_config('lms.interval_start', %(start)s, %(local)s),
                  set_config('lms.interval_end', %(end)s, %(local)s)""",
        {"run": run_id, "start": interval_start.isoformat(), "end": interval_end.isoformat(), "local": local},
    )


@contextlib.contextmanager
def _checked_rows_reader(
    conn: psycopg.Connection, run_id: str, interval_start: dt.datetime, interval_end: dt.datetime
) -> Iterator[psycopg.Connection]:
    """A second, read-only session of the same login on the same database, set to read the run's
    ``staging.progress_checked`` (the rows the transform committed)."""
    password = conn.info.password
    with psycopg.connect(conn.info.dsn, **({"password": password} if password else {})) as reader:
        _check_settings(reader, run_id, interval_start, interval_end, local=False)
        reader.commit()
        reader.read_only = True
        yield reader


def _stage_chunked_rejects(
    conn: psycopg.Connection, run_id: str, interval_start: dt.datetime, interval_end: dt.datetime
) -> None:
    """The row rules on the run's checked rows in pandas, VALIDATE_CHUNK_ROWS at a time, each chunk's
    failing rows staged for ``quarantine.mark_rejects``. Called in a transaction: the view's settings
    last as long."""
    from lms_connectors.rules import quality

    _check_settings(conn, run_id, interval_start, interval_end, local=True)

    columns = [
        "seq",
        "learner_hash",
        "provider_course_id",
        "lms_course_id",
        "progress_pct",
        "provider_updated_at",
        "in_interval",
    ]
    with conn.cursor(name="progress_rules") as src:
        src.execute(f"SELECT {', '.join(columns)} FROM staging.progress_checked")
        while chunk := src.fetchmany(VALIDATE_CHUNK_ROWS):
            frame = pd.DataFrame(chunk, columns=columns)
            frame["progress_pct"] = frame["progress_pct"].astype(float)
            quarantine.stage_rejects(
                conn, quality.row_rules_by_key(frame, "seq", quality.PROGRESS_ROW_RULES, "progress")
            )


class ReplayDeleteBlocked(RuntimeError, PermanentError):
    """A deleting replay would remove more of a day's stored rows than the settings allow."""


def load_progress(
    conn: psycopg.Connection,
    run_id: str,
    connector_id: str,
    interval_start: dt.datetime,
    interval_end: dt.datetime,
    *,
    measured: bool = False,
    delete_unreported: bool = False,
    max_replay_delete_share: float = 0.1,
    erasure_generation: int | None = None,
) -> dict[str, Any]:
    """Current progress (newer provider record wins) and the days' snapshot, in one transaction.

    ``measured``: the provider reports the time viewed per day (its records
    carry ``time_viewed_minutes``); time spent is then the sum over the key's
    days, recomputed for the keys the run touched.

    When the interval's days already hold rows, only day rows that are new or
    changed reach the batch (``batch_rows``) and the targets; a re-run that
    changes nothing writes nothing.

    Stored day rows the run no longer reports are kept (``daily_rows_unreported``):
    a replay never erases history the warehouse observed. With
    ``delete_unreported`` they are deleted, except the keys of records the run
    rejected, not at all while a rejected record has no key, and never more
    than ``max_replay_delete_share`` of a day's rows (ReplayDeleteBlocked,
    nothing changed). ``erasure_generation``: see :func:`_check_no_erasure_since`.
    """
    sql = sql_statements("stats/merge_progress.sql")
    # The days the interval touches: [its first day, the day after its last).
    last = interval_end.date() if interval_end.time() == dt.time() else interval_end.date() + dt.timedelta(days=1)
    params = {"run_id": run_id, "connector_id": connector_id, "day_from": interval_start.date(), "day_to": last}
    with conn.transaction():
        lock_connector(conn, connector_id)
        _check_no_erasure_since(conn, erasure_generation)
        conn.execute(sql["memory"])
        diff = _day_diff(conn, sql, params, delete_unreported, max_replay_delete_share)
        fresh, deleted = diff["fresh"], diff["deleted"]
        # A re-run that changes nothing does not read the run's records again.
        batch = "batch" if fresh or diff["changed"] else "empty_batch"
        conn.execute(sql[batch], {**params, "all_records": fresh})
        first_load = conn.execute(sql["current_is_empty"], params).fetchone()[0]
        current = conn.execute(sql["insert_current" if first_load else "upsert_current"], params).rowcount
        daily = conn.execute(sql["insert_daily" if fresh else "daily_upsert"], params).rowcount
        summed = 0
        if measured and (daily or current or deleted):
            conn.execute(sql["accumulate_keys"], {**params, "deleted": bool(deleted)})
            conn.execute(sql["analyze_keys"])
            summed = conn.execute(sql["accumulate_daily"], params).rowcount
            summed += conn.execute(sql["accumulate_current"], params).rowcount
            conn.execute("DROP TABLE progress_keys")
        unmatched = conn.execute(sql["unmatched"], params).rowcount
        known = dict(conn.execute(sql["target_sizes"]).fetchall())
        written = {"course_progress": current, "course_progress_daily": daily + deleted}
        if stale_statistics(written, known, first_load=first_load):
            conn.execute(sql["analyze_targets"])
        with conn.cursor(row_factory=dict_row) as cur:
            summary = cur.execute(sql["summary"]).fetchone()
        conn.execute("DROP TABLE progress_batch")
    unreported, deletion = diff["unreported"], diff["deletion"]
    result = {
        "progress_rows": current,
        "daily_rows": daily + deleted,
        "daily_rows_deleted": deleted,
        "daily_rows_unreported": unreported,
        "unreported_deletion": deletion,
        "time_sums_updated": summed,
        "unmatched_hashes_recorded": unmatched,
        **summary,
    }
    log.info("progress merge for %s: %s", connector_id, result)
    if unreported and not deleted:
        log.info(
            "%d stored day rows of this interval are no longer reported by the provider and were kept (%s)",
            unreported,
            deletion,
        )
    return result


def _check_no_erasure_since(conn: psycopg.Connection, extracted_at: int | None) -> None:
    """StagingLost, with nothing changed, when an erasure committed after the run's extract read the
    suppression list (``extracted_at``: the erasures it had honoured): the staged records may hold
    that learner. Checked under the connector lock, which an erasure holds too."""
    if extracted_at is None:
        return
    now = erasure_generation(conn)
    if now != extracted_at:
        raise StagingLost(
            f"{now - extracted_at} erasure(s) committed while this run's activity was staged: it may hold an "
            "erased learner the extract could not drop yet"
        )


def stale_statistics(written: dict[str, int], known: dict[str, float], *, first_load: bool = False) -> bool:
    """Whether a merge that wrote ``written`` rows to each target leaves statistics the planner would
    misread: more rows than ANALYZE_AFTER_ROWS and than the target held as its statistics know it
    (``known``: pg_class.reltuples, -1 never analyzed). A first load (the empty table the planner
    would plan nested loops for) is; a daily run on time, a few percent of a warehouse, is not: its
    ANALYZE sampled both tables whatever the day's size (0.4-0.6 s of a 1.5-2.1 s load at 1M rows),
    and autovacuum's own threshold covers it.

    A connector's ``first_load`` of more than FIRST_LOAD_ANALYZE_ROWS rows is, however large the
    targets: their statistics know no row of that connector, and its next runs' joins filtered on it
    were planned as if it had none (a nested loop: 1.5-3.5 s for a day of 972 keys against the
    connector's 27,000 day rows, 0.03 s once analyzed)."""
    if first_load and any(n > FIRST_LOAD_ANALYZE_ROWS for n in written.values()):
        return True
    return any(n > max(ANALYZE_AFTER_ROWS, known.get(table, -1)) for table, n in written.items())


def _day_diff(
    conn: psycopg.Connection, sql: dict[str, str], params: dict[str, Any], delete_unreported: bool, max_share: float
) -> dict[str, Any]:
    """How the run's records differ from the interval's stored days: whether none is stored yet
    (``fresh``), the rows new or changed, the stored rows no longer reported and what became of them."""
    fresh = conn.execute(sql["daily_is_empty"], params).fetchone()[0]
    unreported = deleted = changed = 0
    deletion = "not asked" if not delete_unreported else "nothing unreported"
    if fresh:
        conn.execute(sql["no_diff"])
    else:
        changed = conn.execute(sql["diff"], params).rowcount
        conn.execute(sql["analyze_diff"])
        unreported = conn.execute(sql["unreported_count"]).fetchone()[0]
        changed -= unreported
        if delete_unreported and unreported:
            deleted, deletion = _delete_unreported(conn, sql, params, max_share)
    return {"fresh": fresh, "changed": changed, "unreported": unreported, "deleted": deleted, "deletion": deletion}


def _delete_unreported(
    conn: psycopg.Connection, sql: dict[str, str], params: dict[str, Any], max_share: float
) -> tuple[int, str]:
    """Delete the interval's unreported day rows, within the safety rules; return (rows, what happened)."""
    keyless = conn.execute(sql["keyless_rejects"], params).fetchone()[0]
    if keyless:
        return 0, f"skipped: {keyless} rejected records have no course, learner or day, so any row may be theirs"
    conn.execute(sql["unreported_plan"], params)
    over = [
        (day, n, stored) for day, n, stored in conn.execute(sql["unreported_share"], params) if n / stored > max_share
    ]
    if over:
        days = ", ".join(f"{day}: {n} of {stored} ({n / stored:.0%})" for day, n, stored in over)
        raise ReplayDeleteBlocked(
            f"this replay would delete day rows the provider no longer reports above max_replay_delete_share "
            f"({max_share:.0%}) - {days}; nothing was changed. A provider that reports only each learner's latest "
            f"state does this for every old day: keep the rows (the default). If the provider really withdrew "
            f"them, raise max_replay_delete_share for this replay"
        )
    deleted = conn.execute(sql["daily_delete_unreported"], params).rowcount
    return deleted, f"deleted {deleted}"
