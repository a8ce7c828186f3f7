"""The shell's ``airflow`` (devstack/airflow_cli.py) repairs a ``backfill create`` that SQLite's lock broke.

Airflow's own CLI is replaced by a stand-in that writes what a locked attempt leaves in the real
metadata database (an open backfill that already holds a run: pysqlite committed it at its first
savepoint) and refuses, as Airflow does, while any backfill of the DAG is open. The lock itself
cannot be produced on demand; what the wrapper does about it can."""

from __future__ import annotations

import os
import sqlite3
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from devstack import airflow_cli


def _metadata() -> sqlite3.Connection:
    """The test Airflow's SQLite metadata database, as the stand-in opens it."""
    return sqlite3.connect(
        os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].split("///", 1)[1].split("?")[0], timeout=60
    )


STAND_IN = textwrap.dedent(
    """
    import datetime as dt, os, sqlite3, sys
    from pathlib import Path

    db = sqlite3.connect(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].split("///", 1)[1].split("?")[0], timeout=60)
    calls = Path(os.environ["STAND_IN_CALLS"])
    attempt = len(calls.read_text().splitlines()) + 1 if calls.exists() else 1
    calls.write_text(calls.read_text() + "x\\n" if calls.exists() else "x\\n")
    dag_id = sys.argv[sys.argv.index("--dag-id") + 1]
    if db.execute("SELECT 1 FROM backfill WHERE dag_id = ? AND completed_at IS NULL", (dag_id,)).fetchone():
        sys.exit("AlreadyRunningBackfill: Another backfill is running for Dag " + dag_id)
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    with db:
        backfill = db.execute(
            "INSERT INTO backfill (dag_id, from_date, to_date, dag_run_conf, is_paused, reprocess_behavior,"
            " max_active_runs, created_at, updated_at) VALUES (?, ?, ?, '{}', 0, 'completed', 1, ?, ?)",
            (dag_id, "2026-11-01 00:00:00.000000", "2026-11-02 00:00:00.000000", now, now),
        ).lastrowid
        db.execute(
            "INSERT INTO backfill_dag_run (backfill_id, logical_date, sort_ordinal) VALUES (?, ?, 1)",
            (backfill, "2026-11-01 00:00:00.000000"),
        )
        if attempt == 1:
            db.commit()
            sys.exit("sqlite3.OperationalError: database is locked")
        db.execute("UPDATE backfill SET completed_at = ? WHERE id = ?", (now, backfill))
    """
)


@pytest.fixture
def stand_in(airflow_db, tmp_path, monkeypatch) -> Path:
    script = tmp_path / "airflow"
    script.write_text(f"#!{sys.executable}\n{STAND_IN}")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(airflow_cli, "AIRFLOW", str(script))
    monkeypatch.setattr(airflow_cli, "RETRY_SECONDS", 0)
    monkeypatch.setenv("STAND_IN_CALLS", str(tmp_path / "calls"))
    return tmp_path / "calls"


def _backfills(dag_id: str) -> list[tuple[int, bool, int]]:
    """(id, closed?, rows in backfill_dag_run) of ``dag_id``'s backfills, oldest first."""
    db = _metadata()
    rows = db.execute(
        "SELECT b.id, b.completed_at IS NOT NULL, (SELECT count(*) FROM backfill_dag_run r WHERE r.backfill_id = b.id)"
        " FROM backfill b WHERE b.dag_id = ? ORDER BY b.id",
        (dag_id,),
    ).fetchall()
    db.close()
    return [(i, bool(closed), n) for i, closed, n in rows]


def test_a_locked_attempt_that_left_runs_is_closed_and_the_command_tried_again(stand_in, capsys):
    dag_id = "lms_connector_cli_locked"
    argv = ["backfill", "create", "--dag-id", dag_id, "--from-date", "2026-11-01", "--to-date", "2026-11-02"]
    assert airflow_cli.main(argv) == 0
    assert len(stand_in.read_text().splitlines()) == 2
    (first, first_closed, first_rows), (_, second_closed, _) = _backfills(dag_id)
    # The locked attempt's backfill is closed, its run kept (the scheduler starts it all the same).
    assert first_closed and second_closed and first_rows == 1
    err = capsys.readouterr().err
    assert f"closed backfill {first} this attempt opened" in err and "attempt 2 of 4" in err


def test_a_failure_other_than_the_lock_is_not_repaired(stand_in, capsys):
    """A backfill someone else is running is not the wrapper's to close: Airflow's refusal stands."""
    dag_id = "lms_connector_cli_busy"
    db = _metadata()
    with db:
        db.execute(
            "INSERT INTO backfill (dag_id, from_date, to_date, dag_run_conf, is_paused, reprocess_behavior,"
            " max_active_runs, created_at, updated_at) VALUES (?, '2026-11-05', '2026-11-05', '{}', 0, 'none', 1,"
            " datetime('now'), datetime('now'))",
            (dag_id,),
        )
    db.close()
    argv = ["backfill", "create", "--dag-id", dag_id, "--from-date", "2026-11-05", "--to-date", "2026-11-05"]
    assert airflow_cli.main(argv) != 0
    assert len(stand_in.read_text().splitlines()) == 1
    assert [closed for _, closed, _ in _backfills(dag_id)][-1] is False
    assert "AlreadyRunningBackfill" in capsys.readouterr().err
