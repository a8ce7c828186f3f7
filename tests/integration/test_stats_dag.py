"""Learning statistics through Airflow: matching, time spent, privacy, replay in any order."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest
import requests

from lms_connectors import providers
from tests.builders import (
    PROVIDERS,
    add_activity,
    change_course,
    connector_env,
    run_day,
    run_outside_airflow,
    world_courses,
)

pytestmark = pytest.mark.integration
DAY = dt.date(2026, 11, 4)


def lms_seed(sim) -> dict:
    return requests.get(f"{sim.url}/_sim/lms-seed", timeout=30).json()


def learner_emails(sim) -> list[str]:
    return sorted(u["email"] for u in lms_seed(sim)["users"] if u["user_id"].startswith("u-0"))


def at(day: dt.date, hour: int) -> str:
    return f"{day.isoformat()}T{hour:02d}:00:00Z"


def record(email: str, course_id: str, progress: float, day: dt.date = DAY, hour: int = 12) -> dict:
    return {
        "learner_email": email,
        "course_id": course_id,
        "progress": progress,
        "started_at": at(day, 8),
        "completed_at": at(day, hour) if progress == 100 else None,
        "updated_at": at(day, hour),
    }


def user_id(warehouse, email: str) -> str:
    return warehouse.scalar("SELECT user_id FROM lms.users WHERE lower(email) = lower(%s)", (email,))


def progress_of(warehouse, email: str, course_id: str, profile=None) -> list[tuple]:
    """(progress, time spent) of a learner on a world course, as the connector stored it."""
    provider_course_id = profile.course_id(course_id) if profile else course_id
    return warehouse.rows(
        """SELECT p.progress_pct, p.time_spent_minutes FROM stats.course_progress p
           JOIN lms.courses c USING (lms_course_id) JOIN lms.users u USING (user_id)
           WHERE lower(u.email) = lower(%s) AND c.provider_course_id = %s""",
        (email, provider_course_id),
    )


def daily_time_of(warehouse, email: str, provider_course_id: str) -> list[tuple]:
    """(day, time viewed that day, time spent up to it) of a learner on a course."""
    return [
        (day, float(viewed), float(spent))
        for day, viewed, spent in warehouse.rows(
            """SELECT d.activity_date, d.time_viewed_minutes, d.time_spent_minutes
               FROM stats.course_progress_daily d JOIN lms.courses c USING (lms_course_id) JOIN lms.users u USING (user_id)
               WHERE lower(u.email) = lower(%s) AND c.provider_course_id = %s ORDER BY 1""",
            (email, provider_course_id),
        )
    ]


def test_time_spent_is_duration_times_progress(dagbag, airflow_env, warehouse, sim):
    """OpenClassrooms reports no time: time spent is the course's theoretical duration x progress."""
    ids = sorted(_course_ids(sim))
    long_course, short_course = ids[0], ids[1]
    change_course(sim, long_course, duration="PT12H30M")
    change_course(sim, short_course, duration="PT45M")
    a, b, c_, d = learner_emails(sim)[:4]
    add_activity(
        sim,
        [
            record(a, long_course, 0),
            record(b, long_course, 40),
            record(c_, long_course, 100),
            record(d, short_course, 50),
            record(a, short_course, 33.4),
        ],
    )
    assert run_day(dagbag, DAY) == "success"
    assert progress_of(warehouse, a, long_course) == [(0, 0)]
    assert progress_of(warehouse, b, long_course) == [(40, 300)]
    assert progress_of(warehouse, c_, long_course) == [(100, 750)]
    assert progress_of(warehouse, d, short_course) == [(50, 22.5)]
    assert [(float(p), float(t)) for p, t in progress_of(warehouse, a, short_course)] == [(33.4, 15.03)]


# Days after the seeded world's activity (1-12 November): only a test's own records are reported.
QUIET_DAYS = [dt.date(2026, 11, 20), dt.date(2026, 11, 21), dt.date(2026, 11, 22)]


@pytest.mark.parametrize("provider_name", ["linkedin_learning"])
def test_measured_time_spent_is_the_sum_of_the_days_viewed(dags, profile, airflow_env, warehouse, sim):
    """LinkedIn Learning measures seconds viewed per day: time spent is their sum over the days the
    warehouse holds (in whatever order the days load), whatever the course's duration says."""
    course, other = sorted(_course_ids(sim))[:2]
    change_course(sim, course, duration="PT12H30M")
    a, b = learner_emails(sim)[:2]
    first, second, third = QUIET_DAYS
    add_activity(
        sim,
        [
            {**record(a, course, 30, first), "seconds_viewed": 1200},
            {**record(a, course, 45, first, hour=15), "seconds_viewed": 300},
            {**record(a, course, 100, third), "seconds_viewed": 1800},
            {**record(b, other, 10, second), "seconds_viewed": 90},
        ],
    )
    # The last day first: its cumulative time is corrected once the earlier day arrives.
    for day in (third, first, second):
        assert dags.run(day) == "success"
    assert progress_of(warehouse, a, course, profile) == [(100, 55)]
    assert progress_of(warehouse, b, other, profile) == [(10, 1.5)]
    assert daily_time_of(warehouse, a, profile.course_id(course)) == [(first, 25.0, 25.0), (third, 30.0, 55.0)]
    # A day replayed with nothing new changes nothing.
    before = daily_time_of(warehouse, a, profile.course_id(course))
    assert dags.run(first) == "success"
    assert daily_time_of(warehouse, a, profile.course_id(course)) == before
    assert progress_of(warehouse, a, course, profile) == [(100, 55)]


@pytest.mark.parametrize("provider_name", ["skillsoft_percipio"])
def test_reported_total_time_spent_is_the_providers_latest_total(dags, profile, airflow_env, warehouse, sim):
    """Skillsoft Percipio reports each learner's total time on a course up to the report's end: the
    warehouse keeps the newest report's total, in whatever order the days load, never a sum."""
    course, _ = sorted(_course_ids(sim))[:2]
    change_course(sim, course, duration="PT12H30M")
    a = learner_emails(sim)[0]
    first, second, third = QUIET_DAYS
    add_activity(
        sim,
        [
            {**record(a, course, 30, first), "seconds_viewed": 1200},
            {**record(a, course, 45, first, hour=15), "seconds_viewed": 300},
            {**record(a, course, 100, third), "seconds_viewed": 1800},
        ],
    )
    for day in (third, first, second):
        assert dags.run(day) == "success"
    # (1200 + 300 + 1800) s by the third day's report, whatever the course's duration says.
    assert progress_of(warehouse, a, course, profile) == [(100, 55)]
    by_day = warehouse.rows(
        """SELECT d.activity_date, d.time_spent_minutes FROM stats.course_progress_daily d
           JOIN lms.courses c USING (lms_course_id) JOIN lms.users u USING (user_id)
           WHERE lower(u.email) = lower(%s) AND c.provider_course_id = %s ORDER BY 1""",
        (a, profile.course_id(course)),
    )
    assert [(day, float(minutes)) for day, minutes in by_day] == [(first, 25.0), (third, 55.0)]


def _course_ids(sim) -> list[str]:
    """The world's course ids (a provider's course id is derived from one: ``profile.course_id``)."""
    return list(world_courses(sim))


@pytest.mark.parametrize("provider_name", PROVIDERS)
def test_mixed_case_emails_match(dags, profile, airflow_env, warehouse, sim):
    email = learner_emails(sim)[5]
    course = _course_ids(sim)[3]
    add_activity(sim, [record(f"  {email.upper()} ", course, 60, hour=23)])
    assert dags.run(DAY) == "success"
    assert progress_of(warehouse, email, course, profile)[0][0] == 60


@pytest.mark.parametrize("provider_name", PROVIDERS)
def test_a_user_whose_email_changed_keeps_accumulating_and_a_shared_email_is_never_guessed(
    dags, profile, airflow_env, warehouse, sim
):
    """The LMS changes a user's email and keeps the old one in lms.user_emails (kind 'former'): the
    provider, still reporting the old address, goes on filling the same user's rows. An email that is
    two users' (one's former address is the other's secondary) matches neither: its records are
    quarantined as ambiguous_learner, and no row is written for either user."""
    emails, courses = learner_emails(sim), _course_ids(sim)
    moved, other, third = emails[7], emails[8], emails[9]
    moved_id, other_id, third_id = (user_id(warehouse, e) for e in (moved, other, third))
    add_activity(sim, [record(moved, courses[1], 40, hour=20)])
    assert dags.run(DAY) == "success"
    assert progress_of(warehouse, moved, courses[1], profile)[0][0] == 40
    with warehouse.connect() as conn:
        conn.execute("UPDATE lms.users SET email = %s WHERE user_id = %s", (f"new.{moved}", moved_id))
        conn.execute("INSERT INTO lms.user_emails (user_id, email, kind) VALUES (%s, %s, 'former')", (moved_id, moved))
        shared = "Shared.Inbox@Team.example"
        conn.execute(
            "INSERT INTO lms.user_emails (user_id, email, kind) VALUES (%s, %s, 'former'), (%s, %s, 'secondary')",
            (other_id, shared, third_id, f" {shared.lower()} "),
        )
    later = DAY + dt.timedelta(days=1)
    add_activity(sim, [record(moved, courses[1], 70, later, 20), record(shared, courses[2], 50, later, 21)])
    assert dags.run(later) == "success"
    rows = warehouse.rows(
        """SELECT d.activity_date, d.progress_pct FROM stats.course_progress_daily d JOIN lms.courses c
           USING (lms_course_id) WHERE d.user_id = %s AND c.provider_course_id = %s ORDER BY 1""",
        (moved_id, profile.course_id(courses[1])),
    )
    assert [(day, float(pct)) for day, pct in rows] == [(DAY, 40.0), (later, 70.0)]
    assert (
        warehouse.scalar(
            "SELECT count(*) FROM stats.course_progress WHERE user_id = ANY(%s) AND lms_course_id IN "
            "(SELECT lms_course_id FROM lms.courses WHERE provider_course_id = %s)",
            ([other_id, third_id], profile.course_id(courses[2])),
        )
        == 0
    )
    rejected = warehouse.rows(
        "SELECT reason, detail FROM ops.rejected_records WHERE entity = 'progress' AND reason = 'ambiguous_learner'"
    )
    assert rejected == [("ambiguous_learner", "the learner's email is that of 2 LMS users")]
    # The quarantined record holds the learner's hash, never the email.
    quarantined = "\n".join(r[0] for r in warehouse.rows("SELECT t::text FROM ops.rejected_records t"))
    assert "shared.inbox" not in quarantined.lower()


@pytest.mark.parametrize("provider_name", PROVIDERS)
def test_a_learner_is_matched_by_the_strongest_identity_their_records_carry(
    dags, profile, provider_name, airflow_env, warehouse, sim
):
    """The LMS declares an id for a user (``lms.user_identities``, the kind the provider's contract
    says its records carry). A record with that id is the user's whatever its email says: another
    address, another user's, none. An id that is two users' is never guessed. A provider whose records
    carry no id (OpenClassrooms) matches on emails alone. No id is stored in clear."""
    provider = providers.get(provider_name)
    kind, issuer = provider.learner_id_kind, provider.identity_issuer
    emails, courses = learner_emails(sim), _course_ids(sim)
    owner, other, twin_a, twin_b = (user_id(warehouse, e) for e in emails[10:14])
    owner_id, shared_id = "Emp-0042", "emp-shared"
    with warehouse.connect() as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO lms.user_identities (user_id, kind, issuer, value) VALUES (%s, %s, %s, %s)",
            [
                (u, kind or "provider_account", issuer if kind else "linkedin_learning", v)
                for u, v in ((owner, owner_id), (twin_a, shared_id), (twin_b, shared_id))
            ],
        )
    personal = "Personal.Address@Elsewhere.example"
    # Late in the day: each is its learner and course's latest record, whatever the world seeded.
    add_activity(
        sim,
        [
            {**record(personal, courses[1], 30, hour=20), "learner_id": owner_id},
            {**record(emails[11], courses[2], 40, hour=21), "learner_id": f" {owner_id} "},
            {**record(emails[12], courses[3], 50, hour=22), "learner_id": shared_id},
            # The same id in another case is another learner: ids are compared exactly.
            {**record(emails[11], courses[4], 60, hour=23), "learner_id": owner_id.lower()},
        ],
    )
    assert dags.run(DAY) == "success"
    rows = warehouse.rows(
        """SELECT p.user_id, c.provider_course_id, p.progress_pct FROM stats.course_progress p
           JOIN lms.courses c USING (lms_course_id)
           WHERE p.provider_updated_at >= %s::date + interval '20 hours' AND p.provider_updated_at < %s::date + 1""",
        (DAY, DAY),
    )
    ids = {n: profile.course_id(courses[n]) for n in (1, 2, 3, 4)}
    # Of these learners and courses: the world's own late records of others stay out of the way.
    ours = {owner, other, twin_a, twin_b}
    landed = {(u, c): float(pct) for u, c, pct in rows if u in ours and c in ids.values()}
    ambiguous = warehouse.rows(
        "SELECT detail FROM ops.rejected_records WHERE entity = 'progress' AND reason = 'ambiguous_learner'"
    )
    if kind is None:
        # Emails alone: the personal address is no user's, the others are their own.
        assert landed == {(other, ids[2]): 40, (twin_a, ids[3]): 50, (other, ids[4]): 60}
        assert ambiguous == []
    else:
        assert landed == {(owner, ids[1]): 30, (owner, ids[2]): 40, (other, ids[4]): 60}
        assert ambiguous == [("the learner's id is that of 2 LMS users",)]
    stored = _everything_as_text(warehouse, schemas=("stats", "ops", "staging"))
    assert owner_id.lower() not in stored.lower() and shared_id not in stored


@pytest.mark.parametrize("provider_name", PROVIDERS)
def test_unmatched_learners_are_counted_not_stored(dags, airflow_env, warehouse, sim):
    course = _course_ids(sim)[0]
    strangers = ["Not.In.Lms@Elsewhere.example", "another.stranger@elsewhere.example"]
    add_activity(
        sim,
        [
            record(strangers[0], course, 10),
            record(strangers[0].lower(), course, 20, hour=13),
            record(strangers[1], course, 30),
        ],
    )
    assert dags.run(DAY) == "success"
    unmatched = warehouse.scalar("SELECT unmatched_learners FROM ops.sync_runs ORDER BY interval_start DESC LIMIT 1")
    # The seeded scenario has its own non-LMS learners; ours add exactly two distinct ones.
    seeded = _seeded_unmatched(sim)
    assert unmatched == seeded + 2
    assert warehouse.scalar("SELECT count(*) FROM ops.unmatched_learners") == seeded + 2
    dump = _everything_as_text(warehouse)
    for email in strangers:
        assert email.lower() not in dump.lower()
    non_lms = [e for e in _all_provider_emails(sim) if e not in {u["email"] for u in lms_seed(sim)["users"]}]
    assert non_lms
    assert not any(e in dump.lower() for e in non_lms)


def _seeded_unmatched(sim) -> int:
    from simulator import data

    cfg = data.SimConfig(seed=7, courses=120, learners=300, start_date=dt.date(2026, 11, 1), days=12)
    learners = data.build_learners(cfg)
    act = data.build_activity(cfg, learners, [c["id"] for c in data.build_courses(cfg)])
    day_start = int(dt.datetime.combine(DAY, dt.time(), dt.UTC).timestamp())
    mask = (act.updated >= day_start) & (act.updated < day_start + 86_400)
    return len({int(i) for i in act.learner[mask] if not learners.in_lms[i]})


def _all_provider_emails(sim) -> list[str]:
    from simulator import data

    cfg = data.SimConfig(seed=7, courses=120, learners=300, start_date=dt.date(2026, 11, 1), days=12)
    return data.build_learners(cfg).emails


def _everything_as_text(warehouse, schemas: tuple[str, ...] = ("lms", "stats", "ops", "staging")) -> str:
    tables = warehouse.rows(
        """SELECT table_schema, table_name FROM information_schema.tables
           WHERE table_schema = ANY(%s) AND table_type = 'BASE TABLE'""",
        (list(schemas),),
    )
    parts = []
    for schema, table in tables:
        parts += [r[0] for r in warehouse.rows(f'SELECT t::text FROM "{schema}"."{table}" t')]
    return "\n".join(parts)


@pytest.mark.parametrize("provider_name", PROVIDERS)
def test_unknown_course_and_bad_progress_are_rejected_with_their_reason(
    dags, profile, airflow_env, warehouse, sim, monkeypatch
):
    monkeypatch.setenv(profile.var_env, json.dumps({**airflow_env, "max_reject_share": 0.5}))
    email = learner_emails(sim)[0]
    course = _course_ids(sim)[0]
    add_activity(sim, [record(email, "999999999", 50), record(email, course, 140)])
    assert dags.run(DAY) == "success"
    rejects = warehouse.rows(
        "SELECT reason, record->>'course_id', record::text ILIKE %s FROM ops.rejected_records WHERE entity = 'progress'",
        (f"%{email}%",),
    )
    assert ("unknown_course", profile.course_id("999999999"), False) in rejects
    assert ("progress_out_of_range", profile.course_id(course), False) in rejects


@pytest.mark.parametrize("provider_name", PROVIDERS)
def test_a_field_off_the_allow_list_never_reaches_the_warehouse(
    dags, profile, airflow_env, warehouse, sim, monkeypatch
):
    """A personal field the connector does not need (a new one from OpenClassrooms, the learner's
    name LinkedIn always sends) is dropped at extract, for accepted and quarantined records alike."""
    monkeypatch.setenv(profile.var_env, json.dumps({**airflow_env, "max_reject_share": 0.5}))
    email = learner_emails(sim)[0]
    personal = {"learner_name": "Jeanne Secret-Name", "learner_phone": "+33 6 12 34 56 78"}
    course = _course_ids(sim)[0]
    other = _course_ids(sim)[1]
    add_activity(sim, [{**record(email, course, 50), **personal}, {**record(email, other, 140, hour=13), **personal}])
    assert dags.run(DAY) == "success"
    assert ("progress_out_of_range",) in warehouse.rows("SELECT reason FROM ops.rejected_records")
    everything = " ".join(
        str(r)
        for table in ("staging.raw_activity", "staging.progress", "ops.rejected_records", "stats.course_progress")
        for r in warehouse.rows(f"SELECT t::text FROM {table} t")
    )
    assert "Secret-Name" not in everything and "12 34 56" not in everything
    assert email.lower() not in everything.lower()


def test_analyst_role_reads_views_and_stats_only(dagbag, airflow_env, warehouse, sim):
    import psycopg

    run_day(dagbag, DAY)
    with warehouse.connect() as conn:
        conn.execute("SET ROLE lms_analyst")
        for view in ("v_course_engagement", "v_daily_activity", "v_learner_summary", "v_path_progress"):
            conn.execute(f"SELECT * FROM stats.{view} LIMIT 5").fetchall()
        assert conn.execute("SELECT count(*) FROM stats.course_progress").fetchone()[0] > 0
        assert conn.execute("SELECT count(*) FROM stats.course_progress_daily").fetchone()[0] > 0
        conn.commit()
        forbidden = [
            "SELECT * FROM staging.raw_activity",
            "SELECT * FROM ops.sync_runs",
            "SELECT * FROM lms.users",
            "DELETE FROM stats.course_progress",
            "UPDATE stats.course_progress_daily SET progress_pct = 0",
            "INSERT INTO stats.course_progress (lms_course_id, user_id, connector_id, progress_pct, time_spent_minutes, provider_updated_at) VALUES (1, 'x', 'x', 1, 1, now())",
        ]
        for statement in forbidden:
            conn.execute("SET ROLE lms_analyst")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
            conn.rollback()


def test_path_view_shows_who_may_continue_and_completed_steps(dagbag, airflow_env, warehouse, sim):
    emails = learner_emails(sim)[:2]
    course = _course_ids(sim)[0]
    add_activity(sim, [record(emails[0], course, 100, hour=23), record(emails[1], course, 35, hour=23)])
    run_day(dagbag, DAY)
    lms_id = warehouse.scalar("SELECT lms_course_id FROM lms.courses WHERE provider_course_id = %s", (course,))
    warehouse.execute("INSERT INTO lms.paths VALUES ('path-1', 'grp-openclassrooms', 'Data path')")
    warehouse.execute("INSERT INTO lms.path_steps VALUES ('path-1', 1, %s)", (lms_id,))
    rows = dict(
        (uid, (cont, done, connector))
        for uid, cont, done, connector in warehouse.rows(
            "SELECT user_id, may_continue, step_completed, connector_id FROM stats.v_path_progress "
            "WHERE path_id = 'path-1'"
        )
    )
    # Each step names its course's connector: a path may mix providers.
    assert rows[user_id(warehouse, emails[0])] == (True, True, "openclassrooms")
    assert rows[user_id(warehouse, emails[1])] == (True, False, "openclassrooms")


# --- replay in any order ------------------------------------------------------

# Six days keep every order distinct (in order, reversed, shuffled with repeats,
# gaps then backfill) at 27 DAG runs instead of 44 for ten days.
DAYS = [dt.date(2026, 11, 1) + dt.timedelta(days=i) for i in range(6)]
PROGRESS_DUMP = """SELECT c.provider_course_id, p.user_id, p.progress_pct, p.time_spent_minutes, p.started_at,
                          p.completed_at, p.provider_updated_at
                   FROM stats.course_progress p JOIN lms.courses c USING (lms_course_id) ORDER BY 1, 2"""
DAILY_DUMP = """SELECT d.activity_date, c.provider_course_id, d.user_id, d.progress_pct, d.time_spent_minutes,
                       d.started_at, d.completed_at, d.provider_updated_at
                FROM stats.course_progress_daily d JOIN lms.courses c USING (lms_course_id) ORDER BY 1, 2, 3"""


def _replay(profile, settings, monkeypatch, sim, warehouse, days) -> tuple[list, list]:
    # Through the pipeline's runner, as the DAG runs it (test_lifecycle.py): 27 runs a provider.
    for key, value in connector_env(sim, warehouse).items():
        monkeypatch.setenv(key, value)
    previous: dict[tuple, float] = {}
    for day in days:
        run_outside_airflow(profile, settings, day)
        start = dt.datetime.combine(day, dt.time(), dt.UTC)
        assert warehouse.scalar("SELECT status FROM ops.sync_runs WHERE interval_start = %s", (start,)) == "success"
        now = {(r[0], r[1]): r[2] for r in warehouse.rows(PROGRESS_DUMP)}
        regressions = [k for k, v in previous.items() if now.get(k, -1) < v]
        assert not regressions, f"progress went backwards after {day}: {regressions[:3]}"
        previous = now
    return warehouse.rows(PROGRESS_DUMP), warehouse.rows(DAILY_DUMP)


@pytest.mark.parametrize("provider_name", PROVIDERS)
def test_replaying_days_in_any_order_gives_identical_stats(profile, airflow_env, make_warehouse, sim, monkeypatch):
    """Progress (newest record wins) and time spent (theoretical, or summed from the days viewed)
    come out the same whatever order the days load in."""

    def replay(days: list[dt.date]) -> tuple[list, list]:
        return _replay(profile, airflow_env, monkeypatch, sim, make_warehouse(), days)

    in_order = replay(DAYS)
    assert len(in_order[0]) > 100
    assert len({r[0] for r in in_order[1]}) == len(DAYS)
    assert replay(list(reversed(DAYS))) == in_order
    shuffled_days = DAYS + random.Random(3).sample(DAYS, 3)
    random.Random(5).shuffle(shuffled_days)
    assert replay(shuffled_days) == in_order
    skipped = DAYS[::3]
    backfilled = [d for d in DAYS if d not in skipped]
    assert replay(skipped + backfilled) == in_order


# --- a provider that keeps only each learner's latest state ---------------------

HISTORY_DAYS = [dt.date(2026, 11, 2) + dt.timedelta(days=i) for i in range(4)]


def _end_of(day: dt.date) -> str:
    return f"{(day + dt.timedelta(days=1)).isoformat()}T00:00:00Z"


def _run(dagbag, day: dt.date, **conf) -> str:
    return run_day(dagbag, day, **{"delete_unreported_rows": False, **conf})


def test_replaying_an_old_day_against_a_latest_state_provider_keeps_the_history(dagbag, airflow_env, warehouse, sim):
    from tests.builders import set_history

    # On time: each day runs when it ends, and the provider's latest states are that day's last records.
    for day in HISTORY_DAYS:
        set_history(sim, "latest", _end_of(day))
        assert _run(dagbag, day) == "success"
    first = HISTORY_DAYS[0]
    observed = warehouse.rows(
        f"{DAILY_DUMP.split('ORDER BY')[0]} WHERE d.activity_date = %s ORDER BY 1, 2, 3", (first,)
    )
    current_before = warehouse.rows(PROGRESS_DUMP)
    assert len(observed) > 20

    # Later, the same day holds only the learners nobody updated since: the replay sees fewer records.
    set_history(sim, "latest", _end_of(HISTORY_DAYS[-1]))
    assert _run(dagbag, first) == "success"
    replayed = warehouse.rows(
        "SELECT activity_records, counts -> 'load_progress' FROM ops.sync_runs ORDER BY started_at DESC LIMIT 1"
    )[0]
    assert replayed[1]["daily_rows_unreported"] > 0
    assert replayed[0] + replayed[1]["daily_rows_unreported"] >= len(observed)
    after = warehouse.rows(f"{DAILY_DUMP.split('ORDER BY')[0]} WHERE d.activity_date = %s ORDER BY 1, 2, 3", (first,))
    assert after == observed
    assert warehouse.rows(PROGRESS_DUMP) == current_before

    # Asked to delete what it no longer sees, the replay refuses (far above max_replay_delete_share) and says why.
    assert _run(dagbag, first, delete_unreported_rows=True) == "failed"
    status, error, flagged = warehouse.rows(
        "SELECT status, error, delete_unreported FROM ops.sync_runs ORDER BY started_at DESC LIMIT 1"
    )[0]
    assert status == "failed" and "max_replay_delete_share" in error and "nothing was changed" in error
    assert flagged is True
    assert (
        warehouse.rows(f"{DAILY_DUMP.split('ORDER BY')[0]} WHERE d.activity_date = %s ORDER BY 1, 2, 3", (first,))
        == observed
    )
