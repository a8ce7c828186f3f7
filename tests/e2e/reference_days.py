"""The days a stack's connector would run, run by the pipeline's own runner (no Airflow): the
reference an executor's run of the same days must equal.

    python -m tests.e2e.reference_days CONNECTOR_ID FIRST_DAY LAST_DAY

Starts (or reuses) the embedded stack of ``LMS_LOCAL_DIR``, deploys its warehouse, seeds the LMS as
``make demo`` does, and runs each day of [FIRST_DAY, LAST_DAY] of the connector with
``lms_connectors.pipeline.lifecycle.run_day``, the stages the DAG's tasks run
(tests/integration/test_lifecycle.py proves they write the same). Its Connections come from the
environment: no Airflow metadata is needed.
"""

from __future__ import annotations

import datetime as dt
import os
import sys

import requests


def main(connector_id: str, first: dt.date, last: dt.date) -> int:
    from devstack import postgres, stack
    from devstack.seed import seed_lms

    state = stack.up()
    stack.deploy(state)
    os.environ.update(stack.airflow_env(state) | stack.connection_env(stack.connections(state)))

    from lms_connectors.orchestration.steps import connector_of
    from lms_connectors.pipeline import lifecycle
    from lms_connectors.providers.registry import load_registry
    from lms_connectors.rules.context import RunRequest
    from lms_connectors.warehouse.db import connect

    spec = next(s for s in load_registry() if s.id == connector_id)
    seed = requests.get(f"{stack.simulators(state)[spec.id]['url']}/_sim/lms-seed", timeout=60).json()
    with stack.cluster(state).connect(postgres.OWNER, state["postgres"]["dbname"]) as conn:
        seed_lms(conn, seed)
    day = first
    while day <= last:
        start = dt.datetime.combine(day, dt.time(), dt.UTC)
        request = RunRequest(f"{spec.dag_id}/reference__{day}", spec.id, start, start + dt.timedelta(days=1))
        steps = lifecycle.run_day(
            lambda: connect(spec.warehouse_conn_id),
            request,
            seed["settings"],
            spec.variable,
            connector_of(spec),
            dag_id=spec.dag_id,
        )
        print(f"ran {day}: {', '.join(step for step, _ in steps)}", flush=True)
        day += dt.timedelta(days=1)
    return 0


if __name__ == "__main__":
    connector, first_day, last_day = sys.argv[1:]
    sys.exit(main(connector, dt.date.fromisoformat(first_day), dt.date.fromisoformat(last_day)))
