"""``make demo``: the embedded stack, the LMS seed, three daily runs of every connector, a summary of each.

Runs each connector DAG of the registry (``lms_connector_<id>``) with
``dag.test`` (the real task runner, XCom and Connections, in one process)
for the last three complete days, each against a simulator of its
provider's API, then prints what each catalogue and its statistics look
like, and what the learners' figures add up to across connectors. Safe to
run again: the stack is reused, the seed is upserted and the runs are
idempotent.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DAYS = 3
# Every param of a connector DAG, passed on each day: dag.test keeps the params of an earlier call.
DAY_PARAMS = {"override_mass_archive": False, "delete_unreported_rows": False, "initial_load_days": 0}
# Refreshes stats.mv_daily_summary, the table dashboards read: run after the connectors' days.
DASHBOARDS_DAG = "lms_dashboards_refresh"


def outer() -> int:
    from devstack import stack

    t0 = time.monotonic()
    print("starting the embedded stack (Postgres from pgserver, a simulator per connector) ...", flush=True)
    state = stack.up()
    print(f"  postgres pid {state['postgres']['pid']}", flush=True)
    for connector_id, sim in stack.simulators(state).items():
        print(f"  simulator of {connector_id} ({sim['provider']}): {sim['url']} (pid {sim['pid']})", flush=True)
    env = {
        **os.environ,
        **stack.airflow_env(state),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "LMS_DEMO_STATE": json.dumps(state),
    }
    # Airflow reads its configuration at import: run the rest in a child with the env set.
    code = subprocess.call([sys.executable, "-m", "devstack.demo", "--inner"], env=env)
    print(f"\ndemo finished in {time.monotonic() - t0:.0f} s (exit {code}); stop the stack with `make stop`")
    return code


def prepare() -> dict:
    """Airflow metadata and its Connections, the warehouse deploy step, the LMS seed and each connector's
    Variable (idempotent).

    The deploy step and the seed run as the warehouse owner: the seed stands
    for the LMS application, which owns users and groups; the DAG's own
    Connection cannot write them. Each connector syncs into a group of its own.
    """
    import requests
    from airflow.models import Variable
    from airflow.utils import db

    from devstack import connections, postgres, stack
    from devstack.seed import seed_lms
    from lms_connectors.providers.registry import load_registry

    state = json.loads(os.environ["LMS_DEMO_STATE"])
    print("preparing Airflow metadata ...", flush=True)
    # Alembic logs each migration at INFO ("Running upgrade ..."), lines a newcomer read as trouble.
    for name in ("alembic", "airflow.utils.db"):
        logging.getLogger(name).setLevel(logging.WARNING)
    db.initdb()
    for line in connections.store(stack.connections(state)):
        print(f"  {line}")
    done = stack.deploy(state)
    print(f"  warehouse deploy step (as {postgres.OWNER}): {', '.join(done) if done else 'nothing to do'}")
    for spec in load_registry():
        sim = stack.simulators(state)[spec.id]
        lms_seed = requests.get(f"{sim['url']}/_sim/lms-seed", timeout=60).json()
        # The SDK Variable needs a task's execution context; this runs outside any task
        # and writes the metadata DB directly.
        if Variable.get(spec.variable, default_var=None) is None:
            Variable.set(spec.variable, json.dumps(lms_seed["settings"], indent=2))
            print(f"  Variable {spec.variable} set to the demo settings")
        with stack.cluster(state).connect(postgres.OWNER, state["postgres"]["dbname"]) as conn:
            counts = seed_lms(conn, lms_seed)
        print(
            f"  LMS seed for {spec.id}: {counts['users']} users, group {lms_seed['settings']['target_group_id']}, "
            f"{counts['members']} memberships"
        )
    return state


def inner() -> int:
    logging.getLogger("airflow").setLevel(logging.WARNING)
    from devstack.stack import quiet_known_warnings

    quiet_known_warnings()
    from airflow.dag_processing.dagbag import DagBag

    from devstack import stack
    from lms_connectors.providers.registry import load_registry

    state = prepare()
    # After Airflow's imports: its settings install warning filters of their own.
    stack.quiet_known_warnings()
    specs = load_registry()
    demo_dags = [d for spec in specs for d in (spec.dag_id, spec.admin_dag_id)] + [DASHBOARDS_DAG]
    refusal = scheduler_in_the_way(demo_dags)
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    today = dt.datetime.now(dt.UTC).date()
    with task_log_files():
        return _run_and_summarise(bag, state, specs, today)


def _run_and_summarise(bag: Any, state: dict[str, Any], specs: list[Any], today: dt.date) -> int:
    from airflow.models import Variable

    from devstack import postgres, stack, summary
    from devstack.seed import seed_path
    from lms_connectors import providers

    results: dict[str, list[tuple[dt.date, str, float]]] = {}
    for spec in specs:
        dag = bag.get_dag(spec.dag_id)
        results[spec.id] = []
        for back in range(DAYS, 0, -1):
            day = today - dt.timedelta(days=back)
            # The first day is an initial load of the simulated month, as a new connector's first run
            # would be: the statistics then have weeks of history (who has not progressed in two weeks).
            history = stack.SIM_DAYS - DAYS if back == DAYS else 0
            before = f" and the {history} days before it" if history else ""
            print(f"running {spec.dag_id} for {day}{before} ...", flush=True)
            t0 = time.monotonic()
            dr = run_day(dag, day, {**DAY_PARAMS, "initial_load_days": history})
            results[spec.id].append((day, dr.state, time.monotonic() - t0))
    # Under `make airflow` the statistics Assets trigger it; dag.test records no Asset event, so it runs here.
    print(f"running {DASHBOARDS_DAG} (refreshes stats.mv_daily_summary, what dashboards read) ...", flush=True)
    dashboards = bag.get_dag(DASHBOARDS_DAG).test()
    # The summary reads views the sync login has no use for: the owner reads them.
    with stack.cluster(state).connect(postgres.OWNER, state["postgres"]["dbname"]) as conn:
        for spec in specs:
            settings = json.loads(Variable.get(spec.variable))
            provider = providers.get(spec.provider)
            # As the LMS would: a path of the connector's courses, which stats.v_path_progress follows.
            seed_path(conn, spec.id, settings["target_group_id"], provider.label)
            print(f"\n######## {provider.label} (connector {spec.id}) ########\n")
            print(
                summary.demo_summary(
                    conn, spec.id, settings["target_group_id"], results[spec.id], provider.time_spent_rule
                )
            )
        if len(specs) > 1:
            print()
            print(summary.across_connectors(conn))

    # Show the admin action on a dry run: what a French + English filter would do.
    first = specs[0]
    admin_dag = bag.get_dag(first.admin_dag_id)
    conf = {"languages": ["fr", "en"], "enabled": None, "dry_run": True}
    dr = admin_dag.test(run_conf=conf)
    report = _xcom(dr.dag_id, dr.run_id, "apply_settings")
    print()
    print(summary.admin_help(first.dag_id, first.variable, json.loads(Variable.get(first.variable)), conf, report))
    print()
    print(summary.analyst_help())
    states = [s for runs in results.values() for _, s, _ in runs] + [dashboards.state, dr.state]
    return 0 if all(s == "success" for s in states) else 1


def scheduler_in_the_way(dag_ids: list[str]) -> str | None:
    """Why the demo must not run now, or None.

    ``dag.test`` runs a DAG's tasks in this process; a live scheduler (``make airflow``) also queues
    the tasks of any run of an unpaused DAG, so both ran the same tasks: duplicate-key errors,
    "TI may be stuck", a 3 s day taking 89 s. Paused DAGs are left to the demo.
    """
    from airflow.jobs.job import most_recent_job
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        scheduler = most_recent_job("SchedulerJob", session=session)
        if scheduler is None or not scheduler.is_alive():
            return None
        unpaused = session.scalars(
            select(DagModel.dag_id).where(DagModel.dag_id.in_(dag_ids), DagModel.is_paused.is_(False))
        ).all()
    if not unpaused:
        return None
    names = ", ".join(sorted(unpaused))
    return (
        f"make demo: not run. The scheduler of `make airflow` is running (job {scheduler.id}) and would run the "
        f"demo's tasks too, for these unpaused DAGs: {names}.\n"
        f'Pause them (eval "$(make -s env)"; airflow dags pause <dag_id>) or stop Airflow (make stop), '
        "then run make demo again; or let the scheduler run them (airflow dags trigger, backfills)."
    )


class JsonLinesHandler(logging.Handler):
    """Log records as the JSON lines Airflow's task log files hold (what the UI's log view reads)."""

    def __init__(self, path: Path) -> None:
        super().__init__(logging.INFO)
        self.file = path.open("a", encoding="utf-8")

    def emit(self, record: logging.LogRecord) -> None:
        line = {
            "timestamp": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        if record.exc_info:
            line["event"] += "\n" + logging.Formatter().formatException(record.exc_info)
        self.file.write(json.dumps(line) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()
        super().close()


@contextlib.contextmanager
def task_log_files() -> Iterator[None]:
    """Each task's log records also in the file the UI reads for that try.

    ``dag.test`` runs tasks in this process and logs them to the console only: the UI showed the
    demo runs' task logs empty. Airflow has no setting for it, so the SDK's per-task runner is
    wrapped while the demo runs (the console keeps its WARNING level; the files get INFO).
    """
    import airflow.sdk.definitions.dag as sdk_dag
    from airflow.configuration import conf
    from airflow.utils.log.file_task_handler import FileTaskHandler

    base = Path(conf.get("logging", "base_log_folder"))
    names = FileTaskHandler(str(base))
    original = sdk_dag._run_task
    root = logging.getLogger()
    for handler in root.handlers:
        handler.setLevel(max(handler.level, logging.WARNING))
    logging.getLogger("lms_connectors").setLevel(logging.INFO)

    def run_task(*, ti: Any, task: Any, run_triggerer: bool = False) -> Any:
        path = base / names._render_filename(ti, ti.try_number)
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = JsonLinesHandler(path)
        root.addHandler(handler)
        try:
            return original(ti=ti, task=task, run_triggerer=run_triggerer)
        finally:
            root.removeHandler(handler)
            handler.close()

    sdk_dag._run_task = run_task
    try:
        yield
    finally:
        sdk_dag._run_task = original


def run_day(dag: Any, day: dt.date, run_conf: dict[str, Any] | None = None) -> Any:
    """One day's run with ``dag.test``, under one run id per day (``manual__<day>T00:00:00+00:00``).

    ``dag.test`` names a run after its ``run_after``, the time of the call by default, and replaces
    an earlier run of the same logical date: each re-run got a new id, and the ops.sync_runs rows of
    the replaced runs linked to runs that no longer existed. With ``run_after`` at the day's start,
    a re-run is the same run again, and its ops.sync_runs row is reset by its first task.
    """
    from devstack.dag_test import sync_once

    sync_once()
    logical = dt.datetime.combine(day, dt.time(), dt.UTC)
    dr = dag.test(logical_date=logical, run_after=logical, run_conf=run_conf)
    _real_start(dr)
    return dr


def _real_start(dr: Any) -> None:
    """``dag.test`` records the logical date as the run's start (Airflow 3.3), so the UI showed demo runs
    lasting days: the start becomes the first task's start, as for a run the scheduler starts."""
    from airflow.models import DagRun, TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import func, select, update

    with create_session() as session:
        first = session.scalar(
            select(func.min(TaskInstance.start_date)).where(
                TaskInstance.dag_id == dr.dag_id, TaskInstance.run_id == dr.run_id
            )
        )
        if first is not None:
            session.execute(
                update(DagRun).where(DagRun.dag_id == dr.dag_id, DagRun.run_id == dr.run_id).values(start_date=first)
            )


def _xcom(dag_id: str, run_id: str, task_id: str) -> dict:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(run_id=run_id, dag_ids=dag_id, task_ids=task_id, key="return_value")
        ).first()
        return XComModel.deserialize_value(row) if row is not None else {}


if __name__ == "__main__":
    if "--prepare" in sys.argv:
        prepare()
        sys.exit(0)
    sys.exit(inner() if "--inner" in sys.argv else outer())
