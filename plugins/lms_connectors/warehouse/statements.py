"""The xAPI endpoint's tables (V030): credentials, statements, refused statements.

A request's statements are stored in one transaction, before the endpoint answers: a resent
statement (same id, same digest) is already there and changes nothing; one whose id is another
statement's is a conflict, and the whole request is rolled back (xAPI's 409).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    import psycopg

    from lms_connectors.rules.xapi import Refused, Statement

_USERNAME_BYTES = 9
_SECRET_BYTES = 32


class StatementConflict(Exception):
    """A statement's id is already another statement's (xAPI 1.0.3: 409 Conflict)."""

    def __init__(self, statement_id: str) -> None:
        super().__init__(f"statement {statement_id} is already stored with other content")
        self.statement_id = statement_id


@dataclasses.dataclass(frozen=True)
class Hashed:
    """A screened statement with its learner's keyed hashes (the email's, or the account's)."""

    statement: Statement
    learner_hash: str | None
    identity_hash: str | None


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_credentials(conn: psycopg.Connection, connector_id: str) -> tuple[str, str]:
    """New Basic credentials for a connector's pushes: (username, secret). The secret is returned
    once and only its SHA-256 is stored."""
    username = f"{connector_id}-{secrets.token_hex(_USERNAME_BYTES)}"
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    conn.execute(
        "INSERT INTO xapi.credentials (username, connector_id, secret_sha256) VALUES (%s, %s, %s)",
        (username, connector_id, secret_digest(secret)),
    )
    return username, secret


def revoke_credentials(conn: psycopg.Connection, username: str) -> bool:
    return bool(
        conn.execute(
            "UPDATE xapi.credentials SET revoked_at = now() WHERE username = %s AND revoked_at IS NULL", (username,)
        ).rowcount
    )


def authenticate(conn: psycopg.Connection, username: str, secret: str) -> str | None:
    """The connector these credentials push for; None for unknown, revoked or wrong ones."""
    row = conn.execute(
        "SELECT connector_id, secret_sha256 FROM xapi.credentials WHERE username = %s AND revoked_at IS NULL",
        (username,),
    ).fetchone()
    # Compared in constant time, and a digest is computed for an unknown username too.
    expected = row[1] if row else secret_digest(secrets.token_hex(8))
    return row[0] if hmac.compare_digest(expected, secret_digest(secret)) and row else None


def store(
    conn: psycopg.Connection,
    connector_id: str,
    pseudonym_version: int,
    statements: Sequence[Hashed],
    refused: Sequence[Refused],
) -> list[str]:
    """Store a request's statements and record its refused ones, in one transaction; the ids of the
    statements now stored (new and resent alike). Raises :class:`StatementConflict`, storing
    nothing, when an id is another statement's, in the request or in the table."""
    digests: dict[str, str] = {}
    for h in statements:
        if digests.setdefault(h.statement.id, h.statement.digest) != h.statement.digest:
            raise StatementConflict(h.statement.id)
    unique = {h.statement.id: h for h in statements}.values()
    with conn.transaction():
        if unique:
            conn.execute(
                """INSERT INTO xapi.statements (statement_id, connector_id, digest, learner_hash, identity_hash,
                                                pseudonym_version, verb, activity_id, occurred_at, body)
                   SELECT s.id, %(c)s, s.digest, s.learner, s.identity, %(v)s, s.verb, s.activity, s.occurred,
                          s.body::jsonb
                   FROM unnest(%(ids)s::uuid[], %(digests)s::text[], %(learners)s::text[], %(identities)s::text[],
                               %(verbs)s::text[], %(activities)s::text[], %(occurred)s::timestamptz[],
                               %(bodies)s::text[])
                        AS s(id, digest, learner, identity, verb, activity, occurred, body)
                   ON CONFLICT (statement_id) DO NOTHING""",
                {
                    "c": connector_id,
                    "v": pseudonym_version,
                    "ids": [h.statement.id for h in unique],
                    "digests": [h.statement.digest for h in unique],
                    "learners": [h.learner_hash for h in unique],
                    "identities": [h.identity_hash for h in unique],
                    "verbs": [h.statement.verb for h in unique],
                    "activities": [h.statement.activity for h in unique],
                    "occurred": [h.statement.timestamp for h in unique],
                    "bodies": [orjson.dumps(h.statement.body).decode() for h in unique],
                },
            )
            clash = conn.execute(
                """SELECT statement_id::text FROM xapi.statements s
                   JOIN unnest(%s::uuid[], %s::text[]) AS r(id, digest) ON s.statement_id = r.id
                   WHERE s.digest <> r.digest LIMIT 1""",
                (list(digests), list(digests.values())),
            ).fetchone()
            if clash is not None:
                raise StatementConflict(clash[0])
        refuse(conn, connector_id, refused)
    return list(digests)


def refuse(conn: psycopg.Connection, connector_id: str, refused: Sequence[Refused]) -> None:
    """Record statements the endpoint refused: their reason and detail, never the statement."""
    if refused:
        with conn.cursor() as cur:
            cur.executemany(
                """INSERT INTO xapi.rejected_statements (connector_id, statement_id, reason, detail)
                   VALUES (%s, %s, %s, %s)""",
                [(connector_id, r.id, r.reason, r.detail) for r in refused],
            )
