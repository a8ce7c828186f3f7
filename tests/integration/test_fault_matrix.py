"""The fault matrix: each fault driven through the simulator and real Postgres ends with
target tables identical to a clean run, or unchanged where the run must fail."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time

import pytest
import requests

from simulator import launch
from tests.builders import (
    DAY1,
    PROVIDERS,
    SIM_ARGS,
    add_activity,
    add_course,
    change_course,
    last_run,
    provider_client,
    set_faults,
    sim_state,
    tag_every_course,
    targets,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=PROVIDERS)
def provider_name(request) -> str:
    """Every fault runs against each provider's client and simulator (module scope: one clean
    reference per provider)."""
    return request.param


def use(monkeypatch, warehouse) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_LMS_WAREHOUSE", json.dumps(warehouse.airflow_conn()))


@pytest.fixture(scope="module")
def clean_reference(day_one, provider_name) -> dict[str, list]:
    """Target tables after a clean run of DAY1, computed once per provider (the seeded
    simulator makes it the same for every test)."""
    dumps = targets(day_one(provider_name))
    assert dumps["lms.courses"]
    assert dumps["stats.course_progress"]
    return dumps


@pytest.fixture
def clean_day(clean_reference, airflow_env) -> dict[str, list]:
    return clean_reference


# --- transient faults: retried, then identical to a clean run ---------------------


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param({"rate_limit_burst": 3, "retry_after": 0.05}, id="429-storm-with-retry-after"),
        pytest.param({"rate_limit_rate": 0.25, "retry_after": 0.02}, id="429-rate"),
        pytest.param({"error_burst": 2, "error_status": 502, "reset_burst": 1}, id="5xx-and-resets"),
        pytest.param({"token_max_uses": 2}, id="token-expiry-mid-paging"),
        pytest.param({"malformed_json_burst": 2}, id="truncated-bodies"),
        pytest.param({"total_change_burst": 1}, id="total-moves-while-paging"),
        pytest.param({"trickle_burst": 1, "trickle_delay_ms": 200}, id="trickling-body-past-the-deadline"),
    ],
)
def test_transient_faults_end_like_a_clean_run(dags, profile, warehouse, sim, clean_day, monkeypatch, faults):
    if "trickle_burst" in faults:
        conn = json.loads(os.environ[profile.conn_env])
        conn["extra"]["max_request_seconds"] = 1
        monkeypatch.setenv(profile.conn_env, json.dumps(conn))
    set_faults(sim, **faults)
    t0 = time.monotonic()
    assert dags.run(DAY1) == "success"
    assert sim_state(sim)["counters"]["faulted"] > 0 or not {"error_burst", "rate_limit_rate"} & set(faults)
    assert targets(warehouse) == clean_day
    if "trickle_burst" in faults:
        assert time.monotonic() - t0 < 60  # the trickled page alone would have taken minutes


# Each hostile variant a provider's simulator serves (its COURSE_VARIANTS and ACTIVITY_VARIANTS)
# and the reason it must get.
HOSTILE_REASONS: dict[str, dict[str, dict[str, str]]] = {}
HOSTILE_REASONS["openclassrooms"] = {
    "course": {
        "nul_in_title": "invalid_text",
        "lone_surrogate_in_description": "invalid_text",
        "control_character_in_status": "invalid_text",
        "duration_of_millions_of_days": "invalid_duration",
        "duration_of_400_digits": "text_too_long",
        "updated_at_beyond_year_9999": "invalid_updated_at",
        "description_of_1_5_mb": "text_too_long",
        "id_of_3000_characters": "text_too_long",
        "language_not_iso_639_1": "invalid_language",
        "javascript_launch_url": "invalid_url",
        "foreign_launch_url": "invalid_url",
        "title_is_an_array": "wrong_type",
        "record_is_a_string": "not_an_object",
        "nesting_2000_levels_deep": "undecodable_record",
    },
    "progress": {
        "progress_1000": "progress_out_of_range",
        "progress_1e400": "invalid_number",
        "progress_nan": "invalid_number",
        "progress_10_pow_30": "invalid_number",
        "progress_is_a_string": "wrong_type",
        "progress_is_a_boolean": "wrong_type",
        "started_at_unparseable": "invalid_started_at",
        "completed_at_unparseable": "invalid_completed_at",
        "nul_in_course_id": "invalid_text",
        "lone_surrogate_in_email": "invalid_text",
        "course_id_of_3000_characters": "text_too_long",
        "record_is_an_array": "not_an_object",
        "nesting_2000_levels_deep": "undecodable_record",
    },
}


HOSTILE_REASONS["linkedin_learning"] = {
    "course": {
        "nul_in_title": "invalid_text",
        "lone_surrogate_in_description": "invalid_text",
        "title_is_a_string": "wrong_type",
        "details_is_an_array": "wrong_type",
        "duration_1e400": "invalid_number",
        "duration_in_fortnights": "invalid_duration",
        "updated_in_year_33658": "invalid_updated_at",
        "description_of_1_5_mb": "text_too_long",
        "urn_of_3000_characters": "text_too_long",
        "language_not_iso_639_1": "invalid_language",
        "javascript_launch_url": "invalid_url",
        "foreign_launch_url": "invalid_url",
        "record_is_a_string": "not_an_object",
        "nesting_2000_levels_deep": "undecodable_record",
    },
    "progress": {
        "progress_1000": "progress_out_of_range",
        "progress_1e400": "invalid_number",
        "progress_nan": "invalid_number",
        "seconds_negative": "invalid_time_viewed",
        "seconds_10_pow_30": "invalid_number",
        "progress_is_a_string": "wrong_type",
        "engaged_in_year_5138": "invalid_updated_at",
        "activities_is_an_object": "wrong_type",
        "learner_details_is_a_string": "wrong_type",
        "nul_in_email": "invalid_text",
        "content_urn_of_3000_characters": "text_too_long",
        "record_is_an_array": "not_an_object",
        "nesting_2000_levels_deep": "undecodable_record",
    },
}


HOSTILE_REASONS["skillsoft_percipio"] = {
    "course": {
        "nul_in_title": "invalid_text",
        "lone_surrogate_in_description": "invalid_text",
        "control_character_in_status": "invalid_text",
        "duration_of_millions_of_days": "invalid_duration",
        "updated_at_beyond_year_9999": "invalid_updated_at",
        "description_of_1_5_mb": "text_too_long",
        "id_of_3000_characters": "text_too_long",
        "locale_not_iso_639_1": "invalid_language",
        "javascript_launch_url": "invalid_url",
        "foreign_launch_url": "invalid_url",
        "lifecycle_is_an_array": "wrong_type",
        "record_is_a_string": "not_an_object",
        "nesting_2000_levels_deep": "undecodable_record",
    },
    "progress": {
        "progress_1000": "progress_out_of_range",
        "progress_1e400": "invalid_number",
        "progress_nan": "invalid_number",
        "progress_is_a_string": "wrong_type",
        "duration_negative": "invalid_time_viewed",
        "first_access_unparseable": "invalid_started_at",
        "completed_date_unparseable": "invalid_completed_at",
        "nul_in_content_uuid": "invalid_text",
        "lone_surrogate_in_email": "invalid_text",
        "content_uuid_of_3000_characters": "text_too_long",
        "record_is_an_array": "not_an_object",
        "nesting_2000_levels_deep": "undecodable_record",
    },
}


def test_hostile_records_over_http_are_quarantined_and_the_run_ends_like_a_clean_one(
    dags, profile, provider_name, airflow_env, warehouse, sim, clean_day, monkeypatch
):
    from simulator.app import provider_module

    reasons = HOSTILE_REASONS[provider_name]
    simulator = provider_module(provider_name)
    assert set(reasons["course"]) == set(simulator.COURSE_VARIANTS)
    assert set(reasons["progress"]) == set(simulator.ACTIVITY_VARIANTS)
    # A share that gives each listing of the day (65 activity records) a twin of every variant:
    # up to 27 % of a listing is then hostile, so the run's reject threshold is raised to match.
    monkeypatch.setenv(profile.var_env, json.dumps({**airflow_env, "max_reject_share": 0.4}))
    set_faults(sim, hostile_share=0.3)
    assert dags.run(DAY1) == "success"
    assert targets(warehouse) == clean_day
    served = sim_state(sim)["hostile_listed"]
    expected = sorted(
        (
            "course" if listing == "courses" else "progress",
            reasons["course" if listing == "courses" else "progress"][v],
        )
        for listing, variants in served.items()
        for v, n in variants.items()
        for _ in range(n)
    )
    assert {e for e, _ in expected} == {"course", "progress"}, served
    # Twins take the variants in turn: every variant was served, so every one is checked here.
    for listing, variants in served.items():
        assert set(variants) == set(reasons["course" if listing == "courses" else "progress"]), (listing, variants)
    assert sorted(warehouse.rows("SELECT entity, reason FROM ops.rejected_records")) == expected
    assert warehouse.scalar("SELECT count(*) FROM ops.rejected_records WHERE detail IS NULL") == 0


def test_retries_exhausted_fail_cleanly_then_a_rerun_converges(dags, warehouse, sim, clean_day):
    before = targets(warehouse)
    set_faults(sim, error_rate=1.0)
    assert dags.run(DAY1) == "failed"
    assert targets(warehouse) == before
    # A read retried to its bound, or a report job's request not sent again after a 5xx (a second
    # request could make a second job): either says why.
    error = last_run(warehouse)["error"]
    assert "still failing after" in error or "not sent again: the server may have acted on it" in error, error
    requests.delete(f"{sim.url}/_sim/faults", timeout=10).raise_for_status()
    assert dags.run(DAY1) == "success"
    assert targets(warehouse) == clean_day


# --- permanent faults: fast, clear failure, nothing changed ----------------------


# Per provider: a Connection change that the provider refuses, and what the error must say.
BAD_CONNECTIONS = {
    "openclassrooms": [
        ({"password": "wrong-secret"}, "refused the client credentials"),
        ({"extra": {"organization_id": "org-other"}}, "has no access to organization 'org-other'"),
    ],
    "linkedin_learning": [
        ({"password": "wrong-secret"}, "refused the client credentials"),
        ({"extra": {"token_url": "{base_url}/oauth/v2/no-such-endpoint"}}, "token endpoint answered 404"),
    ],
    "skillsoft_percipio": [
        ({"password": "wrong-token"}, "refused the service account's token"),
        ({"extra": {"organization_id": "org-other"}}, "has no access to organization 'org-other'"),
    ],
}


@pytest.mark.parametrize("case", [0, 1], ids=["wrong-secret", "wrong-account-setting"])
def test_bad_credentials_or_account_settings_fail_fast_naming_the_connection(
    dags, profile, airflow_env, warehouse, sim, monkeypatch, case
):
    connection_change, message = BAD_CONNECTIONS[profile.provider][case]
    conn = json.loads(os.environ[profile.conn_env])
    if "extra" in connection_change:
        changes = {k: v.format(base_url=sim.url) for k, v in connection_change["extra"].items()}
        conn["extra"] = {**conn["extra"], **changes}
    else:
        conn.update(connection_change)
    monkeypatch.setenv(profile.conn_env, json.dumps(conn))
    before = targets(warehouse)
    t0 = time.monotonic()
    assert dags.run(DAY1) == "failed"
    assert time.monotonic() - t0 < 30
    error = last_run(warehouse)["error"]
    assert message in error
    assert f"Connection '{profile.provider}_default'" in error
    counters = sim_state(sim)["counters"]
    assert counters["token"] + counters["data"] <= 4, counters  # one try per extract task, no retry storm
    assert targets(warehouse) == before


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param({"total_offset": 1}, id="total-does-not-add-up"),
        pytest.param({"overlap_pages": True}, id="overlapping-pages"),
        pytest.param({"malformed_json_rate": 1.0}, id="malformed-json-on-every-answer"),
        pytest.param({"malformed_share": 0.3}, id="malformed-records-above-threshold"),
    ],
)
def test_broken_responses_fail_and_change_nothing(dags, after_day_one, warehouse, sim, clean_day, faults):
    assert tag_every_course(warehouse) > 0
    before = targets(warehouse)
    assert before["lms.course_tags"]  # what the admin owns is compared too, not empty with empty
    set_faults(sim, **faults)
    assert dags.run(DAY1 + dt.timedelta(days=1)) == "failed"
    assert targets(warehouse) == before


def test_malformed_records_below_threshold_are_quarantined(dags, warehouse, sim, clean_day):
    set_faults(sim, malformed_share=0.02)
    assert dags.run(DAY1) == "success"
    rejected = warehouse.rows("SELECT entity, reason, record::text FROM ops.rejected_records")
    assert rejected
    # The run row counts them per entity and in total, from the same quarantine.
    per_entity = {e: sum(1 for r in rejected if r[0] == e) for e in ("course", "progress")}
    assert warehouse.rows(
        "SELECT coalesce(courses_rejected, 0), coalesce(activity_rejected, 0), rejected FROM ops.sync_runs"
    ) == [(per_entity["course"], per_entity["progress"], len(rejected))]
    got = targets(warehouse)
    # Apart from the rows the rules held back, the result is the clean one.
    assert set(got["stats.course_progress"]) <= set(clean_day["stats.course_progress"])
    assert len(got["stats.course_progress"]) >= len(clean_day["stats.course_progress"]) - len(rejected)


# --- crash in the middle of a load -------------------------------------------------

FAIL_TRIGGER = """
CREATE FUNCTION public.fail_now() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'injected failure in the middle of the load'; END $$;
CREATE TRIGGER fail_now BEFORE INSERT ON {table} FOR EACH STATEMENT EXECUTE FUNCTION public.fail_now();
"""


@pytest.mark.parametrize("table", ["lms.group_catalogue", "stats.course_progress_daily"])
def test_exception_mid_load_leaves_targets_as_they_were_and_a_rerun_converges(dags, warehouse, sim, clean_day, table):
    before = targets(warehouse)
    warehouse.execute(FAIL_TRIGGER.format(table=table))
    assert dags.run(DAY1) == "failed"
    after = targets(warehouse)
    # Each load is its own transaction: the failing one left its tables exactly as they were.
    schema = table.split(".")[0]
    assert {k: v for k, v in after.items() if k.startswith(schema)} == {
        k: v for k, v in before.items() if k.startswith(schema)
    }
    assert "injected failure" in last_run(warehouse)["error"]
    warehouse.execute(f"DROP TRIGGER fail_now ON {table}")
    assert dags.run(DAY1) == "success"
    assert targets(warehouse) == clean_day


# --- mass-archive circuit breaker: tests/integration/test_approval.py -----------------


# --- no interleaving ----------------------------------------------------------------


def test_two_loads_of_one_connector_never_interleave(profile, warehouse, sim):
    """A second merge waits for the first: here the first holds the connector's lock."""
    from lms_connectors import providers
    from lms_connectors.pipeline import catalogue
    from lms_connectors.rules.settings import parse_settings
    from lms_connectors.warehouse.db import lock_connector

    provider = providers.get(profile.provider)
    connector = profile.provider
    settings = parse_settings(requests.get(f"{sim.url}/_sim/lms-seed", timeout=10).json()["settings"], "v")
    with warehouse.connect("lms_connector") as conn:
        catalogue.extract_courses(conn, provider_client(sim).iter_course_pages(), "run-b", provider)
        catalogue.transform_courses(conn, "run-b", provider)
        catalogue.validate_courses(conn, "run-b", connector, settings, provider)
    holder = warehouse.connect("lms_connector")
    lock_connector(holder, connector)  # a first load, in flight
    done = threading.Event()
    errors: list[BaseException] = []

    def second_load() -> None:
        try:
            with warehouse.connect("lms_connector") as conn:
                catalogue.load_courses(
                    conn, "run-b", connector, settings, dt.datetime(2026, 11, 3, tzinfo=dt.UTC), provider
                )
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)
        done.set()

    worker = threading.Thread(target=second_load)
    worker.start()
    assert not done.wait(1.5), "the second load did not wait for the first"
    assert warehouse.scalar("SELECT count(*) FROM lms.courses") == 0
    holder.commit()
    holder.close()
    assert done.wait(30)
    worker.join()
    assert errors == []
    assert warehouse.scalar("SELECT count(*) FROM lms.courses") == 120


# --- hostile provider content ---------------------------------------------------------


def test_provider_fields_with_sql_quotes_emoji_and_long_text_are_stored_as_given(
    dags, profile, airflow_env, warehouse, sim
):
    hostile = {
        "title": 'Robert\'); DROP TABLE lms.courses; -- "quoted" 🎓🚀',
        "description": ("L'été 🌞 \\ back\\slash\t tab \n newline; SELECT pg_sleep(10); " * 200)[:10_000],
    }
    course = add_course(sim, id="9000001", language="fr", duration="PT3H", **hostile)
    change_course(sim, course["id"], title=hostile["title"])
    assert dags.run(DAY1) == "success"
    title, description = warehouse.rows(
        "SELECT title, description FROM lms.courses WHERE provider_course_id = %s", (profile.course_id("9000001"),)
    )[0]
    assert title == hostile["title"]
    assert description == hostile["description"]
    assert len(description) == 10_000
    assert warehouse.scalar("SELECT count(*) FROM lms.courses") == 121


# --- no secret or unmatched email in the logs -------------------------------------------


def test_task_logs_hold_neither_the_secret_nor_unmatched_emails(
    dags, profile, airflow_env, warehouse, monkeypatch, capfd, caplog, tmp_path
):
    from lms_connectors import providers

    secret = "Sx-7f3a9c1e-very-secret-value"
    stranger = "Outsider.Person@NotInTheLms.example"
    args = [*SIM_ARGS, "--provider", profile.provider, "--client-secret", secret]
    with (tmp_path / "sim.log").open("wb") as log, launch.running(args, log) as own:
        conn = providers.get(profile.provider).connection(own.url, own.client_id, secret, **own.extras)
        conn["extra"] |= {"max_attempts": 3, "initial_wait": 0.01}
        monkeypatch.setenv(profile.conn_env, json.dumps(conn))
        add_activity(
            own,
            [
                {
                    "learner_email": stranger,
                    "course_id": _first_course(own),
                    "progress": 10,
                    "updated_at": "2026-11-02T10:00:00Z",
                }
            ],
        )
        set_faults(own, error_burst=1, rate_limit_burst=1, retry_after=0.05)
        with caplog.at_level("DEBUG"):
            assert dags.run(DAY1) == "success"
        out, err = capfd.readouterr()
    logs = "\n".join([out, err, caplog.text])
    assert "run report" in logs  # the task logs really were captured
    assert secret not in logs
    assert stranger.lower() not in logs.lower()


def _first_course(sim) -> str:
    from tests.builders import world_courses

    return next(iter(world_courses(sim)))
