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
