"""An admin looks a learner up among a connector's unmatched learners and attaches their email to an
LMS user (``lms_connectors_find_learner``), through Airflow, for every provider."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from devstack.demo import _xcom
from lms_connectors import providers
from tests.builders import PROVIDERS, add_activity, world_courses

pytestmark = pytest.mark.integration
# After the seeded world's activity: only this test's records are reported on these days.
DAYS = [dt.date(2026, 11, 20), dt.date(2026, 11, 21), dt.date(2026, 11, 22)]
STRANGER = "Personal.Address@Elsewhere.example"
# The id the stranger's records carry, where the provider's records carry one.
STRANGER_ID = "P-77"
OTHER = "someone.else@elsewhere.example"
DAG_ID = "lms_connectors_find_learner"


def activity(email: str, course: str, progress: float, day: dt.date, **extra: str) -> dict:
    stamp = f"{day.isoformat()}T12:00:00Z"
    return {
        **extra,
        "learner_email": email,
        "course_id": course,
        "progress": progress,
        "started_at": stamp,
        "completed_at": None,
        "updated_at": stamp,
    }


def find(dagbag, connector: str, **conf) -> tuple[str, dict]:
    """The look-up's state and its answer (what its XCom keeps). Whatever the state, the run's
    conf was scrubbed by its last task."""
    dag = dagbag.get_dag(DAG_ID)
    run_conf = {
        "connector": connector,
        "emails": [],
        "learner_ids": [],
        "user_ids": [],
        "reason": "",
        "dry_run": True,
        **conf,
    }
    dr = dag.test(run_conf=run_conf)
    assert _xcom(DAG_ID, dr.run_id, "forget_request_values")["run_conf"] == 1
    return dr.state, _xcom(DAG_ID, dr.run_id, "find_learner")


@pytest.mark.parametrize("provider_name", PROVIDERS)
def test_an_admin_finds_an_unmatched_learner_and_attaches_them_to_a_user(
    dags, dagbag, profile, provider_name, airflow_env, warehouse, sim
):
    """By email, and by the learner id where the provider's records carry one."""
    provider = providers.get(provider_name)
    course = sorted(world_courses(sim))[0]
    first, second, third = DAYS
    add_activity(
        sim,
        [
            activity(STRANGER, course, 10, first, learner_id=STRANGER_ID),
            activity(STRANGER, course, 30, second, learner_id=STRANGER_ID),
            activity(OTHER, course, 50, first),
        ],
    )
    for day in (first, second):
        assert dags.run(day) == "success"
    connector = profile.provider

    # Since when and on how many days; nothing of the other stranger, no email, no hash.
    state, stranger = find(dagbag, connector, emails=[f" {STRANGER.lower()} "])
    assert state == "success"
    assert stranger == {
        "dry_run": True,
        "connector_id": connector,
        "unmatched": True,
        "first_seen": first.isoformat(),
        "last_seen": second.isoformat(),
        "days_seen": 2,
        "lms_users": 0,
        "erased": False,
        "attached": False,
    }
    state, answer = find(dagbag, connector, emails=["nobody@nowhere.example"])
    assert (state, answer["unmatched"], answer["days_seen"]) == ("success", False, 0)
    # The same learner by their id; a provider whose records carry none refuses the question.
    state, by_id = find(dagbag, connector, learner_ids=[f" {STRANGER_ID} "])
    if provider.learner_id_kind is None:
        assert state == "failed"
    else:
        assert state == "success" and by_id == stranger

    target = warehouse.scalar(
        """SELECT min(u.user_id) FROM lms.users u
           WHERE NOT EXISTS (SELECT 1 FROM stats.course_progress p WHERE p.user_id = u.user_id)"""
    )
    # Attaching needs a reason; a dry run checks everything and writes nothing.
    state, _ = find(dagbag, connector, emails=[STRANGER], user_ids=[target], dry_run=False)
    assert state == "failed"
    state, answer = find(dagbag, connector, emails=[STRANGER], user_ids=[target], reason="ticket 7")
    assert state == "success" and answer["email_added"] is True and answer["attached"] is False
    assert warehouse.scalar("SELECT count(*) FROM lms.user_emails") == 0

    state, answer = find(dagbag, connector, emails=[STRANGER], user_ids=[target], reason="ticket 7", dry_run=False)
    assert state == "success" and answer["attached"] is True
    assert warehouse.rows("SELECT user_id, email, kind FROM lms.user_emails") == [
        (target, STRANGER.lower(), "secondary")
    ]
    actor, details = warehouse.rows("SELECT actor, details FROM ops.audit_log WHERE action = 'attach_learner_email'")[0]
    assert actor == "dag_test" and details["reason"] == "ticket 7" and details["added"] is True
    assert "elsewhere" not in json.dumps(details).lower() and target not in json.dumps(details)

    # From the next run on, their records are that user's, and that run loads the days they went
    # unrecognised (healing); a replay of one of them changes nothing.
    add_activity(sim, [activity(STRANGER, course, 60, third)])
    assert dags.run(third) == "success"
    history = """SELECT activity_date, progress_pct FROM stats.course_progress_daily WHERE user_id = %s
                 ORDER BY activity_date"""
    assert warehouse.rows(history, (target,)) == [(first, 10), (second, 30), (third, 60)]
    assert dags.run(first) == "success"
    assert warehouse.rows(history, (target,)) == [(first, 10), (second, 30), (third, 60)]
    state, answer = find(dagbag, connector, emails=[STRANGER], user_ids=[target], reason="again", dry_run=False)
    assert state == "failed"
    state, answer = find(dagbag, connector, emails=[STRANGER])
    assert answer["lms_users"] == 1
    if provider.learner_id_kind is None:
        return
    # Their id too, written to the LMS's identities with the kind the provider's records carry.
    state, answer = find(dagbag, connector, learner_ids=[STRANGER_ID], user_ids=[target], reason="t 8", dry_run=False)
    assert state == "success" and answer["id_added"] is True
    assert warehouse.rows("SELECT user_id, kind, issuer, value FROM lms.user_identities") == [
        (target, provider.learner_id_kind, provider.identity_issuer, STRANGER_ID)
    ]
    (details,) = warehouse.rows("SELECT details FROM ops.audit_log WHERE action = 'attach_learner_id'")[0]
    assert STRANGER_ID not in json.dumps(details) and target not in json.dumps(details)
    assert find(dagbag, connector, learner_ids=[STRANGER_ID])[1]["lms_users"] == 1


def test_an_erased_learner_is_found_as_erased_and_never_attached(
    dags, dagbag, profile, airflow_env, warehouse, sim, capsys
):
    course = sorted(world_courses(sim))[0]
    add_activity(sim, [activity(OTHER, course, 20, DAYS[0])])
    assert dags.run(DAYS[0]) == "success"
    erase = dagbag.get_dag("lms_connectors_erase_learners")
    assert erase.test(run_conf={"user_ids": [], "emails": [OTHER], "reason": "DPO-9", "dry_run": False}).state == (
        "success"
    )
    target = warehouse.scalar("SELECT min(user_id) FROM lms.users")
    state, answer = find(dagbag, profile.provider, emails=[OTHER])
    assert state == "success" and answer["erased"] is True and answer["unmatched"] is False
    state, _ = find(dagbag, profile.provider, emails=[OTHER], user_ids=[target], reason="x", dry_run=False)
    assert state == "failed"
    assert warehouse.scalar("SELECT count(*) FROM lms.user_emails") == 0
    # The same from the command line.
    from lms_connectors.privacy import commands as privacy

    capsys.readouterr()
    assert privacy.main(["find", "--connector", profile.provider, "--email", OTHER]) == 0
    assert json.loads(capsys.readouterr().out)["erased"] is True
    attach = ["--attach-to", target, "--reason", "x", "--apply"]
    assert privacy.main(["find", "--connector", profile.provider, "--email", OTHER, *attach]) == 2
    assert "never attached" in capsys.readouterr().err


def test_retention_sweeps_request_values_a_finished_run_still_holds(dagbag, airflow_env, warehouse, sim):
    """A request run can end with its values in its conf: a worker lost before the last task, or
    ``dag.test``, which writes the original conf back after that task. Retention removes them."""
    import os

    import sqlalchemy as sa

    from lms_connectors.orchestration.privacy_dags import FORGOTTEN, forget_finished_requests

    find(dagbag, "linkedin_learning", emails=[STRANGER], learner_ids=[])
    metadata = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    engine = sa.create_engine(metadata)
    latest = sa.text("SELECT conf FROM dag_run WHERE dag_id = :d ORDER BY id DESC LIMIT 1")
    try:
        forget_finished_requests(metadata)
        with engine.connect() as conn:
            conf = conn.execute(latest, {"d": DAG_ID}).scalar_one()
        assert conf["emails"] == [FORGOTTEN] and conf["connector"] == "linkedin_learning"
        assert STRANGER.lower() not in json.dumps(conf).lower()
        # Nothing is left to sweep the second time.
        assert forget_finished_requests(metadata) == 0
    finally:
        engine.dispose()
