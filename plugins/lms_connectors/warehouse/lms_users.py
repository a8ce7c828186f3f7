"""What the connectors read of the LMS's users: ``lms.users(user_id, email)``, the further emails
the LMS knows for them, ``lms.user_emails(user_id, email)``, and their other identities,
``lms.user_identities(user_id, kind, issuer, value)``, and the accounts it merged,
``lms.user_merges(retired_user_id, into_user_id)``; nothing else."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg

# Each user's address, then any further one the LMS declares (a secondary address, a former one).
_EMAILS = """SELECT user_id, email FROM lms.users
             UNION SELECT user_id, email FROM lms.user_emails"""


def user_pages(conn: psycopg.Connection, rows: int) -> Iterator[list[tuple[str, str]]]:
    """Every (LMS user id, email) the LMS knows, ``rows`` at a time in (user id, email) order; a user
    with further emails has a row for each. Keyset pages, not a server-side cursor: the caller may
    COPY between two pages on the same connection."""
    last = ("", "")
    while users := conn.execute(
        f"SELECT user_id, email FROM ({_EMAILS}) e WHERE (user_id, email) > (%s, %s) ORDER BY user_id, email LIMIT %s",
        (*last, rows),
    ).fetchall():
        yield users
        last = users[-1]


def emails_of(conn: psycopg.Connection, user_ids: list[str]) -> list[tuple[str, str]]:
    """The (user id, email) rows of ``user_ids``: each one's address and any further one."""
    return conn.execute(
        f"SELECT user_id, email FROM ({_EMAILS}) e WHERE user_id = ANY(%s) ORDER BY 1, 2", (user_ids,)
    ).fetchall()


def identity_pages(conn: psycopg.Connection, kind: str, issuer: str, rows: int) -> Iterator[list[tuple[str, str]]]:
    """Every (LMS user id, value) of the identities of ``kind`` and ``issuer``, ``rows`` at a time in
    (user id, value) order (keyset pages, as :func:`user_pages`)."""
    last = ("", "")
    while found := conn.execute(
        """SELECT user_id, value FROM lms.user_identities WHERE kind = %s AND issuer = %s AND (user_id, value) > (%s, %s)
           ORDER BY user_id, value LIMIT %s""",
        (kind, issuer, *last, rows),
    ).fetchall():
        yield found
        last = found[-1]


def identities_of(conn: psycopg.Connection, user_ids: list[str]) -> list[tuple[str, str, str, str]]:
    """The (user id, kind, issuer, value) rows of ``user_ids``' identities other than emails."""
    return conn.execute(
        "SELECT user_id, kind, issuer, value FROM lms.user_identities WHERE user_id = ANY(%s) ORDER BY 1, 2, 3, 4",
        (user_ids,),
    ).fetchall()


def survivors(conn: psycopg.Connection) -> dict[str, str]:
    """Each user id the LMS retired into another account, and the account it ends in (chains
    followed; a cycle, or a merge into no LMS user, is no merge)."""
    from lms_connectors.rules.paths import sql_statements

    return dict(conn.execute(sql_statements("stats/merge_users.sql")["survivors"]).fetchall())


def merged_with(conn: psycopg.Connection, user_ids: set[str]) -> set[str]:
    """The accounts merged with ``user_ids``: those retired into one of them, and those they went into."""
    merged = survivors(conn)
    return {r for r, into in merged.items() if into in user_ids} | {merged[u] for u in user_ids if u in merged}
