"""Connections to the warehouse through the Airflow Connection.

Nothing waits on a hung warehouse without bound: a connection attempt gives up after
``CONNECT_TIMEOUT_SECONDS`` (libpq's ``PGCONNECT_TIMEOUT``, unless the environment or the
Connection's extra ``connect_timeout`` says otherwise) and a statement after the session's
``statement_timeout`` (``TASK_STATEMENT_TIMEOUT`` for the tasks, the health page its own; the
Connection's extra ``options`` replaces it).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable

import psycopg

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 10
# Far above any statement of a daily run: make bench's whole DAG at 5M records took 259 s.
TASK_STATEMENT_TIMEOUT = "20min"


def connect(conn_id: str = "lms_warehouse", *, statement_timeout: str = TASK_STATEMENT_TIMEOUT) -> psycopg.Connection:
    """A psycopg 3 connection from the Airflow Postgres Connection ``conn_id``, with bounded waits."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    os.environ.setdefault("PGCONNECT_TIMEOUT", str(CONNECT_TIMEOUT_SECONDS))
    hook = PostgresHook(postgres_conn_id=conn_id, options=f"-c statement_timeout={statement_timeout}")
    conn = hook.get_conn()
    if not isinstance(conn, psycopg.Connection):
        raise RuntimeError("the Postgres provider did not return a psycopg 3 connection; install psycopg")
    return conn


def write_when_reachable(
    conn_id: str, write: Callable[[psycopg.Connection], None], waits: Iterable[float] = (1, 2, 4, 8, 15)
) -> None:
    """``write`` in a transaction of its own, tried again after each of ``waits`` (seconds) while the
    warehouse cannot be reached: a server that just crashed (the likeliest cause of a failure worth
    recording) is often back within them. Other errors, and the last attempt's, are raised."""
    for wait in (*waits, None):
        try:
            with connect(conn_id) as conn:
                write(conn)
            return
        except psycopg.OperationalError:
            if wait is None:
                raise
            log.warning("the warehouse is unreachable (Connection %r); trying again in %g s", conn_id, wait)
            time.sleep(wait)


def advisory_key(connector_id: str) -> str:
    return f"lms_connector:{connector_id}"


def lock_connector(conn: psycopg.Connection, connector_id: str) -> None:
    """Serialise merges of one connector (a backfill and the daily run, say) until commit."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (advisory_key(connector_id),))
