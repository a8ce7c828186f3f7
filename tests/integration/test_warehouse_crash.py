"""A warehouse crash between two steps of a run or inside one, through the real DAG on the embedded Postgres.

Staging is unlogged: an immediate stop (a crash, or a failover: unlogged tables are not replicated)
empties it at the next start. A step after the crash must find the rows an earlier step staged
gone and extract the day again; the run then ends as a clean run of the same day would, never
``success`` with less than the provider sent.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests

from devstack import postgres
from devstack.postgres import Cluster
from lms_connectors.pipeline import ACTIVITY, CATALOGUE
from tests.builders import connector_env, create_database, targets

pytestmark = pytest.mark.integration
DAY = dt.date(2026, 11, 4)


@pytest.fixture(scope="module")
def crashable(simulators):
    """A cluster of this module's own (the others' stays up), with a deployed and seeded template."""
    from devstack.seed import seed_lms

    parent = Path(tempfile.mkdtemp(prefix="lms-crash-"))
    data_dir = parent / "data"
    cluster = Cluster(postgres.start(data_dir), postgres.new_secrets())
    postgres.secure(data_dir, cluster)
    postgres.ensure_database(cluster, "crash_template")
    postgres.deploy(cluster, "crash_template")
    with cluster.connect(postgres.OWNER, "crash_template") as conn:
        seed_lms(conn, requests.get(f"{simulators['openclassrooms'].url}/_sim/lms-seed", timeout=30).json())
    yield cluster, data_dir
    postgres.stop(data_dir)
    shutil.rmtree(parent, ignore_errors=True)


# Servers stopped by crash(down_for=...) and the threads that start them again.
_RESTARTS: list[threading.Thread] = []


def crash(data_dir: Path, down_for: float = 0) -> None:
    """An immediate stop, then a start (``down_for`` seconds later, while the caller goes on, as a
    crashed server comes back): crash recovery empties the unlogged tables."""
    assert postgres.stop(data_dir, mode="immediate")
    if not down_for:
        postgres.start(data_dir)
        return
    restart = threading.Thread(target=lambda: (time.sleep(down_for), postgres.start(data_dir)))
    restart.start()
    _RESTARTS.append(restart)


def run_day(dags, monkeypatch, sim, warehouse) -> str:
    while _RESTARTS:  # a run starts on a server that is up
        _RESTARTS.pop().join()
    for key, value in connector_env(sim, warehouse).items():
        monkeypatch.setenv(key, value)
    return dags.run(DAY)


@pytest.fixture(scope="module")
def clean(crashable, dagbag, simulators):
    """The targets and figures of a clean run of the day."""
    from tests.builders import PROFILES, Dags

    cluster, _ = crashable
    warehouse = create_database(cluster, "crash_template")
    sim = simulators["openclassrooms"]
    requests.post(f"{sim.url}/_sim/reset", timeout=30).raise_for_status()
    with pytest.MonkeyPatch.context() as mp:
        assert run_day(Dags(dagbag, PROFILES["openclassrooms"]), mp, sim, warehouse) == "success"
    return targets(warehouse), figures(warehouse)


def figures(warehouse) -> tuple:
    return warehouse.rows(
        """SELECT status, courses_seen, activity_records, progress_rows, daily_rows, matched_learners
           FROM ops.sync_runs"""
    )[0]


@pytest.mark.parametrize("after", [CATALOGUE.extract, CATALOGUE.transform, CATALOGUE.validate, *ACTIVITY.steps[:3]])
def test_a_crash_after_a_step_ends_as_a_clean_run_never_as_a_short_one(
    crashable, clean, dags, sim, monkeypatch, after, caplog
):
    from lms_connectors import pipeline

    cluster, data_dir = crashable
    warehouse = create_database(cluster, "crash_template")
    run_step = pipeline.run
    crashed = []

    def then_crash(name, *args, **kwargs):
        counts = run_step(name, *args, **kwargs)
        if name == after and not crashed:
            args[0].close()  # the step's session dies with the server
            crash(data_dir)
            crashed.append(name)
        return counts

    monkeypatch.setattr(pipeline, "run", then_crash)
    assert run_day(dags, monkeypatch, sim, warehouse) == "success"
    assert crashed == [after]
    assert figures(warehouse) == clean[1], "the run ended other than the clean run of the day"
    assert targets(warehouse) == clean[0]
    extract = CATALOGUE.extract if after in CATALOGUE.steps else ACTIVITY.extract
    assert f"again from {extract}" in caplog.text, "the tables match, but the loss went unseen"


@pytest.mark.parametrize("fault", ["backend_terminated", "statement_timeout"])
def test_a_staging_write_broken_midway_fails_or_ends_as_a_clean_run_and_a_rerun_converges(
    crashable, clean, dags, sim, monkeypatch, fault
):
    """The extract's COPY into staging breaks after its first page: its session is terminated, or
    its statement outlives the session's statement_timeout. The run fails (or its retry succeeds)
    and never ends short; run again, the day equals a clean run's."""
    from lms_connectors.providers.openclassrooms.client import OpenClassroomsClient
    from lms_connectors.warehouse import db

    cluster, _ = crashable
    warehouse = create_database(cluster, "crash_template")
    pages_of = OpenClassroomsClient.iter_activity_pages
    broken: list[str] = []

    def breaking(self, since, until):
        for n, page in enumerate(pages_of(self, since, until)):
            yield page
            if n == 0 and not broken:
                broken.append(fault)
                if fault == "backend_terminated":
                    with warehouse.connect(autocommit=True) as admin:
                        admin.execute(
                            """SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                               WHERE datname = %s AND query ILIKE 'COPY staging.raw_activity%%'""",
                            (warehouse.dbname,),
                        )
                else:
                    time.sleep(1.5)  # the COPY is one statement: it outlives the 1 s timeout

    monkeypatch.setattr(OpenClassroomsClient, "iter_activity_pages", breaking)
    if fault == "statement_timeout":
        monkeypatch.setattr(db.connect, "__kwdefaults__", {"statement_timeout": "1s"})
    first = run_day(dags, monkeypatch, sim, warehouse)
    assert broken == [fault]
    ends_whole_or_fails_then_converges(first, dags, monkeypatch, sim, warehouse, clean)


@pytest.mark.parametrize("inside", [*CATALOGUE.steps, *ACTIVITY.steps])
def test_a_crash_inside_a_step_before_it_commits_fails_or_ends_as_a_clean_run(
    crashable, clean, dags, sim, monkeypatch, inside
):
    """The server stops at once inside a step, its work done and not yet committed (as it records its
    counts), and is back 3 s later: the task's session dies with the step's transaction. The run fails,
    and says so in ops.sync_runs although the server was still down when the task failed, or its
    retry ends as a clean run, never short; run again, the day equals a clean run's."""
    from lms_connectors.warehouse import runs

    cluster, data_dir = crashable
    warehouse = create_database(cluster, "crash_template")
    record_step = runs.record_step
    crashed: list[str] = []

    def crash_before_commit(conn, run_key, name, *args, **kwargs):
        if name == inside and not crashed:
            crashed.append(name)
            crash(data_dir, down_for=3)
        return record_step(conn, run_key, name, *args, **kwargs)

    monkeypatch.setattr(runs, "record_step", crash_before_commit)
    first = run_day(dags, monkeypatch, sim, warehouse)
    assert crashed == [inside]
    ends_whole_or_fails_then_converges(first, dags, monkeypatch, sim, warehouse, clean)


def ends_whole_or_fails_then_converges(first: str, dags, monkeypatch, sim, warehouse, clean) -> None:
    """A run broken by a fault either ended as the clean run (a retry did the day again) or failed
    and says so; a re-run then loads the same records into the same tables as the clean run."""
    if first == "success":
        assert figures(warehouse) == clean[1] and targets(warehouse) == clean[0]
    else:
        assert first == "failed"
        assert warehouse.scalar("SELECT status FROM ops.sync_runs") == "failed"
    assert run_day(dags, monkeypatch, sim, warehouse) == "success"
    # The same records seen (a re-run of a loaded day writes no row: those counts are its own).
    status, seen, records, *_, matched = figures(warehouse)
    assert (status, seen, records, matched) == (clean[1][0], clean[1][1], clean[1][2], clean[1][-1])
    assert targets(warehouse) == clean[0]
