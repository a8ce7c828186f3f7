"""A learner's whole history, for every provider. Recognised late: the days they went unrecognised
are read again for them alone, and the tables then equal those of a world where they had been an LMS
user from their first day. Two accounts merged by the LMS: one history, that of a world where the
retired account's address had been the survivor's from the start."""

from __future__ import annotations

import datetime as dt

import pytest

from devstack.postgres import HEALTH_LOGIN
from lms_connectors import providers
from tests.builders import PROVIDERS, TEST_KEY, add_activity, connector_env, steps_outside_airflow, world_courses

pytestmark = pytest.mark.integration
# After the seeded world's activity: only this test's records are reported on these days.
DAYS = [dt.date(2026, 11, 19), dt.date(2026, 11, 20), dt.date(2026, 11, 21), dt.date(2026, 11, 22)]
LATE = "Late.Joiner@Elsewhere.example"
LATE_ID = "u-late"
# By the provider's course id: two warehouses number their courses alike only by chance.
STATS = {
    "progress": """SELECT c.provider_course_id, p.user_id, p.progress_pct, p.time_spent_minutes, p.started_at,
                          p.completed_at, p.provider_updated_at
                   FROM stats.course_progress p JOIN lms.courses c USING (lms_course_id) ORDER BY 1, 2""",
    "daily": """SELECT d.activity_date, c.provider_course_id, d.user_id, d.progress_pct, d.time_spent_minutes,
                       d.time_viewed_minutes, d.completed_at, d.provider_updated_at
                FROM stats.course_progress_daily d JOIN lms.courses c USING (lms_course_id) ORDER BY 1, 2, 3""",
    "unmatched": "SELECT connector_id, learner_hash, seen_on FROM ops.unmatched_learners ORDER BY 1, 2",
}
ROWS = "SELECT user_id, lms_course_id, activity_date, xmin::text FROM stats.course_progress_daily"


def activity(course: str, progress: float, day: dt.date, hour: int, seconds: int) -> dict:
    stamp = f"{day.isoformat()}T{hour:02d}:00:00Z"
    return {
        "learner_email": LATE,
        "course_id": course,
        "progress": progress,
        "started_at": f"{DAYS[0].isoformat()}T08:00:00Z",
        "completed_at": stamp if progress == 100 else None,
        "updated_at": stamp,
        "seconds_viewed": seconds,
    }


def add_user(warehouse) -> None:
    with warehouse.connect() as conn:
        conn.execute("INSERT INTO lms.users (user_id, email, name) VALUES (%s, %s, 'Late Joiner')", (LATE_ID, LATE))


def tables(warehouse) -> dict[str, list[tuple]]:
    return {name: warehouse.rows(sql) for name, sql in STATS.items()}


def run(profile, settings: dict, day: dt.date, **request) -> dict:
    """The day run by the pipeline's own runner; the counts of its healing step."""
    return steps_outside_airflow(profile, settings, day, **request)["heal_learners"]


@pytest.mark.parametrize("provider_name", PROVIDERS)
def test_a_learner_recognised_late_gets_their_whole_history_and_nobody_else_is_rewritten(
    profile, airflow_env, warehouse, make_warehouse, sim, monkeypatch
):
    courses = sorted(world_courses(sim))[:2]
    add_activity(
        sim,
        [
            activity(courses[0], 10, DAYS[0], 10, 600),
            activity(courses[0], 30, DAYS[1], 11, 900),
            activity(courses[1], 20, DAYS[1], 12, 300),
            activity(courses[1], 50, DAYS[2], 9, 420),
            activity(courses[0], 60, DAYS[3], 13, 1200),
        ],
    )
    # The world where they were an LMS user from their first day.
    reference = make_warehouse()
    add_user(reference)
    for key, value in connector_env(sim, reference).items():
        monkeypatch.setenv(key, value)
    for day in DAYS:
        assert run(profile, airflow_env, day) == {"healed_learners": 0, "days_read": 0}
    expected = tables(reference)
    assert any(LATE_ID in row for row in expected["daily"])
    for key, value in connector_env(sim, warehouse).items():
        monkeypatch.setenv(key, value)

    # Unrecognised for two days on time (the third day's run is missed), then the LMS creates their account.
    for day in DAYS[:2]:
        assert run(profile, airflow_env, day) == {"healed_learners": 0, "days_read": 0}
    add_user(warehouse)
    others = warehouse.rows(ROWS)
    # Above the settings' bound the healing waits, reported, until a run approves it.
    bounded = {**airflow_env, "heal_max_days": 1}
    assert run(profile, bounded, DAYS[3]) == {
        "healed_learners": 0,
        "days_read": 0,
        "pending_learners": 1,
        "pending_days": 2,
    }
    assert [r for r in tables(warehouse)["daily"] if r[2] == LATE_ID and r[0] < DAYS[3]] == []
    healed = run(profile, bounded, DAYS[3], approve_healing=True)
    assert healed["healed_learners"] == 1 and healed["days_read"] == 2 and healed["approved_beyond_bounds"] is True
    # Not one row of anyone else was written again (a row rewritten gets a new xmin).
    assert set(others) <= set(warehouse.rows(ROWS))

    # The missed day, run late, and a healed day replayed: the world where they were a user all along.
    assert run(profile, airflow_env, DAYS[2]) == {"healed_learners": 0, "days_read": 0}
    assert tables(warehouse) == expected
    assert run(profile, airflow_env, DAYS[1]) == {"healed_learners": 0, "days_read": 0}
    assert tables(warehouse) == expected
    # The health page counts them, from the run report's figures.
    from lms_connectors.health.app import connector_health

    with warehouse.connect(HEALTH_LOGIN) as conn:
        conn.read_only = True
        healed_figures = connector_health(conn, profile.provider, DAYS[3] + dt.timedelta(days=1))["healed_learners"]
    assert healed_figures == {"in_window": 1, "days_read": 2, "pending": 0}
    # The run report keeps the figures.
    assert (
        warehouse.scalar(
            """SELECT (counts -> 'heal_learners' ->> 'days_read')::int FROM ops.sync_runs
           WHERE (interval_start AT TIME ZONE 'UTC')::date = %s""",
            (DAYS[3],),
        )
        == 2
    )


def history(warehouse, user_id: str) -> dict[str, list[tuple]]:
    """A user's statistics rows, by the provider's course id (without the user id)."""
    return {
        name: [row[:2] + row[3:] if name == "daily" else row[:1] + row[2:] for row in rows if user_id in row]
        for name, rows in tables(warehouse).items()
        if name != "unmatched"
    }


@pytest.mark.parametrize("provider_name", PROVIDERS)
def test_two_accounts_merged_by_the_lms_have_one_history(
    profile, airflow_env, warehouse, make_warehouse, sim, monkeypatch
):
    """The LMS merges a retired account into a surviving one (``lms.user_merges``): the survivor's
    history is that of a world where the retired account's address had been theirs from the start;
    where both accounts hold a day of a course, the newer record wins, as two records of one day do."""
    retired, survivor = "Old.Account@Elsewhere.example", "New.Account@Elsewhere.example"
    third = "Third.Account@Elsewhere.example"
    c0, c1 = sorted(world_courses(sim))[:2]

    def record(email: str, course: str, progress: float, day: dt.date, hour: int, seconds: int) -> dict:
        return {**activity(course, progress, day, hour, seconds), "learner_email": email}

    add_activity(
        sim,
        [
            record(retired, c0, 10, DAYS[0], 10, 600),
            record(survivor, c1, 20, DAYS[0], 11, 300),
            record(survivor, c0, 5, DAYS[1], 9, 60),
            record(retired, c0, 30, DAYS[1], 15, 900),
            record(retired, c1, 40, DAYS[1], 12, 420),
            record(retired, c1, 70, DAYS[2], 13, 1200),
            record(third, c0, 15, DAYS[0], 8, 100),
        ],
    )
    reference = make_warehouse()
    with reference.connect() as conn:
        conn.execute("INSERT INTO lms.users (user_id, email, name) VALUES ('u-survivor', %s, 'S')", (survivor,))
        conn.execute("INSERT INTO lms.user_emails (user_id, email) VALUES ('u-survivor', %s)", (retired,))
    for key, value in connector_env(sim, reference).items():
        monkeypatch.setenv(key, value)
    for day in DAYS[:3]:
        run(profile, airflow_env, day)
    expected = history(reference, "u-survivor")
    assert expected["daily"]
    for key, value in connector_env(sim, warehouse).items():
        monkeypatch.setenv(key, value)

    with warehouse.connect() as conn:
        conn.execute(
            """INSERT INTO lms.users (user_id, email, name)
               VALUES ('u-retired', %s, 'R'), ('u-survivor', %s, 'S'), ('u-third', %s, 'T')""",
            (retired, survivor, third),
        )
    for day in DAYS[:2]:
        run(profile, airflow_env, day)
    assert history(warehouse, "u-retired")["daily"]
    # A merge into no LMS user is no merge: the account keeps its rows.
    kept = history(warehouse, "u-third")
    with warehouse.connect() as conn:
        conn.execute(
            """INSERT INTO lms.user_merges (retired_user_id, into_user_id)
               VALUES ('u-retired', 'u-survivor'), ('u-third', 'u-nobody')"""
        )
    run(profile, airflow_env, DAYS[2])
    assert kept["daily"] and history(warehouse, "u-third") == kept
    assert history(warehouse, "u-survivor") == expected
    assert history(warehouse, "u-retired") == {"progress": [], "daily": []}
    # One person for erasure and export too: the survivor names the retired account and its address.
    from lms_connectors.privacy import erasure

    with warehouse.connect() as conn:
        person = erasure.identify(conn, {}, TEST_KEY.encode(), ["u-survivor"])
    assert "u-retired" in person.user_ids and retired.lower() in person.emails
    # Once moved, the retired account can go, its address kept as the survivor's former one (as the
    # docs ask): nothing of the survivor goes with it, and a replay finds the same history.
    with warehouse.connect() as conn:
        conn.execute("DELETE FROM lms.users WHERE user_id = 'u-retired'")
        conn.execute(
            "INSERT INTO lms.user_emails (user_id, email, kind) VALUES ('u-survivor', %s, 'former')", (retired,)
        )
    run(profile, airflow_env, DAYS[1])
    assert history(warehouse, "u-survivor") == expected


@pytest.mark.parametrize("provider_name", [p for p in PROVIDERS if providers.get(p).learner_id_kind])
def test_a_learner_whose_id_is_two_users_is_not_healed_by_their_email(
    profile, airflow_env, warehouse, sim, monkeypatch
):
    """Healing matches as the transform does, the id first: a learner whose email is now one user's but
    whose id is two users' stays unmatched, as their records would be quarantined as ambiguous."""
    provider = providers.get(profile.provider)
    add_activity(sim, [{**activity(sorted(world_courses(sim))[0], 10, DAYS[0], 10, 600), "learner_id": "emp-late"}])
    for key, value in connector_env(sim, warehouse).items():
        monkeypatch.setenv(key, value)
    run(profile, airflow_env, DAYS[0])
    unmatched = tables(warehouse)["unmatched"]
    assert unmatched
    add_user(warehouse)
    with warehouse.connect() as conn:
        conn.execute(
            """INSERT INTO lms.users (user_id, email, name)
               VALUES ('u-a', 'a@elsewhere.example', 'A'), ('u-b', 'b@elsewhere.example', 'B')"""
        )
        conn.execute(
            """INSERT INTO lms.user_identities (user_id, kind, issuer, value)
               VALUES ('u-a', %s, %s, %s), ('u-b', %s, %s, %s)""",
            (provider.learner_id_kind, provider.identity_issuer, "emp-late") * 2,
        )
    assert run(profile, airflow_env, DAYS[1]) == {"healed_learners": 0, "days_read": 0}
    assert tables(warehouse)["unmatched"] == unmatched
