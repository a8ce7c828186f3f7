"""No wait on a hung warehouse is unbounded: connecting gives up, and so does a statement."""

from __future__ import annotations

import json
import socket
import threading
import time

import psycopg
import pytest

from lms_connectors.warehouse import db

pytestmark = pytest.mark.integration


def test_a_statement_ends_at_the_sessions_timeout(airflow_env):
    with db.connect("lms_warehouse") as conn:
        assert conn.execute("SHOW statement_timeout").fetchone()[0] == db.TASK_STATEMENT_TIMEOUT
    with db.connect("lms_warehouse", statement_timeout="200ms") as conn, pytest.raises(psycopg.errors.QueryCanceled):
        conn.execute("SELECT pg_sleep(5)")


def test_connecting_to_a_warehouse_that_never_answers_gives_up(monkeypatch):
    """A server that accepts the connection and says nothing (a hung host, a half-open proxy)."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(silent.accept()[0]), daemon=True).start()
    port = silent.getsockname()[1]
    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    conn = {"conn_type": "postgres", "host": "127.0.0.1", "port": port, "login": "x", "password": "y", "schema": "z"}
    monkeypatch.setenv("AIRFLOW_CONN_LMS_SILENT_WAREHOUSE", json.dumps(conn))
    t0 = time.monotonic()
    with pytest.raises(psycopg.OperationalError, match="timeout"):
        db.connect("lms_silent_warehouse")
    assert time.monotonic() - t0 < db.CONNECT_TIMEOUT_SECONDS + 5
    silent.close()
