"""What the connectors read of the LMS's users: ``lms.users(user_id, email)``, nothing else."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg


def user_pages(conn: psycopg.Connection, rows: int) -> Iterator[list[tuple[str, str]]]:
    """Every LMS user's (user id, email), ``rows`` at a time in user id order. Keyset pages, not a
    server-side cursor: the caller may COPY between two pages on the same connection."""
    last = ""
    while users := conn.execute(
        "SELECT user_id, email FROM lms.users WHERE user_id > %s ORDER BY user_id LIMIT %s", (last, rows)
    ).fetchall():
        yield users
        last = users[-1][0]
