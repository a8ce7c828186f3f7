"""The key that pseudonymises learner emails (HMAC-SHA256), from an Airflow Connection.

Learner emails are replaced by a keyed hash as they are extracted; LMS users
are matched on the hash of their own email. The key lives in an Airflow
Connection (its password), so a secrets backend applies to it and nobody who
reads the warehouse's hashes can read the key beside them.
"""

from __future__ import annotations

import secrets

from lms_connectors.errors import ConnectionConfigError

MIN_KEY_CHARS = 32


def generate_key() -> str:
    """A new random key (64 URL-safe characters)."""
    return secrets.token_urlsafe(48)


def key_from_connection(conn_id: str) -> bytes:
    from airflow.exceptions import AirflowNotFoundException
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise ConnectionConfigError(
            f"Connection {conn_id!r} is not set: its password is the key that pseudonymises learner emails "
            f"(at least {MIN_KEY_CHARS} characters)"
        ) from None
    return check_key(conn.password, conn_id)


def check_key(key: str | None, conn_id: str) -> bytes:
    if not key or len(key) < MIN_KEY_CHARS:
        raise ConnectionConfigError(
            f"Connection {conn_id!r}: the pseudonymisation key (its password) must hold at least "
            f"{MIN_KEY_CHARS} characters"
        )
    return key.encode()
