"""Retention: every class of stored data purged at a bounded, documented age.

Run daily by ``lms_connectors_retention`` for the whole warehouse, so connectors
that are disabled or no longer in the registry are purged like the others.
Ages are counted from the run's data interval end, never the wall clock, so a
replay of a retention day purges the same rows. Settings: the JSON Variable
``lms_connectors_retention``; every field has a default and an upper bound.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pydantic

from lms_connectors.rules.settings import SettingsError
from lms_connectors.warehouse.audit import audit

log = logging.getLogger(__name__)
VARIABLE = "lms_connectors_retention"
PURGED = "[purged]"
# What Airflow's own `airflow db clean` purges for us: XCom and everything of old runs.
AIRFLOW_TABLES = ("xcom", "task_instance", "task_instance_history", "task_reschedule", "dag_run", "log", "job")


class RetentionSettings(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    # Run-scoped staging rows (raw provider records, typed rows, learners' hashes) and pushed xAPI statements.
    staging_days: int = pydantic.Field(default=7, ge=0, le=30)
    # A rejected record's raw payload is replaced by its type and size after this many days...
    rejected_redact_days: int = pydantic.Field(default=30, ge=1, le=90)
    # ... and the row (run, reason, detail) deleted after this many.
    rejected_delete_days: int = pydantic.Field(default=180, ge=1, le=365)
    # A learner who is no LMS user, last seen this many days ago, is forgotten (their hash deleted).
    unmatched_days: int = pydantic.Field(default=90, ge=1, le=365)
    # A run record's personal fields (the author email in its settings, emails in its error) are blanked.
    run_personal_days: int = pydantic.Field(default=90, ge=1, le=365)
    # Airflow's XCom, task instances, runs and their logs.
    airflow_days: int = pydantic.Field(default=30, ge=1, le=180)
    # Export files (every row of a learner) left in the export folder once sent.
    export_days: int = pydantic.Field(default=7, ge=1, le=30)

    @pydantic.model_validator(mode="after")
    def _order(self) -> RetentionSettings:
        if self.rejected_delete_days < self.rejected_redact_days:
            raise ValueError("rejected_delete_days must be at least rejected_redact_days")
        return self


def parse(raw: str | dict[str, Any] | None) -> RetentionSettings:
    if raw is None:
        return RetentionSettings()
    try:
        return RetentionSettings.model_validate(json.loads(raw) if isinstance(raw, str) else raw)
    except (ValueError, pydantic.ValidationError) as exc:
        raise SettingsError(f"Variable {VARIABLE!r}: {exc}") from None


# (class of data, SQL, which age applies). Parameters: %(cut)s, the timestamp before which data goes.
WAREHOUSE_PURGES: tuple[tuple[str, str, str], ...] = (
    *(
        (f"staging.{table}", f"DELETE FROM staging.{table} WHERE loaded_at < %(cut)s", "staging_days")
        for table in ("raw_courses", "courses", "raw_activity", "progress")
    ),
    (
        "ops.rejected_records (redacted)",
        """UPDATE ops.rejected_records
           SET record = jsonb_build_object('redacted', true, 'json_type', jsonb_typeof(record),
                                           'size', length(record::text)),
               redacted_at = %(now)s
           WHERE rejected_at < %(cut)s AND redacted_at IS NULL""",
        "rejected_redact_days",
    ),
    (
        "ops.rejected_records (deleted)",
        "DELETE FROM ops.rejected_records WHERE rejected_at < %(cut)s",
        "rejected_delete_days",
    ),
    (
        "ops.unmatched_learners",
        "DELETE FROM ops.unmatched_learners WHERE last_seen_date < %(cut)s::date",
        "unmatched_days",
    ),
    (
        "ops.unmatched_learners (days seen)",
        """UPDATE ops.unmatched_learners
           SET seen_on = ARRAY(SELECT d FROM unnest(seen_on) AS d WHERE d >= %(cut)s::date ORDER BY d)
           WHERE seen_on[1] < %(cut)s::date""",
        "unmatched_days",
    ),
    # Pushed xAPI statements (learners' hashes) are staging too: the daily run of their day is the truth.
    ("xapi.statements", "DELETE FROM xapi.statements WHERE stored_at < %(cut)s", "staging_days"),
    (
        "xapi.rejected_statements",
        "DELETE FROM xapi.rejected_statements WHERE received_at < %(cut)s",
        "rejected_delete_days",
    ),
    (
        "ops.sync_runs (personal fields)",
        """UPDATE ops.sync_runs
           SET settings = CASE WHEN settings ? 'author_email'
                               THEN jsonb_set(settings, '{author_email}', to_jsonb(%(purged)s::text))
                               ELSE settings END,
               error = regexp_replace(error, '[^@[:space:]]+@[^@[:space:]]+', %(purged)s, 'g')
           WHERE started_at < %(cut)s
             AND ((settings ->> 'author_email') IS DISTINCT FROM %(purged)s AND settings ? 'author_email'
                  OR error ~ '[^@[:space:]]+@[^@[:space:]]+')""",
        "run_personal_days",
    ),
)


def purge_warehouse(conn: Any, cfg: RetentionSettings, now: dt.datetime, *, actor: str, run_id: str) -> dict[str, int]:
    """Every warehouse purge in one transaction, recorded in ops.audit_log."""
    counts: dict[str, int] = {}
    with conn.transaction():
        for name, sql, age in WAREHOUSE_PURGES:
            cut = now - dt.timedelta(days=getattr(cfg, age))
            counts[name] = conn.execute(sql, {"cut": cut, "now": now, "purged": PURGED}).rowcount
        audit(conn, actor, "retention", run_id=run_id, details={"rows": counts, "settings": cfg.model_dump()})
    log.info("retention (before %s): %s", now.isoformat(), counts)
    return counts


# Airflow 3 blocks a task's own access to its metadata database; the retention task cleans it
# through this Connection instead: a generic one whose password is the database's SQLAlchemy URL
# (the embedded stack and compose create it; an existing Airflow gives it, docs/DEPLOYMENT.md).
METADATA_CONN_ID = "lms_airflow_metadata"
# Where Airflow reads that URL itself (its [database] sql_alchemy_conn).
METADATA_ENV = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"


def metadata_url(conn_id: str = METADATA_CONN_ID) -> str:
    from airflow.exceptions import AirflowNotFoundException
    from airflow.sdk import BaseHook

    from lms_connectors.rules.errors import ConnectionConfigError

    try:
        url = BaseHook.get_connection(conn_id).password
    except AirflowNotFoundException:
        url = None
    if not url:
        raise ConnectionConfigError(
            f"Connection {conn_id!r} is not set: retention cleans Airflow's own tables through it (a task may not "
            "reach them otherwise). Create it as type generic, its password the metadata database's SQLAlchemy URL "
            "(that of [database] sql_alchemy_conn)"
        )
    return url


def purge_airflow(
    cfg: RetentionSettings,
    now: dt.datetime,
    log_folder: Path | None,
    export_folder: Path | None = None,
    metadata: str | None = None,
) -> dict[str, Any]:
    """Airflow's metadata through its own ``airflow db clean`` (no archive tables kept) on the
    database at ``metadata`` (a SQLAlchemy URL; None: the process's own configuration), task log
    files older than the bound, and export files older than theirs."""
    cut = now - dt.timedelta(days=cfg.airflow_days)
    # The CLI, not the ORM: Airflow 3 tasks do not open the metadata database themselves.
    cmd = [
        sys.executable,
        "-m",
        "airflow",
        "db",
        "clean",
        "--clean-before-timestamp",
        cut.isoformat(),
        "--tables",
        ",".join(AIRFLOW_TABLES),
        "--skip-archive",
        "--yes",
    ]
    env = {**os.environ, METADATA_ENV: metadata} if metadata else None
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False, env=env)
    if done.returncode:
        raise RuntimeError(f"airflow db clean failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    result = {
        "airflow_db_clean_before": cut.isoformat(),
        "log_files_deleted": _delete_files_older(log_folder, cut),
        "export_files_deleted": _delete_files_older(export_folder, now - dt.timedelta(days=cfg.export_days)),
    }
    log.info("retention of Airflow's data: %s", result)
    return result


def _delete_files_older(folder: Path | None, cut: dt.datetime) -> int:
    """Delete the files under ``folder`` last written before ``cut``; how many."""
    removed = 0
    if folder is not None and folder.is_dir():
        limit = cut.timestamp()
        for path in folder.rglob("*"):
            if path.is_file() and path.stat().st_mtime < limit:
                path.unlink()
                removed += 1
    return removed


def log_folder() -> Path | None:
    from airflow.configuration import conf

    folder = conf.get("logging", "base_log_folder", fallback=None)
    return Path(folder) if folder else None
