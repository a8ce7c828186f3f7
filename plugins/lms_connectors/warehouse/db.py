"""Connections to the warehouse through the Airflow Connection."""

from __future__ import annotations

import psycopg


def connect(conn_id: str = "lms_warehouse") -> psycopg.Connection:
    """A psycopg 3 connection from the Airflow Postgres Connection ``conn_id``."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    conn = PostgresHook(postgres_conn_id=conn_id).get_conn()
    if not isinstance(conn, psycopg.Connection):
        raise RuntimeError("the Postgres provider did not return a psycopg 3 connection; install psycopg")
    return conn


def advisory_key(connector_id: str) -> str:
    return f"lms_connector:{connector_id}"


def lock_connector(conn: psycopg.Connection, connector_id: str) -> None:
    """Serialise merges of one connector (a backfill and the daily run, say) until commit."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (advisory_key(connector_id),))
