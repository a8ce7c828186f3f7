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

import datetime as dt
import json
import os
import subprocess
import sys
import time
from typing import Any

DAYS = 3


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
    """Airflow metadata, the warehouse deploy step, the LMS seed and each connector's Variable (idempotent).

    The deploy step and the seed run as the warehouse owner: the seed stands
    for the LMS application, which owns users and groups; the DAG's own
    Connection cannot write them. Each connector syncs into a group of its own.
    """
    import requests
    from airflow.models import Variable
    from airflow.utils import db

    from devstack import postgres, stack
    from devstack.seed import seed_lms
    from lms_connectors.registry import load_registry

    state = json.loads(os.environ["LMS_DEMO_STATE"])
    print("preparing Airflow metadata ...", flush=True)
    db.initdb()
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
    import logging

    logging.getLogger("airflow").setLevel(logging.WARNING)
    from devstack.stack import quiet_known_warnings

    quiet_known_warnings()
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models import Variable

    from devstack import postgres, stack, summary
    from lms_connectors import providers
    from lms_connectors.registry import load_registry

    state = prepare()
    # After Airflow's imports: its settings install warning filters of their own.
    stack.quiet_known_warnings()
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    today = dt.datetime.now(dt.UTC).date()
    specs = load_registry()
    results: dict[str, list[tuple[dt.date, str, float]]] = {}
    for spec in specs:
        dag = bag.get_dag(spec.dag_id)
        results[spec.id] = []
        for back in range(DAYS, 0, -1):
            day = today - dt.timedelta(days=back)
            print(f"running {spec.dag_id} for {day} ...", flush=True)
            t0 = time.monotonic()
            dr = dag.test(logical_date=dt.datetime.combine(day, dt.time(), dt.UTC))
            _real_start(dr)
            results[spec.id].append((day, dr.state, time.monotonic() - t0))
    # The summary reads views the sync login has no use for: the owner reads them.
    with stack.cluster(state).connect(postgres.OWNER, state["postgres"]["dbname"]) as conn:
        for spec in specs:
            settings = json.loads(Variable.get(spec.variable))
            provider = providers.get(spec.provider)
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
    states = [s for runs in results.values() for _, s, _ in runs] + [dr.state]
    return 0 if all(s == "success" for s in states) else 1


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
