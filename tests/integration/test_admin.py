"""Admin controls: settings validation, filters applied at once, deactivation."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from lms_connectors.pipeline import admin
from lms_connectors.rules.settings import ConnectorSettings, SettingsError, parse_settings
from lms_connectors.warehouse.lms_groups import check_against_lms
from tests.builders import DAY1, PROVIDERS, change_course, courses

pytestmark = pytest.mark.integration
VARIABLE = "lms_connector_openclassrooms"


@pytest.fixture(params=PROVIDERS)
def provider_name(request) -> str:
    """Every test of this module runs for each provider, against its own simulator."""
    return request.param


@pytest.fixture
def db_variable(airflow_env, monkeypatch, profile):
    """The settings Variable in the metadata DB (as admins save it), not in the environment."""
    from airflow.models import Variable

    monkeypatch.delenv(profile.var_env)
    Variable.set(profile.variable, json.dumps(airflow_env))

    def read() -> dict:
        return json.loads(Variable.get(profile.variable))

    yield read
    Variable.delete(profile.variable)


def trigger_admin(dags, **conf) -> str:
    """Trigger the form. Every field is passed: dag.test keeps params of earlier calls on the shared DAG object."""
    dag = dags.admin
    return dag.test(
        run_conf={"languages": None, "enabled": None, "all_languages": False, "dry_run": False, **conf}
    ).state


def data_tables(warehouse) -> dict[str, list]:
    """Every row of every LMS, stats and ops table (migrations bookkeeping aside)."""
    tables = warehouse.rows(
        """SELECT table_schema || '.' || table_name FROM information_schema.tables
           WHERE table_schema IN ('lms', 'stats', 'ops') AND table_type = 'BASE TABLE'
             AND table_name NOT IN ('schema_migrations')"""
    )
    return {t: sorted(map(str, warehouse.rows(f"SELECT t::text FROM {t} t"))) for (t,) in tables}


def active_set(warehouse) -> set[str]:
    return {cid for cid, c in courses(warehouse).items() if c["is_active"]}


# --- settings validation ------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"enabled": true, "target_group_id": ', "is not valid JSON"),
        ({"colour": "blue"}, "field 'colour': unknown field"),
        ({"languages": ["fr", "xx"]}, "field 'languages': 'xx' is not an ISO 639-1 language code"),
        ({"languages": "fr"}, "field 'languages': must be a list"),
        ({"author_email": "not-an-email"}, "field 'author_email'"),
        ({"max_archive_share": 2}, "field 'max_archive_share'"),
        ({"target_group_id": None}, "field 'target_group_id'"),
    ],
)
def test_malformed_settings_fail_with_the_variable_and_field(raw, message):
    base = {"enabled": True, "target_group_id": "g", "author_email": "a@b.example", "languages": []}
    value = raw if isinstance(raw, str) else json.dumps({**base, **raw})
    with pytest.raises(SettingsError) as err:
        parse_settings(value, VARIABLE)
    assert f"Variable {VARIABLE!r}" in str(err.value)
    assert message in str(err.value)


def test_languages_are_normalised():
    parsed = parse_settings(
        {"target_group_id": "g", "author_email": "a@b.example", "languages": [" FR", "fr", "En"]}, VARIABLE
    )
    assert parsed.languages == ("fr", "en")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"target_group_id": "grp-nowhere"}, "field 'target_group_id': group 'grp-nowhere' does not exist"),
        ({"author_email": "nobody@lms.example"}, "field 'author_email': 'nobody@lms.example' must be an editor"),
        ({"author_email": "LEARNER"}, "(role 'learner')"),
    ],
)
def test_settings_checked_against_the_lms(warehouse, airflow_env, changes, message):
    if changes.get("author_email") == "LEARNER":
        changes = {
            "author_email": warehouse.scalar(
                "SELECT u.email FROM lms.users u JOIN lms.group_members m USING (user_id) WHERE m.role = 'learner' LIMIT 1"
            )
        }
    settings = parse_settings({**airflow_env, **changes}, VARIABLE)
    with warehouse.connect() as conn, pytest.raises(SettingsError) as err:
        check_against_lms(conn, settings, VARIABLE)
    assert f"Variable {VARIABLE!r}" in str(err.value)
    assert message in str(err.value)


@pytest.mark.parametrize(
    "bad",
    [
        "{not json",
        {"unknown_field": 1},
        {"languages": ["zz"]},
        {"target_group_id": "grp-nowhere"},
        {"author_email": "u-learner"},
    ],
)
def test_bad_settings_fail_the_first_task_and_touch_no_data(
    dags, after_day_one, profile, airflow_env, warehouse, sim, monkeypatch, bad
):
    before = data_tables(warehouse)
    if bad == {"author_email": "u-learner"}:
        bad = {
            "author_email": warehouse.scalar(
                "SELECT u.email FROM lms.users u JOIN lms.group_members m USING (user_id) WHERE m.role = 'learner' LIMIT 1"
            )
        }
    value = bad if isinstance(bad, str) else json.dumps({**airflow_env, **bad})
    monkeypatch.setenv(profile.var_env, value)
    dag = dags.dag
    dr = dag.test(logical_date=dt.datetime(2026, 11, 4, tzinfo=dt.UTC))
    assert dr.state == "failed"
    states = {ti.task_id: ti.state for ti in dr.get_task_instances()}
    assert states["config"] == "failed"
    assert states["sync_catalogue"] == "upstream_failed"
    after = data_tables(warehouse)
    # The failed run is recorded (the health page shows it), with its error; no other row changed.
    assert after.pop("ops.sync_runs") != before.pop("ops.sync_runs")
    assert after == before
    status, error, seen = warehouse.rows(
        "SELECT status, error, courses_seen FROM ops.sync_runs WHERE interval_start = '2026-11-04'"
    )[0]
    assert (status, seen) == ("failed", None) and error.startswith("config: AirflowFailException: SettingsError: ")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            "DELETE FROM ops.schema_migrations WHERE version = (SELECT max(version) FROM ops.schema_migrations)",
            "not current",
        ),
        ("INSERT INTO ops.schema_migrations (version, name, checksum) VALUES (999, 'future', 'x')", "V999"),
    ],
    ids=["a-migration-not-applied", "a-migration-from-a-newer-version"],
)
def test_a_warehouse_schema_that_is_not_current_fails_the_first_task_and_is_not_migrated(
    dags, profile, airflow_env, warehouse, sim, capfd, caplog, change, message
):
    """Tasks log in as the sync role: they check the schema, the deploy step migrates it."""
    warehouse.execute(change)
    migrations = warehouse.rows("SELECT * FROM ops.schema_migrations ORDER BY version")
    dag = dags.dag
    with caplog.at_level("INFO"):
        dr = dag.test(logical_date=dt.datetime(2026, 11, 4, tzinfo=dt.UTC))
    assert dr.state == "failed"
    states = {ti.task_id: ti.state for ti in dr.get_task_instances()}
    assert states["config"] == "failed"
    assert warehouse.rows("SELECT * FROM ops.schema_migrations ORDER BY version") == migrations
    assert warehouse.scalar("SELECT count(*) FROM lms.courses") == 0
    assert warehouse.scalar("SELECT count(*) FROM ops.sync_runs") == 0
    out, err = capfd.readouterr()
    logs = "\n".join([out, err, caplog.text])
    assert "MigrationError: " in logs and message in logs


# --- apply filters now ----------------------------------------------------------


def test_filters_apply_at_once_without_a_sync(dags, after_day_one, profile, db_variable, warehouse, sim):
    requests_before = _provider_requests(sim)
    assert trigger_admin(dags, languages=["fr"]) == "success"
    got = courses(warehouse)
    assert all(("language_filter" in c["archive_reasons"]) == (c["language"] != "fr") for c in got.values())
    assert db_variable()["languages"] == ["fr"]
    assert trigger_admin(dags, languages=["fr", "en"]) == "success"
    got = courses(warehouse)
    assert all(
        c["is_active"] == (c["language"] in ("fr", "en") and c["provider_status"] in profile.kept) for c in got.values()
    )
    # "All languages" is a tick box in the form (a multi-select cannot say "[]"); both at once is refused.
    assert trigger_admin(dags, languages=["de"], all_languages=True) == "failed"
    assert db_variable()["languages"] == ["fr", "en"]
    assert trigger_admin(dags, all_languages=True) == "success"
    got = courses(warehouse)
    assert all(c["is_active"] == (c["provider_status"] in profile.kept) for c in got.values())
    assert db_variable()["languages"] == []
    # From a script, [] says the same.
    assert trigger_admin(dags, languages=["fr"]) == "success"
    assert trigger_admin(dags, languages=[]) == "success"
    assert db_variable()["languages"] == []
    assert _provider_requests(sim) == requests_before
    # Each applied form is on record (who, what), the refused one is not.
    entries = warehouse.rows("SELECT actor, action, details -> 'languages' FROM ops.audit_log ORDER BY audit_id")
    assert entries[0] == ("dag_test", "apply_settings", ["fr"]) and len(entries) == 5


def _provider_requests(sim) -> int:
    from tests.builders import sim_state

    counters = sim_state(sim)["counters"]
    return counters["data"] + counters["token"]


def test_a_course_archived_by_the_provider_stays_archived_when_its_language_returns(
    dags, after_day_one, profile, db_variable, warehouse, sim
):
    de_courses = sorted(cid for cid, c in courses(warehouse).items() if c["language"] == "de" and c["is_active"])
    provider_archived, only_language = de_courses[0], de_courses[1]
    change_course(sim, provider_archived, status="retired")
    dags.run(DAY1 + dt.timedelta(days=1))
    trigger_admin(dags, languages=["fr"])
    got = courses(warehouse)
    assert got[provider_archived]["archive_reasons"] == ["language_filter", "provider_status"]
    assert got[only_language]["archive_reasons"] == ["language_filter"]
    trigger_admin(dags, languages=["fr", "de"])
    got = courses(warehouse)
    assert got[provider_archived]["archive_reasons"] == ["provider_status"]
    assert not got[provider_archived]["is_active"]
    assert got[only_language]["is_active"]


def test_dry_run_changes_nothing_and_reports(dags, after_day_one, profile, db_variable, warehouse, sim):
    before = data_tables(warehouse)
    variable_before = db_variable()
    assert trigger_admin(dags, languages=["en"], dry_run=True) == "success"
    assert data_tables(warehouse) == before
    assert db_variable() == variable_before
    with warehouse.connect() as conn:
        report = admin.apply_settings(
            conn,
            profile.provider,
            ConnectorSettings.model_validate({**variable_before, "languages": ["en"]}),
            dry_run=True,
        )
    expected = sum(1 for c in courses(warehouse).values() if c["is_active"] and c["language"] != "en")
    assert report["archived"] == expected
    assert report["unarchived"] == 0
    assert report["rows_written"] == 0
    assert 0 < len(report["archived_titles"]) <= 5
    assert data_tables(warehouse) == before


def test_form_with_no_values_reapplies_the_variable(dags, after_day_one, profile, db_variable, warehouse, sim):
    from airflow.models import Variable

    Variable.set(profile.variable, json.dumps({**db_variable(), "languages": ["es"]}))
    assert trigger_admin(dags) == "success"
    assert active_set(warehouse) == {
        cid for cid, c in courses(warehouse).items() if c["language"] == "es" and c["provider_status"] in profile.kept
    }


def test_invalid_form_choice_fails_and_changes_nothing(dags, after_day_one, profile, db_variable, warehouse, sim):
    """A bad code or a misspelt key: the run fails at its task, in one line (no schema dump listing
    every code), and changes nothing; ``dryrun`` is not taken for ``dry_run``."""
    before = data_tables(warehouse)
    variable_before = db_variable()
    assert trigger_admin(dags, languages=["klingon"]) == "failed"
    assert trigger_admin(dags, languages=["en"], dryrun=True) == "failed"
    assert data_tables(warehouse) == before
    assert db_variable() == variable_before
    with pytest.raises(SettingsError) as bad:
        parse_settings({**variable_before, "languages": ["klingon"]}, profile.variable)
    assert "\n" not in str(bad.value) and "'klingon' is not an ISO 639-1 language code" in str(bad.value)


# --- deactivation ---------------------------------------------------------------


def test_deactivation_archives_everything_keeps_stats_and_reactivation_restores(
    dags, after_day_one, profile, db_variable, warehouse, sim
):
    dags.run(DAY1 + dt.timedelta(days=1))
    active_before = active_set(warehouse)
    stats_before = {t: rows for t, rows in data_tables(warehouse).items() if t.startswith("stats.")}
    assert stats_before["stats.course_progress"]
    assert trigger_admin(dags, enabled=False) == "success"
    got = courses(warehouse)
    assert all("connector_deactivated" in c["archive_reasons"] for c in got.values())
    assert active_set(warehouse) == set()
    assert db_variable()["enabled"] is False
    # The next scheduled run skips: no extraction, no change.
    dag = dags.dag
    dr = dag.test(logical_date=dt.datetime(2026, 11, 5, tzinfo=dt.UTC))
    states = {ti.task_id: ti.state for ti in dr.get_task_instances()}
    assert states["config"] == "skipped"
    assert all(state == "skipped" for state in states.values()), states
    assert warehouse.scalar("SELECT status FROM ops.sync_runs ORDER BY started_at DESC LIMIT 1") == "skipped"
    assert warehouse.scalar("SELECT count(*) FROM staging.raw_activity WHERE run_id LIKE %s", (f"%{dr.run_id}",)) == 0
    assert {t: rows for t, rows in data_tables(warehouse).items() if t.startswith("stats.")} == stats_before
    assert trigger_admin(dags, enabled=True) == "success"
    assert active_set(warehouse) == active_before
    assert dags.run(DAY1 + dt.timedelta(days=3)) == "success"
    assert active_set(warehouse) == active_before
