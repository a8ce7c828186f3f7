"""`make cluster`: the CeleryExecutor for real (Redis, metadata on Postgres, two workers).

A three-day backfill runs on the cluster; its tasks must have run on both
workers, and the warehouse must equal what the pipeline's own runner writes for
the same days from a fresh warehouse and the same simulated world (the stages the
DAG's tasks run: tests/integration/test_lifecycle.py; the LocalExecutor runs the
operators' guide's backfills in tests/e2e/test_health_page.py).
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.api import AirflowApi
from tests.builders import TARGETS, free_port
from tests.e2e.shell import runner, user_env

pytestmark = pytest.mark.timeout(900)
ROOT = Path(__file__).resolve().parents[2]
DAG_ID = "lms_connector_openclassrooms"
DAYS = 3


def replay(api: AirflowApi, first: dt.date, last: dt.date) -> list[dict[str, Any]]:
    """Backfill [first, last] (every day at once: spread over the workers), unpause, wait for every day."""
    api.backfill(first, last, max_active_runs=DAYS)
    api.unpause()
    return api.wait(lambda runs: len(runs) == DAYS and all(r["state"] == "success" for r in runs), 420, "backfill")


def hostnames(api: AirflowApi, runs: list[dict[str, Any]]) -> dict[str, str]:
    return {
        f"{r['logical_date'][:10]}/{ti['task_id']}": ti["hostname"]
        for r in runs
        for ti in api.get(f"/dags/{DAG_ID}/dagRuns/{r['dag_run_id']}/taskInstances")["task_instances"]
    }


# Every target table, each row whole, except lms.courses.last_synced_at: it is the interval of the run
# that last changed the row, and with the backfill's runs at once (spread over the workers) which
# run that is depends on the order the advisory lock lets their loads through, on any executor.
COMPARED = {**TARGETS, "lms.courses": TARGETS["lms.courses"].replace("is_active, last_synced_at", "is_active")}
assert COMPARED["lms.courses"] != TARGETS["lms.courses"]


def _warehouse(local: Path) -> dict[str, list]:
    from devstack.postgres import OWNER
    from devstack.stack import running_at

    state, cluster = running_at(local)
    with cluster.connect(OWNER, state["postgres"]["dbname"]) as conn:
        return {name: conn.execute(sql).fetchall() for name, sql in COMPARED.items()}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    local = tmp_path_factory.mktemp("cluster")
    today = dt.datetime.now(dt.UTC).date()
    first = today - dt.timedelta(days=DAYS)
    # The registry starts with the first replayed day: unpaused, nothing else runs.
    env = user_env(local, first)
    run = runner(env)
    try:
        yield {"local": local, "env": env, "run": run, "first": first, "last": today - dt.timedelta(days=1)}
    finally:
        down = run("devstack.stack", "down", timeout=180)
        assert down.returncode == 0, down.stdout + down.stderr


def test_a_backfill_on_two_celery_workers_equals_the_pipelines_own_run(setup):
    local, run = setup["local"], setup["run"]
    port = free_port()
    up = run("devstack.cluster", "--port", str(port), timeout=600)
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    assert "worker1, worker2 (CeleryExecutor" in up.stdout
    state = json.loads((local / "stack.json").read_text())
    api = AirflowApi(state["cluster"]["url"], local / "cluster" / "airflow", DAG_ID)
    runs = replay(api, setup["first"], setup["last"])
    hosts = hostnames(api, runs)
    assert set(hosts.values()) == {"worker1", "worker2"}, hosts
    # Each worker imported the heavy modules once, before its pool forked.
    for name in ("worker1", "worker2"):
        log = Path(state["cluster"]["processes"][name]["log"]).read_text(errors="replace")
        assert "for task processes in" in log, name
    # `make cluster-env`: this shell's airflow CLI on the cluster (metadata on Postgres, Celery).
    exports = run("devstack.cluster", "--env", timeout=60)
    assert exports.returncode == 0, exports.stderr
    exported = dict(
        shlex.split(line.removeprefix("export "))[0].split("=", 1)
        for line in exports.stdout.splitlines()
        if line.startswith("export ")
    )
    assert exported["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert exported["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg://airflow_meta:")
    on_celery = _warehouse(local)
    assert on_celery["stats.course_progress_daily"], "the backfill loaded no day rows"
    # Metadata on Postgres, as its own non-superuser login.
    from devstack.stack import running_at

    with running_at(local)[1].connect() as conn:
        meta = conn.execute(
            "SELECT r.rolsuper, pg_get_userbyid(d.datdba) FROM pg_database d JOIN pg_roles r "
            "ON r.oid = d.datdba WHERE d.datname = 'airflow_meta'"
        ).fetchone()
    assert meta == (False, "airflow_meta")

    # `make stop` stops the cluster with the stack: every process it recorded is gone.
    pids = [p["pid"] for p in state["cluster"]["processes"].values()]
    down = run("devstack.stack", "down", timeout=180)
    assert down.returncode == 0, down.stdout + down.stderr
    left = [pid for pid in pids if Path(f"/proc/{pid}").exists()]
    assert not left, f"left running: {left}"

    # The same days run by the pipeline's own runner, from a fresh warehouse and the same simulated world.
    shutil.rmtree(local / "pg")
    reference = run("tests.e2e.reference_days", "openclassrooms", str(setup["first"]), str(setup["last"]), timeout=600)
    assert reference.returncode == 0, reference.stdout[-3000:] + reference.stderr[-3000:]
    ran = [line for line in reference.stdout.splitlines() if line.startswith("ran ")]
    assert len(ran) == DAYS and all(line.endswith("load_progress, heal_learners") for line in ran), reference.stdout[
        -3000:
    ]
    assert _warehouse(local) == on_celery
