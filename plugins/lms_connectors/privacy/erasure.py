"""Erasure (GDPR art. 17) and export (art. 15/20) of learners, and the audit log.

A learner is identified by their LMS user ids and emails (each completes the
other through ``lms.users``) and by every hash that can stand for their email:
under each connector's key, every version of it ever used, and the
pseudonymisation key as it was used before per-connector keys. Erasure deletes
every row of ``stats``, ``staging`` and ``ops`` that holds one of these, blanks
their email in run records, and records a suppression entry (a keyed hash of
the email, never the email) that every later run honours at extraction.

What stays: ``lms.*`` belongs to the LMS (it erases its own users), and
aggregates that identify nobody (``stats.mv_daily_summary``: learners counted
per connector and day) are recomputed by their next refresh.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import psycopg

from lms_connectors.privacy import pseudonym
from lms_connectors.privacy.pseudonym import identity_hash, learner_hash, normalise_email
from lms_connectors.rules.errors import PermanentError
from lms_connectors.warehouse.audit import audit
from lms_connectors.warehouse.db import lock_connector
from lms_connectors.warehouse.lms_users import emails_of, identities_of, merged_with, user_pages

log = logging.getLogger(__name__)
ERASED = "[erased]"

# Every row that can identify a learner, by table: how it is found. Erasure deletes
# these rows; the export reads them. tests/integration/test_erasure.py asks the
# catalog for every column of every table the project owns, so a table missing
# here is found there.
ROWS: tuple[tuple[str, str], ...] = (
    ("stats.course_progress", "user_id = ANY(%(user_ids)s)"),
    ("stats.course_progress_daily", "user_id = ANY(%(user_ids)s)"),
    (
        "staging.progress",
        "user_id = ANY(%(user_ids)s) OR learner_hash = ANY(%(hashes)s) OR identity_hash = ANY(%(hashes)s)",
    ),
    ("staging.raw_activity", "learner_hash = ANY(%(hashes)s) OR identity_hash = ANY(%(hashes)s)"),
    (
        "ops.rejected_records",
        "record ->> 'learner_hash' = ANY(%(hashes)s) OR record ->> 'identity_hash' = ANY(%(hashes)s)",
    ),
    ("ops.unmatched_learners", "learner_hash = ANY(%(hashes)s) OR identity_hash = ANY(%(hashes)s)"),
    ("xapi.statements", "learner_hash = ANY(%(hashes)s) OR identity_hash = ANY(%(hashes)s)"),
)


class ErasureRequestError(ValueError, PermanentError):
    """The request names nobody, or lacks a reason."""


@dataclasses.dataclass(frozen=True)
class Person:
    """Everything that stands for the learners of one request."""

    user_ids: tuple[str, ...]
    emails: tuple[str, ...]
    # Every hash of their emails and of their other identities (lms.user_identities), in every connector.
    hashes: tuple[str, ...]
    suppression_hashes: tuple[str, ...]
    # How many identities other than emails the LMS declares for them.
    identities: int = 0

    def __repr__(self) -> str:
        # Never the emails or ids: a repr lands in logs.
        return (
            f"Person({len(self.user_ids)} user ids, {len(self.emails)} emails, {self.identities} other identities, "
            f"{len(self.hashes)} hashes)"
        )

    @property
    def params(self) -> dict[str, Any]:
        return {"user_ids": list(self.user_ids), "hashes": list(self.hashes)}


def known_connectors(conn: psycopg.Connection) -> list[str]:
    """Every connector the warehouse holds data of, in the registry or not (any more)."""
    return [
        c
        for (c,) in conn.execute(
            """SELECT connector_id FROM ops.sync_runs UNION SELECT connector_id FROM ops.pseudonym_keys
               UNION SELECT connector_id FROM ops.unmatched_learners UNION SELECT connector_id FROM lms.courses
               ORDER BY 1"""
        )
    ]


def identify(
    conn: psycopg.Connection,
    masters: Mapping[str, bytes],
    default_master: bytes,
    user_ids: Iterable[str] = (),
    emails: Iterable[str] = (),
) -> Person:
    """The learners' ids, emails and every hash of their emails and of the other identities the LMS
    declares for them (``lms.user_identities``); ``masters`` maps a connector to its
    pseudonymisation key (connectors not named use ``default_master``)."""
    ids = {str(u).strip() for u in user_ids if str(u).strip()}
    mails = {normalise_email(str(e)) for e in emails if str(e).strip()}
    if not ids and not mails:
        raise ErasureRequestError("name at least one LMS user id or email")
    if ids:
        mails |= {normalise_email(e) for _, e in emails_of(conn, sorted(ids))}
    if mails:
        ids |= users_with_emails(conn, mails)
    # Accounts the LMS merged are one person: a retired account's records match its survivor.
    if linked := merged_with(conn, ids) - ids:
        ids |= linked
        mails |= {normalise_email(e) for _, e in emails_of(conn, sorted(linked))}
    idents = [(kind, issuer, value) for _, kind, issuer, value in identities_of(conn, sorted(ids))]
    return _person(conn, masters, default_master, ids, mails, idents)


def identify_learner_id(
    conn: psycopg.Connection, masters: Mapping[str, bytes], default_master: bytes, kind: str, issuer: str, value: str
) -> Person:
    """The learner a provider's records know by ``value`` (an identity of ``kind`` and ``issuer``):
    every hash of it, and the LMS users who declare it (``lms.user_identities``)."""
    if identity_hash(default_master, kind, issuer, value) is None:
        raise ErasureRequestError("give a learner id: a line of at most 255 characters, not blank")
    ids = {
        u
        for (u,) in conn.execute(
            "SELECT user_id FROM lms.user_identities WHERE kind = %s AND issuer = %s AND value = %s",
            (kind, issuer, value.strip()),
        )
    }
    return _person(conn, masters, default_master, ids, set(), [(kind, issuer, value)])


def _person(
    conn: psycopg.Connection,
    masters: Mapping[str, bytes],
    default_master: bytes,
    ids: set[str],
    mails: set[str],
    idents: list[tuple[str, str, str]],
) -> Person:
    """The :class:`Person` of these user ids, emails and identities, with their hashes under every
    connector's every key version (and the key as used before per-connector keys)."""
    versions = dict(
        conn.execute("SELECT connector_id, max(version) FROM ops.pseudonym_keys GROUP BY connector_id").fetchall()
    )
    hashes: set[str] = set()
    for connector in sorted(set(known_connectors(conn)) | set(masters)):
        master = masters.get(connector, default_master)
        keys = [master] + [
            pseudonym.connector_key(master, connector, v) for v in range(1, int(versions.get(connector) or 1) + 1)
        ]
        hashes |= _hashes(keys, mails, idents)
    suppression = _hashes([pseudonym.suppression_key(m) for m in {default_master, *masters.values()}], mails, idents)
    return Person(
        tuple(sorted(ids)), tuple(sorted(mails)), tuple(sorted(hashes)), tuple(sorted(suppression)), len(idents)
    )


def _hashes(keys: Iterable[bytes], emails: set[str], identities: list[tuple[str, str, str]]) -> set[str]:
    """Every hash, under each of ``keys``, of the emails and of the (kind, issuer, value) identities."""
    found = set()
    for key in keys:
        found |= {h for e in emails if (h := learner_hash(key, e))}
        found |= {h for kind, issuer, value in identities if (h := identity_hash(key, kind, issuer, value))}
    return found


def users_with_emails(conn: psycopg.Connection, emails: set[str]) -> set[str]:
    """The LMS users whose email is one of ``emails`` (normalised) as the pipeline matches them:
    :func:`normalise_email` of the stored email, so ``' Jane.Doe@Example.com '`` is found by
    ``jane.doe@example.com``. Every user is read (keyset pages): no SQL expression trims and folds
    exactly as Python does, and a request is rare."""
    return {
        u for users in user_pages(conn, 50_000) for u, e in users if isinstance(e, str) and normalise_email(e) in emails
    }


def erase(
    conn: psycopg.Connection,
    person: Person,
    *,
    run_id: str,
    reason: str,
    actor: str,
    at: dt.datetime,
    dry_run: bool = True,
) -> dict[str, Any]:
    """Delete every row that identifies ``person`` and suppress them; with ``dry_run`` count and change nothing."""
    if not reason.strip():
        raise ErasureRequestError("give the reason of the erasure (a ticket, a request reference)")

    def work() -> dict[str, int]:
        # Every connector's lock, in one order (a load holds its own): a load in flight finishes first,
        # and none starts before this commits, so no load can bring back what is deleted here.
        for connector in sorted(known_connectors(conn)):
            lock_connector(conn, connector)
        counts = _delete_rows(conn, person)
        counts["ops.sync_runs (emails blanked)"] = _blank_run_records(conn, person.emails)
        counts["ops.suppressed_learners (added)"] = sum(
            conn.execute(
                """INSERT INTO ops.suppressed_learners (suppression_hash, suppressed_at, run_id, reason)
                   VALUES (%s, %s, %s, %s) ON CONFLICT (suppression_hash) DO NOTHING""",
                (h, at, run_id, reason.strip()[:500]),
            ).rowcount
            for h in person.suppression_hashes
        )
        # Runs whose records were staged before this commit extract their day again before loading.
        conn.execute("UPDATE ops.erasure_generation SET generation = generation + 1")
        audit(conn, actor, "erase_learners", run_id=run_id, details=_audit_details(person, reason, counts))
        return counts

    counts = in_transaction(conn, work, dry_run)
    result = {"dry_run": dry_run, "rows": counts, "learners": _sizes(person)}
    if not person.suppression_hashes:
        result["warning"] = "no email or identity known for these user ids: no suppression entry; give the emails too"
    log.info("%serasure: %s", "DRY RUN of " if dry_run else "", result)
    return result


class DryRun(Exception):
    """Rolls a dry run's transaction back once its result was taken."""

    def __init__(self, result: Any) -> None:
        super().__init__("dry run")
        self.result = result


def in_transaction(conn: psycopg.Connection, work: Callable[[], Any], dry_run: bool) -> Any:
    """``work()`` in one transaction, committed, or for a dry run rolled back after its result was taken."""
    try:
        with conn.transaction():
            result = work()
            if dry_run:
                raise DryRun(result)
    except DryRun as done:
        return done.result
    return result


def _delete_rows(conn: psycopg.Connection, person: Person) -> dict[str, int]:
    return {table: conn.execute(f"DELETE FROM {table} WHERE {where}", person.params).rowcount for table, where in ROWS}


def _blank_run_records(conn: psycopg.Connection, emails: tuple[str, ...]) -> int:
    """Run records keep their figures; an erased person's email in their settings or error goes."""
    changed = 0
    for email in emails:
        # Every character not a letter or digit escaped: a literal, case-insensitive match in Postgres' ARE.
        pattern = re.sub(r"([^0-9A-Za-z])", r"\\\1", email)
        changed += conn.execute(
            """UPDATE ops.sync_runs
               SET error = regexp_replace(error, %(pattern)s, %(erased)s, 'gi'),
                   settings = CASE WHEN lower(settings ->> 'author_email') = %(email)s
                                   THEN jsonb_set(settings, '{author_email}', to_jsonb(%(erased)s::text))
                                   ELSE settings END
               WHERE error ~* %(pattern)s OR lower(settings ->> 'author_email') = %(email)s""",
            {"pattern": pattern, "email": email, "erased": ERASED},
        ).rowcount
    return changed


def _sizes(person: Person) -> dict[str, int]:
    return {
        "user_ids": len(person.user_ids),
        "emails": len(person.emails),
        "identities": person.identities,
        "hashes": len(person.hashes),
    }


def _audit_details(person: Person, reason: str, counts: dict[str, int]) -> dict[str, Any]:
    # How many, never whose: the audit log outlives the erasure.
    return {"reason": reason.strip()[:500], "learners": _sizes(person), "rows": counts}


def erase_removed_users(conn: psycopg.Connection, run_id: str, connector_id: str) -> int:
    """Erase the statistics of learners no longer in ``lms.users`` (the LMS removed them), in
    every connector; their later records are unmatched and never stored by user id."""
    with conn.transaction():
        gone = [
            u
            for (u,) in conn.execute(
                """SELECT DISTINCT p.user_id FROM stats.course_progress p
                   WHERE NOT EXISTS (SELECT FROM lms.users u WHERE u.user_id = p.user_id)"""
            )
        ]
        if not gone:
            return 0
        person = Person(tuple(gone), (), (), ())
        counts = _delete_rows(conn, person)
        audit(
            conn,
            "system",
            "erase_removed_users",
            connector_id=connector_id,
            run_id=run_id,
            details={"learners": len(gone), "rows": counts},
        )
    log.info("erased the statistics of %d learners no longer in lms.users: %s", len(gone), counts)
    return len(gone)


def export(conn: psycopg.Connection, person: Person) -> dict[str, Any]:
    """Every row that identifies ``person``, table by table, as JSON values (nothing of anyone else)."""
    tables: dict[str, list[Any]] = {}
    for table, where in ROWS:
        rows = conn.execute(f"SELECT to_jsonb(t) FROM {table} t WHERE {where} ORDER BY 1", person.params).fetchall()
        tables[table] = [r[0] for r in rows]
    tables["lms.users"] = [
        {"user_id": u, "email": e}
        for u, e in conn.execute(
            "SELECT user_id, email FROM lms.users WHERE user_id = ANY(%s) ORDER BY 1", (list(person.user_ids),)
        )
    ]
    tables["lms.user_emails"] = [
        {"user_id": u, "email": e, "kind": k}
        for u, e, k in conn.execute(
            "SELECT user_id, email, kind FROM lms.user_emails WHERE user_id = ANY(%s) ORDER BY 1, 2",
            (list(person.user_ids),),
        )
    ]
    tables["lms.user_merges"] = [
        {"retired_user_id": r, "into_user_id": i, "merged_at": m.isoformat()}
        for r, i, m in conn.execute(
            """SELECT retired_user_id, into_user_id, merged_at FROM lms.user_merges
               WHERE retired_user_id = ANY(%(ids)s) OR into_user_id = ANY(%(ids)s) ORDER BY 1""",
            {"ids": list(person.user_ids)},
        )
    ]
    tables["lms.user_identities"] = [
        {"user_id": u, "kind": k, "issuer": i, "value": v} for u, k, i, v in identities_of(conn, list(person.user_ids))
    ]
    suppressed = conn.execute(
        "SELECT to_jsonb(s) FROM ops.suppressed_learners s WHERE suppression_hash = ANY(%s) ORDER BY 1",
        (list(person.suppression_hashes),),
    ).fetchall()
    tables["ops.suppressed_learners"] = [r[0] for r in suppressed]
    return {"user_ids": list(person.user_ids), "emails": list(person.emails), "tables": tables}
