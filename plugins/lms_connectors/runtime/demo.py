"""``make demo``: the embedded stack, the LMS seed, three daily runs through Airflow, a summary.

Runs the DAG ``lms_connector_openclassrooms`` with ``dag.test`` (the real task
runner, XCom and Connections, in one process) for the last three complete
days, then prints what the catalogue looks like. Safe to run again: the
stack is reused, the seed is upserted and the runs are idempotent.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time

DAG_ID = "lms_connector_openclassrooms"
CONNECTOR_ID = "openclassrooms"
DAYS = 3


def outer() -> int:
    from lms_connectors.runtime import stack

    t0 = time.monotonic()
    print("starting the embedded stack (Postgres from pgserver, the simulator) ...", flush=True)
    state = stack.up()
    print(
        f"  postgres pid {state['postgres']['pid']}, simulator {state['simulator']['url']} "
        f"(pid {state['simulator']['pid']})",
        flush=True,
    )
    env = {
        **os.environ,
        **stack.airflow_env(state),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "LMS_DEMO_STATE": json.dumps(state),
    }
    # Airflow reads its configuration at import: run the rest in a child with the env set.
    code = subprocess.call([sys.executable, "-m", "lms_connectors.runtime.demo", "--inner"], env=env)
    print(f"\ndemo finished in {time.monotonic() - t0:.0f} s (exit {code}); stop the stack with `make stop`")
    return code


def prepare() -> dict:
    """Airflow metadata, the warehouse deploy step, the LMS seed and the connector's Variable (idempotent).

    The deploy step and the seed run as the warehouse owner: the seed stands
    for the LMS application, which owns users and groups; the DAG's own
    Connection cannot write them.
    """
    import requests
    from airflow.models import Variable
    from airflow.utils import db

    from lms_connectors.runtime import postgres, stack
    from lms_connectors.runtime.seed import seed_lms
    from lms_connectors.settings import variable_name

    state = json.loads(os.environ["LMS_DEMO_STATE"])
    sim_url = state["simulator"]["url"]
    print("preparing Airflow metadata (SQLite) ...", flush=True)
    db.initdb()
    lms_seed = requests.get(f"{sim_url}/_sim/lms-seed", timeout=60).json()
    variable = variable_name(CONNECTOR_ID)
    # The SDK Variable needs a task's execution context; this runs outside any task
    # and writes the metadata DB directly.
    if Variable.get(variable, default_var=None) is None:
        Variable.set(variable, json.dumps(lms_seed["settings"], indent=2))
        print(f"  Variable {variable} set to the demo settings")
    done = stack.deploy(state)
    print(f"  warehouse deploy step (as {postgres.OWNER}): {', '.join(done) if done else 'nothing to do'}")
    with stack.cluster(state).connect(postgres.OWNER, state["postgres"]["dbname"]) as conn:
        counts = seed_lms(conn, lms_seed)
        print(f"  LMS seed: {counts['users']} users, {counts['groups']} group, {counts['members']} memberships")
    return state


def inner() -> int:
    import logging

    logging.getLogger("airflow").setLevel(logging.WARNING)
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models import Variable

    from lms_connectors import reporting
    from lms_connectors.runtime import postgres, stack
    from lms_connectors.settings import variable_name

    state = prepare()
    variable = variable_name(CONNECTOR_ID)
    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag(DAG_ID)
    today = dt.datetime.now(dt.UTC).date()
    results = []
    for back in range(DAYS, 0, -1):
        day = today - dt.timedelta(days=back)
        print(f"running {DAG_ID} for {day} ...", flush=True)
        t0 = time.monotonic()
        dr = dag.test(logical_date=dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC))
        results.append((day, dr.state, time.monotonic() - t0))
    # The summary reads views the sync login has no use for: the owner reads them.
    with stack.cluster(state).connect(postgres.OWNER, state["postgres"]["dbname"]) as conn:
        settings = json.loads(Variable.get(variable))
        print()
        print(reporting.demo_summary(conn, CONNECTOR_ID, settings["target_group_id"], results))

    # Show the admin action on a dry run: what a French + English filter would do.
    admin_dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).get_dag(f"{DAG_ID}_apply_settings")
    conf = {"languages": ["fr", "en"], "enabled": None, "dry_run": True}
    dr = admin_dag.test(run_conf=conf)
    report = _xcom(dr.dag_id, dr.run_id, "apply_settings")
    print()
    print(reporting.admin_help(DAG_ID, variable, settings, conf, report))
    results.append((today, dr.state, 0.0))
    return 0 if all(state == "success" for _, state, _ in results) else 1


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
