"""Erasure and export of a learner, through Airflow against the real warehouse and simulator.

Whether anything still identifies the learner is asked of the catalog: every
column of every table, view and materialized view the project owns, so a new
table holding learner data that erasure does not cover fails this test.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator

import pytest

from lms_connectors import providers
from lms_connectors.privacy import pseudonym
from tests.builders import PROVIDERS, TEST_KEY, add_activity, begin_run, world_courses

pytestmark = pytest.mark.integration
DAYS = [dt.date(2026, 11, 4), dt.date(2026, 11, 5)]
# LMS-owned: the LMS erases its own users; the project only reads these.
LMS_OWNED = (
    "lms.users",
    "lms.user_identities",
    "lms.user_merges",
    "lms.groups",
    "lms.group_members",
    "lms.course_tags",
    "lms.paths",
    "lms.path_steps",
)


def relations(warehouse) -> list[tuple[str, str]]:
    """Every (relation, column) of the schemas the project writes, from the catalog."""
    return [
        (f"{schema}.{rel}", col)
        for schema, rel, col in warehouse.rows(
            """SELECT n.nspname, c.relname, a.attname
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
               WHERE n.nspname IN ('staging', 'stats', 'ops', 'lms', 'xapi') AND c.relkind IN ('r', 'v', 'm', 'p')
               ORDER BY 1, 2, 3"""
        )
        if f"{schema}.{rel}" not in LMS_OWNED
    ]


def traces(warehouse, user_id: str, email: str, hashes: list[str]) -> dict[str, int]:
    """Rows per (relation.column) that still hold the user id, the email or one of the hashes."""
    found = {}
    for rel, col in relations(warehouse):
        n = warehouse.scalar(
            f"""SELECT count(*) FROM {rel} t
                WHERE t.{col}::text = %(uid)s OR t.{col}::text LIKE %(quoted)s
                   OR t.{col}::text ILIKE %(email)s OR t.{col}::text LIKE ANY(%(hashes)s)""",
            {"uid": user_id, "quoted": f'%"{user_id}"%', "email": f"%{email}%", "hashes": [f"%{h}%" for h in hashes]},
        )
        if n:
            found[f"{rel}.{col}"] = n
    return found


def busiest_learner(warehouse) -> tuple[str, str, list[str]]:
    user_id, email = warehouse.rows(
        """SELECT d.user_id, u.email FROM stats.course_progress_daily d JOIN lms.users u USING (user_id)
           GROUP BY 1, 2 ORDER BY count(*) DESC, 1 LIMIT 1"""
    )[0]
    hashes = [
        h
        for (h,) in warehouse.rows("SELECT DISTINCT learner_hash FROM staging.progress WHERE user_id = %s", (user_id,))
    ]
    # The hash under the pseudonymisation key as it was used before per-connector keys.
    hashes.append(hmac.new(TEST_KEY.encode(), email.strip().lower().encode(), hashlib.sha256).hexdigest())
    return user_id, email, hashes


def plant_old_traces(warehouse, connector_id: str, hashes: list[str]) -> None:
    """What older runs may have left: an unmatched-learner row and a rejected record under the old key;
    and a statement the provider pushed (the xAPI endpoint stores it under the learner's hash)."""
    with warehouse.connect() as conn:
        conn.execute(
            """INSERT INTO xapi.statements (statement_id, connector_id, digest, learner_hash, pseudonym_version, verb,
                                            activity_id, body)
               VALUES (gen_random_uuid(), %s, 'd', %s, 1, 'http://adlnet.gov/expapi/verbs/progressed',
                       'https://example.com/c', '{}')""",
            (connector_id, hashes[0]),
        )
        conn.execute(
            "INSERT INTO ops.unmatched_learners VALUES (%s, %s, 'old-run', '2026-10-01')", (connector_id, hashes[-1])
        )
        conn.execute(
            """INSERT INTO ops.rejected_records (run_id, connector_id, entity, reason, record)
               VALUES ('old-run', %s, 'progress', 'progress_out_of_range', %s::jsonb)""",
            (connector_id, json.dumps({"progress": 1000, "learner_hash": hashes[0]})),
        )


def activity_record(sim, email: str, day: dt.date) -> dict:
    """A record of ``email`` on the world's first course at noon of ``day``."""
    at = f"{day.isoformat()}T12:00:00Z"
    course = next(iter(world_courses(sim)))
    return {"learner_email": email, "course_id": course, "progress": 10, "started_at": at, "updated_at": at}


def erase(dagbag, **conf):
    dag = dagbag.get_dag("lms_connectors_erase_learners")
    return dag.test(run_conf={"user_ids": [], "emails": [], "dry_run": True, **conf}).state


def declare_ids_as_sso(warehouse, provider) -> None:
    """The LMS declares each learner's id as the provider knows it (the simulators give LMS learners
    their LMS user id), as an LMS whose single sign-on feeds the provider would."""
    with warehouse.connect() as conn:
        conn.execute(
            """INSERT INTO lms.user_identities (user_id, kind, issuer, value)
               SELECT user_id, %s, %s, user_id FROM lms.users WHERE user_id LIKE 'u-0%%'""",
            (provider.learner_id_kind, provider.identity_issuer),
        )


def id_hashes(provider, user_id: str) -> list[str]:
    """The hash of the learner's id under the connector's key, where the provider's records carry one."""
    if provider.learner_id_kind is None:
        return []
    key = pseudonym.connector_key(TEST_KEY.encode(), provider.name, 1)
    return [pseudonym.identity_hash(key, provider.learner_id_kind, provider.identity_issuer, user_id)]


@pytest.mark.parametrize("provider_name", PROVIDERS)
def test_erasure_leaves_nothing_that_identifies_the_learner_and_no_replay_brings_them_back(
    dags, dagbag, profile, provider_name, airflow_env, warehouse, sim
):
    """... under their email and under their id where the provider's records carry one: a record with
    the erased learner's id and another email is dropped too (suppression wins over every identity)."""
    provider = providers.get(provider_name)
    if provider.learner_id_kind:
        declare_ids_as_sso(warehouse, provider)
    for day in DAYS:
        assert dags.run(day) == "success"
    user_id, email, hashes = busiest_learner(warehouse)
    hashes += id_hashes(provider, user_id)
    plant_old_traces(warehouse, profile.provider, hashes)
    before = traces(warehouse, user_id, email, hashes)
    assert {
        "stats.course_progress.user_id",
        "stats.course_progress_daily.user_id",
        "staging.progress.user_id",
        "staging.raw_activity.learner_hash",
        "ops.unmatched_learners.learner_hash",
        "ops.rejected_records.record",
        "xapi.statements.learner_hash",
    } <= set(before), before
    assert ("staging.raw_activity.identity_hash" in before) == bool(provider.learner_id_kind), before
    others = warehouse.scalar("SELECT count(*) FROM stats.course_progress_daily WHERE user_id <> %s", (user_id,))

    # A dry run counts and changes nothing.
    assert erase(dagbag, user_ids=[user_id], reason="DPO-1 dry") == "success"
    assert traces(warehouse, user_id, email, hashes) == before

    # By user id and by email (in another case), for real.
    assert erase(dagbag, user_ids=[user_id], emails=[email.upper()], reason="DPO-1", dry_run=False) == "success"
    assert traces(warehouse, user_id, email, hashes) == {}
    assert warehouse.scalar("SELECT count(*) FROM stats.course_progress_daily") == others
    assert warehouse.scalar("SELECT count(*) FROM ops.suppressed_learners WHERE reason = 'DPO-1'") == (
        2 if provider.learner_id_kind else 1
    )
    actor, details = warehouse.rows("SELECT actor, details FROM ops.audit_log WHERE action = 'erase_learners'")[0]
    assert actor == "dag_test" and details["reason"] == "DPO-1" and details["rows"]["stats.course_progress"] > 0
    assert email.lower() not in json.dumps(details).lower() and user_id not in json.dumps(details)

    # The simulator still reports them, and now under another address too: replays import nothing of
    # theirs, and say how many they dropped.
    add_activity(sim, [{**activity_record(sim, "another.address@elsewhere.example", DAYS[1]), "learner_id": user_id}])
    for day in reversed(DAYS):
        assert dags.run(day) == "success"
    assert traces(warehouse, user_id, email, hashes) == {}
    suppressed = warehouse.rows(
        """SELECT (counts -> 'extract_progress' ->> 'suppressed')::int FROM ops.sync_runs
           WHERE connector_id = %s ORDER BY started_at DESC LIMIT 2""",
        (profile.provider,),
    )
    # Exactly the records of theirs the first runs staged, one day after the other, and the one
    # under another address where their id gives them away (OpenClassrooms' records carry no id).
    added = 1 if provider.learner_id_kind else 0
    assert sum(n for (n,) in suppressed) == before["staging.raw_activity.learner_hash"] + added, suppressed


def test_a_learner_removed_from_the_lms_is_erased_at_the_next_run(dags, airflow_env, warehouse, sim):
    assert dags.run(DAYS[0]) == "success"
    user_id, _, _ = busiest_learner(warehouse)
    with warehouse.connect() as conn:
        conn.execute("DELETE FROM lms.group_members WHERE user_id = %s", (user_id,))
        conn.execute("DELETE FROM lms.users WHERE user_id = %s", (user_id,))
    assert dags.run(DAYS[1]) == "success"
    assert warehouse.scalar("SELECT count(*) FROM stats.course_progress WHERE user_id = %s", (user_id,)) == 0
    assert warehouse.scalar("SELECT count(*) FROM stats.course_progress_daily WHERE user_id = %s", (user_id,)) == 0
    entry = warehouse.rows("SELECT actor, details FROM ops.audit_log WHERE action = 'erase_removed_users'")
    assert entry and entry[0][0] == "system" and entry[0][1]["learners"] == 1


def test_export_holds_every_row_of_the_learner_and_nothing_of_others(
    dags, dagbag, airflow_env, warehouse, sim, tmp_path, monkeypatch
):
    assert dags.run(DAYS[0]) == "success"
    user_id, email, _ = busiest_learner(warehouse)
    # A former address the LMS keeps for them is theirs: listed, and enough to find them.
    former = f"old.{email}"
    with warehouse.connect() as conn:
        conn.execute("INSERT INTO lms.user_emails (user_id, email, kind) VALUES (%s, %s, 'former')", (user_id, former))
        conn.execute(
            "INSERT INTO lms.user_identities (user_id, kind, issuer, value) VALUES (%s, 'sso_subject', '', 'E-1')",
            (user_id,),
        )
    monkeypatch.setenv("LMS_EXPORT_DIR", str(tmp_path))
    dag = dagbag.get_dag("lms_connectors_export_learners")
    assert dag.test(run_conf={"user_ids": [], "emails": [former.upper()]}).state == "success"
    (path,) = tmp_path.glob("*.json")
    assert path.stat().st_mode & 0o777 == 0o600
    (data,) = json.loads(path.read_text()).values()
    tables = data["tables"]
    daily = warehouse.scalar("SELECT count(*) FROM stats.course_progress_daily WHERE user_id = %s", (user_id,))
    assert len(tables["stats.course_progress_daily"]) == daily > 0
    assert len(tables["stats.course_progress"]) == warehouse.scalar(
        "SELECT count(*) FROM stats.course_progress WHERE user_id = %s", (user_id,)
    )
    assert tables["lms.users"] == [{"user_id": user_id, "email": email}]
    assert tables["lms.user_emails"] == [{"user_id": user_id, "email": former, "kind": "former"}]
    assert tables["lms.user_identities"] == [{"user_id": user_id, "kind": "sso_subject", "issuer": "", "value": "E-1"}]
    rows = [row for rows in tables.values() for row in rows]
    assert all(row.get("user_id") in (None, user_id) for row in rows)
    assert warehouse.scalar("SELECT count(*) FROM ops.audit_log WHERE action = 'export_learners'") == 1


def unmatched_hashes(warehouse, connector_id: str) -> set[str]:
    return {
        h
        for (h,) in warehouse.rows(
            "SELECT learner_hash FROM ops.unmatched_learners WHERE connector_id = %s", (connector_id,)
        )
    }


def test_connectors_hash_the_same_learner_apart(dagbag, warehouse, simulators, monkeypatch):
    from tests.builders import connector_env

    for sim in simulators.values():
        for key, value in connector_env(sim, warehouse).items():
            monkeypatch.setenv(key, value)
    for name in PROVIDERS:
        assert (
            dagbag.get_dag(f"lms_connector_{name}")
            .test(logical_date=dt.datetime.combine(DAYS[0], dt.time(), dt.UTC))
            .state
            == "success"
        )
    # The same world: the same people are unmatched in each, under hashes that never match.
    hashes = [unmatched_hashes(warehouse, name) for name in PROVIDERS]
    assert all(hashes)
    for i, one in enumerate(hashes):
        for other in hashes[i + 1 :]:
            assert not one & other


def test_a_rotated_key_leaves_no_hash_under_the_old_one(dags, dagbag, profile, airflow_env, warehouse, sim):
    assert dags.run(DAYS[0]) == "success"
    old = unmatched_hashes(warehouse, profile.provider)
    matched = warehouse.scalar("SELECT count(DISTINCT user_id) FROM stats.course_progress")
    rotate = dagbag.get_dag("lms_connectors_rotate_key")
    conf = {"connector": profile.provider, "reason": "yearly"}
    assert rotate.test(run_conf={**conf, "dry_run": True}).state == "success"
    assert unmatched_hashes(warehouse, profile.provider) == old
    assert rotate.test(run_conf={**conf, "dry_run": False}).state == "success"
    assert unmatched_hashes(warehouse, profile.provider) == set()
    assert warehouse.scalar("SELECT count(*) FROM staging.raw_activity") == 0
    assert warehouse.scalar("SELECT count(*) FROM ops.rejected_records WHERE record ? 'learner_hash'") == 0
    assert warehouse.rows("SELECT version FROM ops.pseudonym_keys") == [(2,)]
    assert warehouse.scalar("SELECT count(*) FROM ops.audit_log WHERE action = 'rotate_key'") == 1

    # The next day hashes anew; LMS users still match (their hashes are computed each run).
    assert dags.run(DAYS[1]) == "success"
    new = unmatched_hashes(warehouse, profile.provider)
    assert new and not new & old
    assert warehouse.scalar("SELECT count(DISTINCT user_id) FROM stats.course_progress") >= matched


def test_the_cli_counts_then_erases(dags, airflow_env, warehouse, sim, capsys):
    from lms_connectors.privacy import commands as privacy

    assert dags.run(DAYS[0]) == "success"
    user_id, email, _ = busiest_learner(warehouse)
    rows = warehouse.scalar("SELECT count(*) FROM stats.course_progress WHERE user_id = %s", (user_id,))
    capsys.readouterr()  # what the day's run printed
    assert privacy.main(["erase", "--email", email, "--reason", "request 2026-118"]) == 0
    (counted,) = json.loads(capsys.readouterr().out).values()
    assert counted["dry_run"] is True and counted["rows"]["stats.course_progress"] == rows > 0
    assert warehouse.scalar("SELECT count(*) FROM stats.course_progress WHERE user_id = %s", (user_id,)) == rows
    assert privacy.main(["erase", "--email", email, "--reason", "request 2026-118", "--apply"]) == 0
    assert warehouse.scalar("SELECT count(*) FROM stats.course_progress WHERE user_id = %s", (user_id,)) == 0
    assert privacy.main(["erase", "--reason", "nobody"]) == 2
    assert "name at least one LMS user id or email" in capsys.readouterr().err


@contextlib.contextmanager
def step_held_before_commit(warehouse, run_key: str) -> Iterator[None]:
    """A step of ``run_key`` started meanwhile does its work and then waits, its transaction open,
    until the block ends: this session holds the run's ops.sync_runs row, which every step updates
    last, in the transaction of its work."""
    with warehouse.connect() as holder:
        holder.execute("SELECT 1 FROM ops.sync_runs WHERE run_id = %s FOR UPDATE", (run_key,))
        yield


def started(fn, *args) -> tuple[threading.Thread, list]:
    done: list = []
    thread = threading.Thread(target=lambda: done.append(fn(*args)), daemon=True)
    thread.start()
    return thread, done


def learner_rows(warehouse, user_id: str) -> int:
    return warehouse.scalar(
        """SELECT (SELECT count(*) FROM stats.course_progress WHERE user_id = %(u)s)
                + (SELECT count(*) FROM stats.course_progress_daily WHERE user_id = %(u)s)""",
        {"u": user_id},
    )


def erase_by_email(email: str) -> int:
    from lms_connectors.privacy import commands as privacy

    return privacy.main(["erase", "--email", email, "--reason", "request 2026-7", "--apply"])


def test_erasure_by_email_finds_an_lms_email_stored_with_spaces_and_capitals(dags, airflow_env, warehouse, sim, capsys):
    """The pipeline matches ' Jane.Doe@Example.COM ' trimmed and folded: so does erasure."""
    assert dags.run(DAYS[0]) == "success"
    user_id, email, _ = busiest_learner(warehouse)
    warehouse.execute("UPDATE lms.users SET email = %s WHERE user_id = %s", (f"  {email.upper()} ", user_id))
    assert learner_rows(warehouse, user_id) > 0
    assert erase_by_email(email.strip().lower()) == 0
    capsys.readouterr()
    assert learner_rows(warehouse, user_id) == 0


def test_an_erasure_waits_for_a_load_in_flight_which_cannot_bring_the_learner_back(
    dags, profile, airflow_env, warehouse, sim, capsys
):
    from lms_connectors.orchestration.steps import run_step
    from lms_connectors.pipeline import ACTIVITY

    assert dags.run(DAYS[0]) == "success"
    user_id, email, _ = busiest_learner(warehouse)
    spec, cfg = begin_run(profile, airflow_env, DAYS[1])
    for step in ACTIVITY.steps[:3]:
        run_step(spec, cfg, step)
    assert warehouse.scalar("SELECT count(*) FROM staging.progress WHERE user_id = %s", (user_id,)) > 0
    with step_held_before_commit(warehouse, cfg["run_key"]):
        load, _ = started(run_step, spec, cfg, ACTIVITY.load)
        time.sleep(2)  # the load has merged and waits to commit, the connector's lock held
        erasure, erased = started(erase_by_email, email)
        erasure.join(3)
        assert erasure.is_alive(), "the erasure did not wait for the load in flight"
    load.join(60)
    erasure.join(60)
    assert erased == [0]
    capsys.readouterr()
    assert learner_rows(warehouse, user_id) == 0


def test_a_learner_erased_while_their_records_were_staged_is_not_loaded(
    dags, profile, airflow_env, warehouse, sim, capsys
):
    """The extract read the suppression list before the erasure committed, and its records of the
    learner committed after the erasure's deletes: the load sees an erasure since, and the run
    extracts its day again (the records now dropped) before loading anything."""
    from lms_connectors.orchestration.steps import run_step
    from lms_connectors.pipeline import ACTIVITY

    assert dags.run(DAYS[0]) == "success"
    user_id, email, _ = busiest_learner(warehouse)
    spec, cfg = begin_run(profile, airflow_env, DAYS[1])
    with step_held_before_commit(warehouse, cfg["run_key"]):
        extract, _ = started(run_step, spec, cfg, ACTIVITY.extract)
        time.sleep(3)  # staged, waiting to commit
        assert erase_by_email(email) == 0
    extract.join(60)
    capsys.readouterr()
    assert warehouse.scalar("SELECT count(*) FROM staging.raw_activity WHERE run_id = %s", (cfg["run_key"],)) > 0
    for step in ACTIVITY.steps[1:]:
        run_step(spec, cfg, step)
    assert learner_rows(warehouse, user_id) == 0
    counts = warehouse.scalar("SELECT counts FROM ops.sync_runs WHERE run_id = %s", (cfg["run_key"],))
    assert counts["extract_progress"]["suppressed"] > 0, "the day was not extracted again"


def test_the_config_xcom_holds_no_author_email(dags, airflow_env, warehouse, sim):
    """The run's context travels through XCom without the author's email: the load reads it from the
    run's record in the warehouse (and the courses still get it)."""
    import sqlalchemy as sa
    from airflow.utils.session import create_session

    assert dags.run(DAYS[0]) == "success"
    author = airflow_env["author_email"]
    with create_session() as session:
        query = sa.text("SELECT CAST(value AS TEXT) FROM xcom WHERE task_id = 'config'")
        values = [v for (v,) in session.execute(query)]
    assert values and not any(author.lower() in str(v).lower() for v in values)
    assert warehouse.scalar("SELECT count(DISTINCT author_email) FROM lms.courses") == 1
    assert warehouse.scalar("SELECT min(author_email) FROM lms.courses") == author
