"""Catalogue sync steps: extract -> transform -> validate -> load.

Each step is a transaction over run-scoped staging rows and takes a psycopg
connection, so it runs the same under Airflow, in tests and in benchmarks.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from typing import Any

import orjson
import pandas as pd
import psycopg
from psycopg.rows import dict_row

from lms_connectors.providers import Provider
from lms_connectors.rules import guard, listing
from lms_connectors.rules.errors import PermanentError
from lms_connectors.rules.paths import sql_statements
from lms_connectors.rules.records import COURSE_COLUMNS
from lms_connectors.rules.settings import ConnectorSettings
from lms_connectors.warehouse import quarantine
from lms_connectors.warehouse.db import lock_connector

log = logging.getLogger(__name__)
CHUNK_ROWS = 5000
VALIDATE_CHUNK_ROWS = 500


class MassArchiveBlocked(RuntimeError, PermanentError):
    """The run would archive more of the active catalogue than the settings allow."""


@dataclasses.dataclass(frozen=True)
class ArchivePlan:
    """What the provider's data would archive of the active catalogue: what an approval is asked for.

    ``digest`` names the exact set of courses, so an approval applies to that change and no other.
    """

    provider_archivals: int
    active_before: int
    max_share: float
    digest: str
    examples: tuple[str, ...]

    @property
    def share(self) -> float:
        return self.provider_archivals / self.active_before if self.active_before else 0.0

    @property
    def needs_approval(self) -> bool:
        return self.share > self.max_share

    def describe(self) -> str:
        return (
            f"this run would archive {self.provider_archivals} of {self.active_before} active courses "
            f"({self.share:.0%}) because the provider no longer lists them or changed their status, above "
            f"max_archive_share ({self.max_share:.0%})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "examples": list(self.examples)}

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> ArchivePlan:
        return cls(**{**value, "examples": tuple(value["examples"])})


EXAMPLES = 10


def _archive_plan(conn: psycopg.Connection, sql: dict[str, str], max_share: float) -> ArchivePlan:
    provider_archivals, active_before = conn.execute(sql["breaker"]).fetchone()
    courses = conn.execute(sql["breaker_courses"]).fetchall()
    digest = hashlib.sha256(",".join(str(course_id) for course_id, _ in courses).encode()).hexdigest()
    examples = tuple(sorted(str(title) for _, title in courses)[:EXAMPLES])
    return ArchivePlan(provider_archivals, active_before, max_share, digest, examples)


def _merge_params(
    conn: psycopg.Connection,
    run_id: str,
    connector_id: str,
    settings: ConnectorSettings,
    synced_at: dt.datetime,
    provider: Provider,
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "connector_id": connector_id,
        "group_id": settings.target_group_id,
        "author_email": _author(conn, run_id, settings),
        "languages": list(settings.languages),
        "kept": sorted(provider.kept_statuses),
        "archive_removed": provider.removed_courses == "archive",
        "synced_at": synced_at,
    }


def _author(conn: psycopg.Connection, run_id: str, settings: ConnectorSettings) -> str:
    """The courses' author: the settings' own, or, where XCom carried the run (no email in Airflow),
    the one the run recorded in ``ops.sync_runs.settings``."""
    from lms_connectors.rules.context import AUTHOR_IN_RUN_RECORD
    from lms_connectors.warehouse import runs

    if settings.author_email != AUTHOR_IN_RUN_RECORD:
        return settings.author_email
    author = runs.recorded_setting(conn, run_id, "author_email")
    if not author:
        raise RuntimeError(f"run {run_id} has no recorded settings to take the author email from: run it again")
    return str(author)


def archive_plan(
    conn: psycopg.Connection,
    run_id: str,
    connector_id: str,
    settings: ConnectorSettings,
    synced_at: dt.datetime,
    provider: Provider,
) -> ArchivePlan:
    """The change ``load_courses`` would make to the active catalogue, computed and thrown away."""
    sql = sql_statements("catalogue/merge_courses.sql")
    with conn.transaction(force_rollback=True):
        conn.execute(sql["plan"], _merge_params(conn, run_id, connector_id, settings, synced_at, provider))
        return _archive_plan(conn, sql, settings.max_archive_share)


def extract_courses(
    conn: psycopg.Connection,
    pages: listing.Pages | Callable[[], listing.Pages],
    run_id: str,
    provider: Provider,
) -> int:
    """Stream provider pages through the record guard into staging.raw_courses.

    A retry starts from a clean slate, and so does a listing that changed
    while it was read (``pages`` a factory: read again, bounded). A record
    the guard quarantines is staged as its safe envelope with the reason, and
    counted like any reject.
    """
    return listing.restarting(lambda it: _extract_courses(conn, it, run_id, provider), pages, "the course catalogue")


def _extract_courses(conn: psycopg.Connection, pages: listing.Pages, run_id: str, provider: Provider) -> int:
    seq = 0
    with conn.transaction():
        conn.execute("DELETE FROM staging.raw_courses WHERE run_id = %s", (run_id,))
        with (
            conn.cursor() as cur,
            cur.copy("COPY staging.raw_courses (run_id, seq, record, reject_reason, reject_detail) FROM STDIN") as copy,
        ):
            for page in pages:
                for raw in page:
                    screened = guard.screen(raw, provider.course_schema)
                    copy.write_row(
                        (run_id, seq, orjson.dumps(screened.record).decode(), screened.reason, screened.detail)
                    )
                    seq += 1
    log.info("staged %d raw course records for run %s", seq, run_id)
    return seq


def typed_course(record: dict[str, Any], reason: str | None, detail: str | None, provider: Provider) -> dict[str, Any]:
    """The staging row of one staged record; any failure of the conversion is a reason, never an exception."""
    if reason is not None:
        return {**dict.fromkeys(COURSE_COLUMNS), "reject_reason": reason, "reject_detail": detail}
    try:
        return provider.course_row(record)
    except Exception as exc:  # one record must not stop the run: it is quarantined with what went wrong
        log.warning("course record could not be typed: %s", type(exc).__name__)
        return {
            **dict.fromkeys(COURSE_COLUMNS),
            "reject_reason": "unconvertible_record",
            "reject_detail": f"{type(exc).__name__}: {str(exc)[:200]}",
        }


def transform_courses(conn: psycopg.Connection, run_id: str, provider: Provider) -> dict[str, Any]:
    """Type every staged record into staging.courses (values that do not convert become NULL)."""
    rows = 0
    with conn.transaction():
        conn.execute("DELETE FROM staging.courses WHERE run_id = %s", (run_id,))
        columns = ", ".join(("run_id", "seq", *COURSE_COLUMNS))
        with conn.cursor(name="raw_courses") as src, conn.cursor() as dst:
            src.execute(
                "SELECT seq, record, reject_reason, reject_detail FROM staging.raw_courses WHERE run_id = %s ORDER BY seq",
                (run_id,),
            )
            # One connection cannot read a cursor while a COPY is open: chunk by chunk.
            while chunk := src.fetchmany(CHUNK_ROWS):
                with dst.copy(f"COPY staging.courses ({columns}) FROM STDIN") as copy:
                    for seq, record, reason, detail in chunk:
                        row = typed_course(record, reason, detail, provider)
                        copy.write_row((run_id, seq, *(row[c] for c in COURSE_COLUMNS)))
                rows += len(chunk)
    return {"records": rows}


def validate_courses(
    conn: psycopg.Connection, run_id: str, connector_id: str, settings: ConnectorSettings, provider: Provider
) -> dict[str, Any]:
    """Row rules (great-expectations) quarantine bad records; batch rules stop the run
    before any target table changes. Rejects are recorded even when the batch fails."""
    from lms_connectors.rules import quality

    with conn.transaction():
        checked = _stage_course_rejects(conn, run_id, connector_id, *provider.course_hosts(settings.url_hosts))
        quarantine.mark_rejects(conn, "staging.courses", "reject_reason", "reject_detail", run_id)
        quarantine.record_rejects(
            conn,
            run_id,
            connector_id,
            "course",
            """SELECT s.reject_reason AS reason, s.reject_detail AS detail, r.record
               FROM staging.courses s JOIN staging.raw_courses r USING (run_id, seq)
               WHERE s.run_id = %s AND s.reject_reason IS NOT NULL""",
            (run_id,),
        )
    rejected = sum(checked.by_reason.values())
    total = len(checked.accepted_ids) + rejected
    failures = quality.batch_failures(
        pd.Series(checked.accepted_ids, dtype=object), rejected, total, settings.max_reject_share, "course"
    )
    quarantine.stop_if_failed(failures, run_id)
    if checked.images_dropped:
        log.warning(
            "dropped the image of %d courses (%s), the courses kept; their hosts: %s",
            checked.images_dropped,
            checked.image_drop_detail,
            ", ".join(f"{host} ({n})" for host, n in checked.image_hosts_dropped.most_common(5)),
        )
    return {
        "records": total,
        "rejected": rejected,
        # Courses as lms.courses holds them, checked when loaded with the same rules: not checked again.
        "unchanged": checked.unchanged,
        "rules_digest": checked.rules_digest,
        "rejected_by_reason": dict(checked.by_reason),
        "images_dropped": checked.images_dropped,
        "images_dropped_by_reason": {quality.IMAGE_DROPPED: checked.images_dropped} if checked.images_dropped else {},
    }


# The run's staged courses, each flagged ``unchanged`` when lms.courses holds it exactly so and the
# connector's last load applied the same rules.
_COMPARED = [c for c in COURSE_COLUMNS if c not in ("provider_course_id", "reject_reason", "reject_detail")]
_STAGED_COURSES = f"""
SELECT s.seq, {", ".join(f"s.{c}" for c in COURSE_COLUMNS)},
       s.reject_reason IS NULL AND EXISTS (
           SELECT 1 FROM lms.courses c JOIN ops.course_rules_checked k
                ON k.connector_id = c.connector_id AND k.rules_digest = %(digest)s
           WHERE c.connector_id = %(connector_id)s AND c.provider_course_id = s.provider_course_id
             AND ({", ".join(f"c.{c}" for c in _COMPARED)}) IS NOT DISTINCT FROM ({", ".join(f"s.{c}" for c in _COMPARED)})
       ) AS unchanged
FROM staging.courses s WHERE s.run_id = %(run_id)s ORDER BY s.seq"""


@dataclasses.dataclass
class _CheckedCourses:
    """Every checked course is either accepted (its id kept for the batch rules) or counted by reason."""

    rules_digest: str
    accepted_ids: list[str] = dataclasses.field(default_factory=list)
    unchanged: int = 0
    by_reason: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    # Courses kept without their image, and the hosts those images were on (for the log).
    images_dropped: int = 0
    image_drop_detail: str = ""
    image_hosts_dropped: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)


def _stage_course_rejects(
    conn: psycopg.Connection, run_id: str, connector_id: str, hosts: tuple[str, ...], image_hosts: tuple[str, ...]
) -> _CheckedCourses:
    """The row rules (launch URLs on ``hosts``) on the run's courses, VALIDATE_CHUNK_ROWS at a time
    (a course carries its whole description, and great-expectations copies the rows it checks), each
    chunk's newly failing rows staged for ``quarantine.mark_rejects``. Records the guard or the
    transform already rejected keep that reason. An image not on ``image_hosts`` is dropped from its
    course in staging, and counted.

    A course exactly as ``lms.courses`` holds it is not checked again while the rules are those the
    connector's last load applied (``ops.course_rules_checked``): it passed them when it was loaded.
    A daily catalogue changes by a few courses; checking all of them cost most of a day's run."""
    from lms_connectors.rules import quality

    rules, name = quality.course_row_rules(hosts), f"courses_{'_'.join(hosts)}"
    digest = quality.rules_digest(rules, image_hosts)
    checked = _CheckedCourses(digest, image_drop_detail=quality.image_drop_detail(image_hosts))
    with conn.cursor(name="course_rules") as src:
        src.execute(_STAGED_COURSES, {"run_id": run_id, "connector_id": connector_id, "digest": digest})
        while chunk := src.fetchmany(VALIDATE_CHUNK_ROWS):
            frame = pd.DataFrame(chunk, columns=["seq", *COURSE_COLUMNS, "unchanged"])
            checked.unchanged += int(frame["unchanged"].sum())
            earlier = frame.set_index("seq")["reject_reason"].dropna()
            _drop_images(conn, run_id, frame, image_hosts, checked)
            broken = quality.row_rules_by_key(
                frame[~frame["unchanged"]].drop(columns=["reject_reason", "reject_detail", "unchanged"]),
                "seq",
                rules,
                name,
            )
            newly = {seq: rule for seq, rule in broken.items() if seq not in earlier.index}
            quarantine.stage_rejects(conn, newly)
            checked.by_reason.update(earlier)
            checked.by_reason.update(rule.reason for rule in newly.values())
            accepted = ~frame["seq"].isin(earlier.index) & ~frame["seq"].isin(newly.keys())
            checked.accepted_ids.extend(frame.loc[accepted, "provider_course_id"])
    return checked


class RulesChangedMeanwhile(RuntimeError, PermanentError):
    """Courses taken as checked were checked with other rules than the ones recorded at load."""


def _record_rules(conn: psycopg.Connection, run_id: str, connector_id: str, digest: str, unchecked: int) -> None:
    """Record ``digest`` as the rules the connector's loaded courses passed (under its lock)."""
    before = conn.execute(
        "SELECT rules_digest FROM ops.course_rules_checked WHERE connector_id = %s", (connector_id,)
    ).fetchone()
    if unchecked and (before is None or before[0] != digest):
        raise RulesChangedMeanwhile(
            f"{unchecked} courses were taken as checked with rules another load has replaced since: nothing was "
            "changed; run the day again"
        )
    conn.execute(
        """INSERT INTO ops.course_rules_checked (connector_id, rules_digest, run_id) VALUES (%s, %s, %s)
           ON CONFLICT (connector_id) DO UPDATE SET rules_digest = EXCLUDED.rules_digest, run_id = EXCLUDED.run_id
           WHERE ops.course_rules_checked.rules_digest <> EXCLUDED.rules_digest""",
        (connector_id, digest, run_id),
    )


def _drop_images(
    conn: psycopg.Connection, run_id: str, frame: pd.DataFrame, hosts: tuple[str, ...], checked: _CheckedCourses
) -> None:
    """Blank the images of ``frame``'s courses that are not on ``hosts``, in the frame and in staging."""
    from urllib.parse import urlsplit

    from lms_connectors.rules import quality

    drop = quality.images_to_drop(frame["image_url"], hosts) & frame["reject_reason"].isna()
    if not drop.any():
        return
    for url in frame.loc[drop, "image_url"]:
        try:
            host = urlsplit(str(url)).hostname or "(no host)"
        except ValueError:
            host = "(unreadable)"
        checked.image_hosts_dropped[host[:100]] += 1
    conn.execute(
        "UPDATE staging.courses SET image_url = NULL WHERE run_id = %s AND seq = ANY(%s)",
        (run_id, [int(s) for s in frame.loc[drop, "seq"]]),
    )
    frame.loc[drop, "image_url"] = None
    checked.images_dropped += int(drop.sum())


def load_courses(
    conn: psycopg.Connection,
    run_id: str,
    connector_id: str,
    settings: ConnectorSettings,
    synced_at: dt.datetime,
    provider: Provider,
    *,
    override_mass_archive: bool = False,
    approved_digest: str | None = None,
    rules_digest: str | None = None,
    unchecked: int = 0,
) -> dict[str, Any]:
    """Merge staged courses into lms.courses and the group's catalogue, in one transaction; with
    ``rules_digest`` (the rules validation checked them with), record it as the rules the
    connector's courses passed (``ops.course_rules_checked``). ``unchecked`` courses were taken as
    checked because those rules were recorded: another load that recorded others meanwhile fails
    this one, changing nothing.

    Raises MassArchiveBlocked, changing nothing, when the provider's data would
    archive more than ``max_archive_share`` of the active catalogue, unless
    ``override_mass_archive`` or the change is exactly the approved one
    (``approved_digest``, from ``archive_plan``).
    """
    sql = sql_statements("catalogue/merge_courses.sql")
    params = _merge_params(conn, run_id, connector_id, settings, synced_at, provider)
    with conn.transaction():
        lock_connector(conn, connector_id)
        conn.execute(sql["plan"], params)
        conn.execute(sql["analyze_plan"])
        with conn.cursor(row_factory=dict_row) as cur:
            counts = cur.execute(sql["counts"]).fetchone()
        plan = _archive_plan(conn, sql, settings.max_archive_share)
        approved = plan.needs_approval and approved_digest == plan.digest
        if plan.needs_approval and not (override_mass_archive or approved):
            why = (
                "it differs from the change that was approved (the catalogue changed meanwhile)"
                if approved_digest
                else "nobody approved it"
            )
            raise MassArchiveBlocked(
                f"{plan.describe()}; {why}: nothing was changed. If the change is real, run the day again and "
                "approve it, or with the parameter override_mass_archive = true"
            )
        if plan.needs_approval:
            log.warning("%s: applied, %s", plan.describe(), "approved" if approved else "allowed by override")
        provider_archivals = plan.provider_archivals
        added = dict(conn.execute(sql["reasons_added"]).fetchall())
        removed = dict(conn.execute(sql["reasons_removed"]).fetchall())
        inserted = conn.execute(sql["insert_new"], params).rowcount
        updated = conn.execute(sql["update_changed"], params).rowcount
        catalogued = conn.execute(sql["add_to_catalogue"], params).rowcount
        conn.execute("DROP TABLE course_plan")
        if rules_digest is not None:
            _record_rules(conn, run_id, connector_id, rules_digest, unchecked)
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
        "approved_archive": approved,
    }
    log.info("catalogue merge for %s: %s", connector_id, result)
    return result
