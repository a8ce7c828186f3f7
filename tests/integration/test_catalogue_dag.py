"""The catalogue sync through Airflow (dag.test) against real Postgres and the simulator."""

from __future__ import annotations

import collections
import datetime as dt
import json

import psycopg
import pytest

from tests.builders import (
    DAY1,
    PROVIDERS,
    WORLD_KEPT,
    add_course,
    change_course,
    courses,
    remove_course,
    world_courses,
)

pytestmark = pytest.mark.integration


@pytest.fixture(params=PROVIDERS)
def provider_name(request) -> str:
    """Every test of this module runs for each provider, against its own simulator."""
    return request.param


def set_languages(monkeypatch, profile, settings: dict, languages: list[str]) -> None:
    monkeypatch.setenv(profile.var_env, json.dumps({**settings, "languages": languages}))


def physical_rows(warehouse) -> list[tuple]:
    """(id, xmin, ctid): changes whenever a row is rewritten, even with identical values."""
    return warehouse.rows("SELECT lms_course_id, xmin::text, ctid::text FROM lms.courses ORDER BY 1")


def test_first_run_creates_every_course_in_the_group_catalogue(dags, profile, airflow_env, warehouse, sim):
    assert dags.run(DAY1) == "success"
    got = courses(warehouse)
    assert len(got) == 120
    group = airflow_env["target_group_id"]
    assert {c["group_id"] for c in got.values()} == {group}
    catalogue = warehouse.rows(
        "SELECT lms_course_id, in_catalogue, in_library FROM lms.group_catalogue WHERE group_id = %s", (group,)
    )
    assert sorted(r[0] for r in catalogue) == sorted(c["lms_course_id"] for c in got.values())
    assert all(r[1] and r[2] for r in catalogue)
    # Status rules: every kept status is active, every other one archived for that reason.
    for c in got.values():
        if c["provider_status"] in profile.kept:
            assert c["archive_reasons"] == [] and c["is_active"]
        else:
            assert c["archive_reasons"] == ["provider_status"] and not c["is_active"]
    assert {c["provider_status"] for c in got.values()} >= {
        profile.status(s) for s in (*WORLD_KEPT, "archived", "draft")
    }
    run = warehouse.rows(
        "SELECT status, courses_seen, courses_created, interval_start, interval_end FROM ops.sync_runs"
    )
    assert run == [
        ("success", 120, 120, dt.datetime(2026, 11, 2, tzinfo=dt.UTC), dt.datetime(2026, 11, 3, tzinfo=dt.UTC))
    ]


def test_durations_are_minutes(dags, profile, airflow_env, warehouse, sim):
    cid = next(iter(courses_of(sim)))
    change_course(sim, cid, duration="PT12H30M")
    dags.run(DAY1)
    assert courses(warehouse)[cid]["duration_minutes"] == 750


def courses_of(sim) -> dict[str, dict]:
    return world_courses(sim)


def test_second_run_without_provider_change_writes_nothing(dags, after_day_one, profile, airflow_env, warehouse, sim):
    before = physical_rows(warehouse)
    catalogue_before = warehouse.rows("SELECT group_id, lms_course_id, xmin::text FROM lms.group_catalogue ORDER BY 2")
    assert dags.run(DAY1 + dt.timedelta(days=1)) == "success"
    assert physical_rows(warehouse) == before
    assert (
        warehouse.rows("SELECT group_id, lms_course_id, xmin::text FROM lms.group_catalogue ORDER BY 2")
        == catalogue_before
    )
    second = warehouse.rows(
        "SELECT courses_created, courses_updated, courses_archived, courses_unarchived FROM ops.sync_runs ORDER BY interval_start DESC LIMIT 1"
    )
    assert second == [(0, 0, 0, 0)]


def test_changed_provider_fields_are_updated_in_place(
    dags, after_day_one, profile, airflow_env, warehouse, sim, monkeypatch
):
    """... and only the changed course is checked again by the row rules, until the rules change."""
    cid, other = sorted(courses(warehouse))[:2]
    before = courses(warehouse)
    untouched = physical_rows(warehouse)
    change_course(sim, cid, title="Un titre tout neuf", description="Nouvelle description")
    dags.run(DAY1 + dt.timedelta(days=1))
    after = courses(warehouse)
    assert after[cid]["title"] == "Un titre tout neuf"
    assert after[cid]["lms_course_id"] == before[cid]["lms_course_id"]
    assert (
        warehouse.scalar("SELECT description FROM lms.courses WHERE provider_course_id = %s", (profile.course_id(cid),))
        == "Nouvelle description"
    )
    rewritten = [a for a, b in zip(physical_rows(warehouse), untouched, strict=True) if a != b]
    assert [r[0] for r in rewritten] == [before[cid]["lms_course_id"]]
    assert warehouse.scalar("SELECT courses_updated FROM ops.sync_runs ORDER BY interval_start DESC LIMIT 1") == 1
    assert after[other] == before[other]
    checked = warehouse.rows(
        """SELECT (counts -> 'validate_courses' ->> 'records')::int, (counts -> 'validate_courses' ->> 'unchanged')::int
           FROM ops.sync_runs ORDER BY interval_start"""
    )
    assert checked[0][1] == 0 and checked[1][1] == checked[1][0] - 1, checked

    # Other rules (launch URLs on another host only): every course is checked again, and now breaks them.
    monkeypatch.setenv(profile.var_env, json.dumps({**airflow_env, "url_hosts": ["elsewhere.example"]}))
    assert dags.run(DAY1 + dt.timedelta(days=2)) == "failed"
    status, error, unchanged = warehouse.rows(
        """SELECT status, error, counts -> 'validate_courses' ->> 'unchanged' FROM ops.sync_runs
           ORDER BY interval_start DESC LIMIT 1"""
    )[0]
    assert status == "failed" and "max_reject_share" in error and unchanged is None


@pytest.mark.parametrize("status", ["active", "coming-soon", "pre-registration"])
def test_kept_statuses_stay_active(dags, profile, airflow_env, warehouse, sim, status):
    cid = next(c for c, v in courses_of(sim).items() if v["status"] == "retired")
    change_course(sim, cid, status=status)
    dags.run(DAY1)
    assert courses(warehouse)[cid]["is_active"]


@pytest.mark.parametrize("status", ["archived", "retired", "some-new-status"])
def test_other_statuses_archive_then_return_when_active_again(
    dags, after_day_one, profile, airflow_env, warehouse, sim, status
):
    cid = next(c for c, v in courses(warehouse).items() if v["is_active"])
    change_course(sim, cid, status=status)
    dags.run(DAY1 + dt.timedelta(days=1))
    assert courses(warehouse)[cid]["archive_reasons"] == ["provider_status"]
    change_course(sim, cid, status="active")
    dags.run(DAY1 + dt.timedelta(days=2))
    assert courses(warehouse)[cid]["is_active"]
    assert warehouse.scalar("SELECT courses_unarchived FROM ops.sync_runs ORDER BY interval_start DESC LIMIT 1") == 1


def test_removed_course_is_archived_and_comes_back_with_its_id_tags_and_catalogue_entry(
    dags, after_day_one, profile, airflow_env, warehouse, sim
):
    cid, before = next((c, v) for c, v in courses(warehouse).items() if v["is_active"])
    warehouse.execute(
        "INSERT INTO lms.course_tags (lms_course_id, tag) VALUES (%s, 'onboarding')", (before["lms_course_id"],)
    )
    removed = courses_of(sim)[cid]
    remove_course(sim, cid)
    dags.run(DAY1 + dt.timedelta(days=1))
    gone = courses(warehouse)[cid]
    if not profile.removed_archives:
        # A provider that retires courses through their status: an unlisted course stays as it was.
        assert gone == before
        return
    assert gone["archive_reasons"] == ["removed_by_provider"]
    assert not gone["is_active"]
    add_course(sim, **removed)
    dags.run(DAY1 + dt.timedelta(days=2))
    back = courses(warehouse)[cid]
    assert back["is_active"]
    assert back["lms_course_id"] == before["lms_course_id"]
    assert warehouse.rows("SELECT tag FROM lms.course_tags WHERE lms_course_id = %s", (back["lms_course_id"],)) == [
        ("onboarding",)
    ]
    assert (
        warehouse.scalar("SELECT count(*) FROM lms.group_catalogue WHERE lms_course_id = %s", (back["lms_course_id"],))
        == 1
    )


def test_removed_course_keeps_its_status_reason(dags, after_day_one, profile, airflow_env, warehouse, sim):
    cid = next(c for c, v in courses(warehouse).items() if v["archive_reasons"] == ["provider_status"])
    remove_course(sim, cid)
    dags.run(DAY1 + dt.timedelta(days=1))
    expected = ["provider_status", "removed_by_provider"] if profile.removed_archives else ["provider_status"]
    assert courses(warehouse)[cid]["archive_reasons"] == expected


def test_tags_survive_every_sync(dags, after_day_one, profile, airflow_env, warehouse, sim, monkeypatch):
    ids = [v["lms_course_id"] for v in courses(warehouse).values()][:10]
    for i in ids:
        warehouse.execute(
            "INSERT INTO lms.course_tags (lms_course_id, tag) VALUES (%s, 'mandatory'), (%s, 'q4')", (i, i)
        )
    tags = warehouse.rows("SELECT lms_course_id, tag, created_at FROM lms.course_tags ORDER BY 1, 2")
    for cid in list(courses(warehouse))[:5]:
        change_course(sim, cid, title=f"changed {cid}", status="retired")
    dags.run(DAY1 + dt.timedelta(days=1))
    set_languages(monkeypatch, profile, airflow_env, ["de"])
    dags.run(DAY1 + dt.timedelta(days=2))
    assert warehouse.rows("SELECT lms_course_id, tag, created_at FROM lms.course_tags ORDER BY 1, 2") == tags


def test_language_filter_archives_non_matching_courses_with_or_logic(
    dags, profile, airflow_env, warehouse, sim, monkeypatch
):
    set_languages(monkeypatch, profile, airflow_env, ["FR", "fr"])  # normalised: lower case, no duplicates
    dags.run(DAY1)
    got = courses(warehouse)
    for c in got.values():
        assert ("language_filter" in c["archive_reasons"]) == (c["language"] != "fr")
    set_languages(monkeypatch, profile, airflow_env, ["fr", "en"])
    dags.run(DAY1 + dt.timedelta(days=1))
    got = courses(warehouse)
    for c in got.values():
        assert ("language_filter" in c["archive_reasons"]) == (c["language"] not in ("fr", "en"))
        assert c["is_active"] == (c["language"] in ("fr", "en") and c["provider_status"] in profile.kept)
    set_languages(monkeypatch, profile, airflow_env, [])
    dags.run(DAY1 + dt.timedelta(days=2))
    got = courses(warehouse)
    assert all("language_filter" not in c["archive_reasons"] for c in got.values())
    assert all(c["is_active"] == (c["provider_status"] in profile.kept) for c in got.values())
    languages = collections.Counter(c["language"] for c in got.values())
    assert len(languages) >= 4


def test_lms_role_can_tag_but_cannot_edit_provider_fields(dags, after_day_one, profile, airflow_env, warehouse, sim):
    course_id = warehouse.scalar("SELECT min(lms_course_id) FROM lms.courses")
    with warehouse.connect() as conn:
        conn.execute("SET ROLE lms_app")
        conn.execute("INSERT INTO lms.course_tags (lms_course_id, tag) VALUES (%s, 'sales')", (course_id,))
        conn.execute("DELETE FROM lms.course_tags WHERE lms_course_id = %s AND tag = 'sales'", (course_id,))
        assert conn.execute("SELECT count(*) FROM lms.courses").fetchone()[0] == 120
        conn.commit()
        for column in ("title", "description"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"UPDATE lms.courses SET {column} = 'hacked' WHERE lms_course_id = %s", (course_id,))
            conn.rollback()
            conn.execute("SET ROLE lms_app")
    assert warehouse.scalar("SELECT count(*) FROM lms.courses WHERE title = 'hacked' OR description = 'hacked'") == 0


def test_catalogue_search_is_language_aware(dags, after_day_one, profile, airflow_env, warehouse, sim):
    # French stemming: "apprendre" finds "Apprenez ...".
    hits = warehouse.rows("SELECT title, language FROM lms.search_courses('apprendre', NULL, true)")
    assert hits
    assert all(lang == "fr" for _, lang in hits)
    assert (
        warehouse.scalar(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'courses' AND indexdef LIKE '%gin (search_vector)%'"
        )
        == 1
    )


def test_malformed_course_records_are_quarantined_and_do_not_archive(
    dags, profile, airflow_env, warehouse, sim, monkeypatch
):
    from tests.builders import set_faults

    monkeypatch.setenv(profile.var_env, json.dumps({**airflow_env, "max_reject_share": 0.3}))
    dags.run(DAY1)
    before = courses(warehouse)
    set_faults(sim, malformed_share=0.1)
    assert dags.run(DAY1 + dt.timedelta(days=1)) == "success"
    rejected = warehouse.rows("SELECT reason, record FROM ops.rejected_records WHERE entity = 'course'")
    assert {r[0] for r in rejected} == {"missing_id", "invalid_language", "invalid_duration"}
    # A course whose record was malformed today is neither changed nor treated as removed.
    assert courses(warehouse) == before


def test_reject_share_above_the_threshold_fails_before_any_change(
    dags, after_day_one, profile, airflow_env, warehouse, sim
):
    from tests.builders import set_faults

    before = physical_rows(warehouse)
    set_faults(sim, malformed_share=0.2)
    assert dags.run(DAY1 + dt.timedelta(days=1)) == "failed"
    assert physical_rows(warehouse) == before
    status, error = warehouse.rows("SELECT status, error FROM ops.sync_runs ORDER BY interval_start DESC LIMIT 1")[0]
    assert status == "failed"
    assert "max_reject_share" in error


def test_a_rerun_refused_at_config_shows_that_try_only_and_names_the_unknown_key(dags, airflow_env, warehouse, sim):
    """A re-run of a day is the same run (one ops.sync_runs row); failing at its first task, its row holds
    that try's start and error, none of the previous try's counts or step timings. A misspelt conf key
    is refused in one line naming it and the accepted ones, before anything is read or written."""
    assert dags.run(DAY1) == "success"
    (first,) = warehouse.rows("SELECT run_id, started_at, courses_seen FROM ops.sync_runs")
    assert first[2] > 0
    before = physical_rows(warehouse)
    assert dags.run(DAY1, dryrun=True) == "failed"
    rows = warehouse.rows(
        "SELECT run_id, status, started_at, error, counts, step_seconds, courses_seen, activity_records, settings "
        "FROM ops.sync_runs"
    )
    assert len(rows) == 1, rows
    run_id, status, started, error, counts, steps, seen, records, settings = rows[0]
    assert (run_id, status) == (first[0], "failed") and started > first[1]
    assert error == (
        "config: AirflowFailException: unknown key in the run's conf: 'dryrun'; "
        "accepted: approve_healing, delete_unreported_rows, initial_load_days, override_mass_archive"
    )
    assert (counts, steps, seen, records, settings) == ({}, {}, None, None, None)
    assert physical_rows(warehouse) == before
