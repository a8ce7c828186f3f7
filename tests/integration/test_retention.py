"""Retention with moved clocks: each class of data goes at its bound, for every connector.

The warehouse purges run as the DAG's own login against a real Postgres; Airflow's
are purged by Airflow's own `airflow db clean`, on a copy of the tests' metadata database (Postgres).
"""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest

from devstack import postgres
from devstack.postgres import SYNC_LOGIN
from lms_connectors.privacy import retention

pytestmark = pytest.mark.integration
NOW = dt.datetime(2026, 12, 1, 4, 30, tzinfo=dt.UTC)
# Enabled, disabled, and no longer in the registry: retention does not ask.
CONNECTORS = ("openclassrooms", "linkedin_learning", "left_the_registry")
CFG = retention.RetentionSettings()


def plant(warehouse, age: dt.timedelta) -> None:
    """One row of every class, for every connector, ``age`` old at NOW."""
    at = NOW - age
    with warehouse.connect() as conn:
        for c in CONNECTORS:
            run = f"{c}/{age.days}"
            conn.execute(
                """INSERT INTO ops.sync_runs (run_id, connector_id, dag_id, status, started_at, settings, error)
                   VALUES (%s, %s, 'd', 'success', %s, %s::jsonb, 'author admin@corp.example refused')""",
                (run, c, at, json.dumps({"author_email": "admin@corp.example"})),
            )
            conn.execute(
                "INSERT INTO ops.rejected_records (run_id, connector_id, entity, reason, record, rejected_at) "
                "VALUES (%s, %s, 'progress', 'x', '{\"learner_hash\": \"h\", \"progress\": 1000}', %s)",
                (run, c, at),
            )
            conn.execute(
                "INSERT INTO ops.unmatched_learners VALUES (%s, %s, %s, %s)", (c, f"hash-{age.days}", run, at.date())
            )
            conn.execute(
                "INSERT INTO staging.raw_activity (run_id, seq, record, loaded_at) VALUES (%s, 0, '{}', %s)", (run, at)
            )
            conn.execute(
                """INSERT INTO xapi.statements (statement_id, connector_id, digest, learner_hash, pseudonym_version,
                                                verb, activity_id, body, stored_at)
                   VALUES (gen_random_uuid(), %s, %s, 'h', 1, 'v', 'a', '{}', %s)""",
                (c, str(age.days), at),
            )
            conn.execute(
                """INSERT INTO xapi.rejected_statements (connector_id, reason, detail, received_at)
                   VALUES (%s, 'invalid_statement', %s, %s)""",
                (c, str(age.days), at),
            )


def left(warehouse) -> dict[str, set[int]]:
    """Per class, the ages (days) still there, for every connector alike."""
    ages = {
        "staging": "SELECT DISTINCT split_part(run_id, '/', 2)::int, count(*) FROM staging.raw_activity GROUP BY 1",
        "rejected": "SELECT DISTINCT split_part(run_id, '/', 2)::int, count(*) FROM ops.rejected_records GROUP BY 1",
        "rejected_raw": """SELECT split_part(run_id, '/', 2)::int, count(*) FROM ops.rejected_records
                           WHERE record ? 'learner_hash' GROUP BY 1""",
        "unmatched": "SELECT split_part(learner_hash, '-', 2)::int, count(*) FROM ops.unmatched_learners GROUP BY 1",
        "run_emails": """SELECT split_part(run_id, '/', 2)::int, count(*) FROM ops.sync_runs
                         WHERE settings::text LIKE '%%@%%' OR error LIKE '%%@%%' GROUP BY 1""",
        "statements": "SELECT digest::int, count(*) FROM xapi.statements GROUP BY 1",
        "rejected_statements": "SELECT detail::int, count(*) FROM xapi.rejected_statements GROUP BY 1",
    }
    out = {}
    for name, sql in ages.items():
        rows = warehouse.rows(sql)
        assert all(n == len(CONNECTORS) for _, n in rows), (name, rows)
        out[name] = {age for age, _ in rows}
    return out


def test_each_class_of_warehouse_data_goes_at_its_bound(warehouse):
    bounds = {
        "staging": CFG.staging_days,
        "rejected_raw": CFG.rejected_redact_days,
        "rejected": CFG.rejected_delete_days,
        "unmatched": CFG.unmatched_days,
        "run_emails": CFG.run_personal_days,
        "statements": CFG.staging_days,
        "rejected_statements": CFG.rejected_delete_days,
    }
    ages = sorted({d for b in bounds.values() for d in (b - 1, b + 1)})
    for days in ages:
        plant(warehouse, dt.timedelta(days=days))
    with warehouse.connect(SYNC_LOGIN) as conn:
        counts = retention.purge_warehouse(conn, CFG, NOW, actor="test", run_id="retention-1")
    kept = left(warehouse)
    for name, bound in bounds.items():
        assert kept[name] == {d for d in ages if d < bound}, name
    assert counts["ops.unmatched_learners"] == len(CONNECTORS) * len([d for d in ages if d > CFG.unmatched_days])
    # A redacted record keeps its type and size, never its content.
    redacted = warehouse.rows("SELECT record FROM ops.rejected_records WHERE redacted_at IS NOT NULL LIMIT 1")[0][0]
    assert set(redacted) == {"redacted", "json_type", "size"}
    # Run records keep their figures; only the emails went.
    assert warehouse.scalar("SELECT count(*) FROM ops.sync_runs") == len(ages) * len(CONNECTORS)
    (details,) = warehouse.rows("SELECT details FROM ops.audit_log WHERE action = 'retention'")[0]
    assert details["rows"] == counts
    # The same day again purges nothing more: ages come from the run's interval, not the wall clock.
    with warehouse.connect(SYNC_LOGIN) as conn:
        again = retention.purge_warehouse(conn, CFG, NOW, actor="test", run_id="retention-2")
    assert set(again.values()) == {0}


def test_settings_are_bounded():
    with pytest.raises(Exception, match="staging_days"):
        retention.parse({"staging_days": 31})
    with pytest.raises(Exception, match="rejected_delete_days"):
        retention.parse({"rejected_redact_days": 60, "rejected_delete_days": 30})
    with pytest.raises(Exception, match=r"forever"):
        retention.parse({"forever": True})
    assert retention.parse(None) == retention.RetentionSettings()


@pytest.fixture
def metadata_copy(pg_server, airflow_db):
    """A copy of the tests' metadata database (Postgres' template copy): its name."""
    from airflow import settings

    copy = "lms_airflow_retention"
    # A template copy needs its source idle: this process's pool closed, any other session ended.
    settings.engine.dispose()
    with pg_server.connect(autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (airflow_db,),
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{copy}"')
        conn.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{airflow_db}" OWNER "{postgres.AIRFLOW_LOGIN}"')
    yield copy
    with pg_server.connect(autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{copy}" WITH (FORCE)')


def test_airflow_metadata_and_logs_go_at_their_bound(
    dags, airflow_env, sim, warehouse, tmp_path, monkeypatch, pg_server, request
):
    assert dags.run(dt.date(2026, 11, 4)) == "success"
    copy = request.getfixturevalue("metadata_copy")
    login = postgres.AIRFLOW_LOGIN
    # As the retention task does: the database named by a Connection, not the process's own.
    metadata = postgres.metadata_url(pg_server.socket_dir, copy, login, pg_server.secrets[login])

    def rows(table: str) -> int:
        with pg_server.connect(login, copy) as db:
            return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    logs = tmp_path / "logs"
    (logs / "dag_id=x").mkdir(parents=True)
    old, new = logs / "dag_id=x" / "old.log", logs / "dag_id=x" / "new.log"
    with pg_server.connect(login, copy) as db:
        now, last = db.execute("SELECT min(start_date), max(start_date) FROM dag_run").fetchone()
    # When Airflow says the runs started (dag.test records their logical dates there; the session's
    # other tests ran other days).
    for path, age in ((old, 2), (new, 0)):
        path.write_text("a task's log")
        stamp = (now - dt.timedelta(days=age)).timestamp()
        os.utime(path, (stamp, stamp))
    before = {t: rows(t) for t in ("xcom", "task_instance", "dag_run")}
    assert all(before.values()), before

    # Exports: one past its bound at the first purge below, one written that day.
    exports = tmp_path / "exports"
    exports.mkdir()
    first = now + dt.timedelta(days=CFG.airflow_days - 1)
    sent, fresh = exports / "sent.json", exports / "fresh.json"
    for path, written in ((sent, first - dt.timedelta(days=CFG.export_days + 1)), (fresh, first)):
        path.write_text("{}")
        os.utime(path, (written.timestamp(), written.timestamp()))

    # A day short of the bound the oldest run stays (the 2-day-old log goes); past it, all go.
    done = retention.purge_airflow(CFG, first, logs, exports, metadata)
    assert {t: rows(t) for t in before} == before
    assert old.exists() is False and new.exists()
    assert not sent.exists() and fresh.exists() and done["export_files_deleted"] == 1
    retention.purge_airflow(CFG, last + dt.timedelta(days=CFG.airflow_days + 1), logs, metadata=metadata)
    assert rows("xcom") == 0 and rows("task_instance") == 0
    assert not new.exists()
