"""The health page's app in-process, against the real Postgres: what it shows when a warehouse cannot be read."""

from __future__ import annotations

import json
import logging
import re

import pytest

from tests.builders import health_spec

SPEC = health_spec()

pytestmark = pytest.mark.integration


@pytest.fixture
def page(monkeypatch):
    """GET / of the page's app as a signed-in user allowed to see SPEC, the readonly Connection as given."""
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.testclient import TestClient

    from lms_connectors.health import app as health

    monkeypatch.setattr(health, "visible_connectors", lambda user: [SPEC])
    app = health.create_app()
    app.dependency_overrides[get_user] = lambda: None

    def get(conn: dict, path: str = "/"):
        monkeypatch.setenv(f"AIRFLOW_CONN_{SPEC.readonly_conn_id.upper()}", json.dumps(conn))
        with TestClient(app) as client:
            return client.get(path)

    return get


def test_a_readable_warehouse_shows_its_figures(module_warehouse, page):
    r = page(module_warehouse.readonly_conn())
    assert r.status_code == 200
    assert 'data-connector="openclassrooms"' in r.text
    assert "not readable" not in r.text


def test_runs_are_listed_by_the_day_they_cover_newest_first_at_most_the_limit(warehouse):
    """A backfill runs old days after new ones: the page still lists them by day, newest first."""
    import datetime as dt

    from lms_connectors.health import app as health
    from lms_connectors.rules.context import RunRequest
    from lms_connectors.warehouse import runs

    days = [dt.datetime(2026, 11, d, tzinfo=dt.UTC) for d in (20, 5, 27, 12, 1, 23, 9, 30, 16, 2, 25, 14)]
    with warehouse.connect() as conn:
        for day in days:  # started in this order: their started_at is not their day's order
            request = RunRequest(
                f"lms_connector_openclassrooms/backfill__{day:%Y-%m-%d}", SPEC.id, day, day + dt.timedelta(days=1)
            )
            runs.start_run(conn, request, SPEC.dag_id)
        listed = [
            r["interval_start"] for r in health.connector_health(conn, SPEC.id, dt.date(2026, 12, 1))["last_runs"]
        ]
    assert listed == sorted(days, reverse=True)[: health.RUN_LIMIT]
    assert len(days) > health.RUN_LIMIT


def test_an_unreadable_warehouse_shows_a_reference_never_connection_details(module_warehouse, page, caplog):
    conn = {**module_warehouse.readonly_conn(), "password": "wrong-password-7Qx9"}
    with caplog.at_level(logging.WARNING, logger="lms_connectors.health.app"):
        r = page(conn)
    assert r.status_code == 200
    match = re.search(r"the warehouse could not be read \(reference ([0-9a-f]{8}) in the API server", r.text)
    assert match, r.text
    for detail in (conn["password"], conn["login"], conn["host"], conn["schema"], "password authentication"):
        assert detail not in r.text
    # The details are in the server's log, under the reference the page shows.
    logged = [m for m in caplog.messages if match.group(1) in m]
    assert logged and "password authentication failed" in logged[0]


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
def test_no_interactive_docs_or_schema(module_warehouse, page, path):
    assert page(module_warehouse.readonly_conn(), path).status_code == 404


def test_the_figures_read_through_aggregates_equal_the_tables(warehouse):
    """The page's login reads aggregate views only; what it shows equals what the tables hold."""
    import datetime as dt

    from devstack.postgres import HEALTH_LOGIN
    from lms_connectors.health.app import connector_health

    today = dt.date(2026, 11, 20)
    with warehouse.connect() as conn:
        course = conn.execute(
            """INSERT INTO lms.courses (connector_id, provider_course_id, group_id, author_email, title, language,
                                        provider_status, duration_minutes, launch_url, provider_updated_at,
                                        last_synced_at)
               SELECT 'c1', 'p1', group_id, 'a@example.com', 't', 'fr', 'active', 60, 'https://x.example/',
                      now(), now() FROM lms.groups LIMIT 1 RETURNING lms_course_id"""
        ).fetchone()[0]
        users = [u for (u,) in conn.execute("SELECT user_id FROM lms.users ORDER BY 1 LIMIT 3")]
        for i, user in enumerate(users):
            for day in (today - dt.timedelta(days=2), today - dt.timedelta(days=1), today - dt.timedelta(days=40)):
                done = dt.datetime.combine(day, dt.time(9), dt.UTC) if i == 0 else None
                conn.execute(
                    """INSERT INTO stats.course_progress_daily (activity_date, connector_id, lms_course_id, user_id,
                                                                progress_pct, time_spent_minutes, completed_at,
                                                                provider_updated_at)
                       VALUES (%s, 'c1', %s, %s, 50, 30, %s, now())""",
                    (day, course, user, done),
                )
        for n, (reason, day) in enumerate([("a", 1), ("a", 1), ("b", 3), ("a", 45)]):
            conn.execute(
                """INSERT INTO ops.rejected_records (run_id, connector_id, entity, reason, record, rejected_at)
                   VALUES (%s, 'c1', 'progress', %s, '{"learner_hash": "h"}', %s)""",
                (f"run-{n % 2}", reason, dt.datetime.combine(today - dt.timedelta(days=day), dt.time(8), dt.UTC)),
            )
        for n, day in enumerate((1, 2, 60)):
            conn.execute(
                "INSERT INTO ops.unmatched_learners VALUES ('c1', %s, 'r', %s)",
                (f"h{n}", today - dt.timedelta(days=day)),
            )
        # Statements pushed: the newest 5 minutes before the page's time; two in the window, one before it.
        now = dt.datetime.combine(today, dt.time(10), dt.UTC)
        for at in (now - dt.timedelta(minutes=5), now - dt.timedelta(days=1), now - dt.timedelta(days=45)):
            conn.execute(
                """INSERT INTO xapi.statements (statement_id, connector_id, digest, learner_hash, pseudonym_version,
                                                verb, activity_id, body, stored_at)
                   VALUES (gen_random_uuid(), 'c1', 'd', 'h', 1, 'v', 'a', '{}', %s)""",
                (at,),
            )
            conn.execute(
                """INSERT INTO xapi.rejected_statements (connector_id, reason, detail, received_at)
                   VALUES ('c1', 'invalid_statement', 'd', %s)""",
                (at,),
            )
    with warehouse.connect(HEALTH_LOGIN) as conn:
        conn.read_only = True
        h = connector_health(conn, "c1", today, now=now)
    by_day = {d["day"]: (d["active_learners"], d["completions"]) for d in h["daily"]}
    assert by_day[today - dt.timedelta(days=1)] == (3, 1) and by_day[today - dt.timedelta(days=2)] == (3, 1)
    assert sum(a for a, _ in by_day.values()) == 6  # the day 40 days back is outside the window
    assert [(r["rule"], r["records"], r["runs"]) for r in h["rejected_by_rule"]] == [("a", 2, 2), ("b", 1, 1)]
    assert h["unmatched_learners"] == {"total": 3, "seen_in_window": 2}
    # Today's statement is the newest (5 minutes old); the window holds complete days only.
    assert h["xapi"] == {
        "newest": now - dt.timedelta(minutes=5),
        "age_minutes": 5,
        "stored_in_window": 1,
        "refused_in_window": 1,
    }


def test_the_headline_is_the_latest_attempt_with_its_error_and_each_failed_run_says_why(warehouse):
    """The newest day covered succeeded, then today's attempt at an earlier day failed (credentials
    broke): the headline says failed with the error's first line, and the run's row shows it too
    (before, the headline followed the newest day and said success, and no row said why)."""
    import datetime as dt

    from lms_connectors.health import app as health
    from lms_connectors.rules.context import RunRequest
    from lms_connectors.warehouse import runs

    error = "extract_courses: OpenClassrooms refused the client credentials of Connection 'x'\nTraceback: ..."
    with warehouse.connect() as conn:
        for day, status in ((30, "success"), (29, "failed")):
            start = dt.datetime(2026, 11, day, tzinfo=dt.UTC)
            key = f"{SPEC.dag_id}/scheduled__2026-11-{day}"
            runs.start_run(conn, RunRequest(key, SPEC.id, start, start + dt.timedelta(days=1)), SPEC.dag_id)
            runs.finish_run(conn, key, status, error if status == "failed" else None)
        h = health.connector_health(conn, SPEC.id, dt.date(2026, 12, 1))
    html = health.render_connector(SPEC, h)
    headline = re.search(r"<h2>.*?</h2>", html, re.S).group(0)
    assert 'data-figure="last_status">failed<' in headline
    assert "refused the client credentials of Connection &#x27;x&#x27;</span>" in headline
    assert "Traceback" not in html
    runs_table = re.search(r'<table data-table="runs">.*?</table>', html, re.S).group(0)
    rows = re.findall(r'<tr data-key="([^"]+)">(.*?)</tr>', runs_table, re.S)
    said = {day: '<td data-field="error">extract_courses: OpenClassrooms refused' in row for day, row in rows}
    assert said == {"2026-11-30": False, "2026-11-29": True}, rows
