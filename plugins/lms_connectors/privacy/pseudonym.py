"""The key that pseudonymises learner emails (HMAC-SHA256), from an Airflow Connection.

Learner emails are replaced by a keyed hash as they are extracted; LMS users
are matched on the hash of their own email. The key lives in an Airflow
Connection (its password), so a secrets backend applies to it and nobody who
reads the warehouse's hashes can read the key beside them.

The Connection's key is never used as it is: each connector hashes with a key
derived from it, its connector id and a version (``ops.pseudonym_keys``), so a
person's hashes do not link them across providers, and a rotation (a new
version) leaves every older hash unmatchable, then purged. The suppression list
of erased learners has a derived key of its own.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import secrets
from typing import Any

from lms_connectors.rules import guard, records
from lms_connectors.rules.errors import ConnectionConfigError

MIN_KEY_CHARS = 32
# Learners are matched to LMS users on their email, whatever the provider calls the field.
_EMAIL_FIELD = guard.Field(records.LEARNER, guard.Kind.LINE, 320, secret=True)
_ID_FIELD = guard.Field(records.LEARNER_ID, guard.Kind.LINE, 255, secret=True)


def normalise_email(value: str) -> str:
    return value.strip().lower()


def learner_hash(key: bytes, email: Any) -> str | None:
    """The keyed hash of an email; None when there is no email the guard would accept."""
    if not isinstance(email, str) or not email.strip() or guard.check(email, _EMAIL_FIELD) is not None:
        return None
    hasher = _keyed(key).copy()
    hasher.update(normalise_email(email).encode())
    return hasher.hexdigest()


def identity_hash(key: bytes, kind: str, issuer: str, value: Any) -> str | None:
    """The keyed hash of a learner's identity other than an email (``lms.user_identities``: an SSO
    subject, an account of the provider ``issuer``); None when there is no id the guard would accept.

    Ids are compared exactly once trimmed (an SSO subject may be case-sensitive). The kind and the
    issuer are hashed with it, and the NUL between them is refused in an email, so no id's hash is
    ever an email's nor another kind's."""
    if not isinstance(value, str) or not value.strip() or guard.check(value, _ID_FIELD) is not None:
        return None
    hasher = _keyed(key).copy()
    hasher.update(f"{kind}\0{issuer}\0{value.strip()}".encode())
    return hasher.hexdigest()


@functools.lru_cache(maxsize=8)
def _keyed(key: bytes) -> hmac.HMAC:
    """An HMAC-SHA256 that has taken in ``key`` and nothing else; each hash starts from a copy of it.

    hmac.digest() sets the key up again for every email: 3.2-4.0 us a hash against 1.8 us from
    a copy, timed on this machine; hashing emails was a fifth of the activity extract's own work.
    A run hashes with one or two keys (its connector's, the suppression list's)."""
    return hmac.new(key, digestmod=hashlib.sha256)


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


# --- keys derived from the pseudonymisation key ------------------------------
# The Connection holds one secret; each use gets its own key, so that no hash
# of one use can be compared with a hash of another.


def connector_key(master: bytes, connector_id: str, version: int) -> bytes:
    """The key a connector pseudonymises with: hashes of two connectors (or of two versions
    of one connector's key) never match for the same email."""
    return hmac.new(master, f"pseudonym:{connector_id}:v{version}".encode(), hashlib.sha256).digest()


def suppression_key(master: bytes) -> bytes:
    """The key of the suppression list: one for every connector (erasure is of a person),
    unchanged when a connector's key is rotated."""
    return hmac.new(master, b"suppression:v1", hashlib.sha256).digest()


def current_version(conn: Any, connector_id: str) -> int:
    """The version of the connector's key in use (1 until a rotation)."""
    row = conn.execute(
        "SELECT max(version) FROM ops.pseudonym_keys WHERE connector_id = %s", (connector_id,)
    ).fetchone()
    return int(row[0] or 1)


@dataclasses.dataclass(frozen=True)
class RunKeys:
    """What a run pseudonymises with: its connector's current key, and the suppression key."""

    learner: bytes
    suppression: bytes
    version: int

    def __repr__(self) -> str:
        return f"RunKeys(version={self.version})"


def run_keys(conn: Any, conn_id: str, connector_id: str) -> RunKeys:
    """The run's keys, from the master key in the Airflow Connection ``conn_id``."""
    return keys_for(conn, key_from_connection(conn_id), connector_id)


def keys_for(conn: Any, master: bytes, connector_id: str) -> RunKeys:
    """The run's keys derived from ``master``: the connector's current key version and the suppression key."""
    version = current_version(conn, connector_id)
    return RunKeys(connector_key(master, connector_id, version), suppression_key(master), version)
