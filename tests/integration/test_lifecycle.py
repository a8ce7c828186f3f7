"""A run's lifecycle is the pipeline layer's: the same day run through the real DAG and through
``lifecycle.run_day`` (no Airflow) writes the same tables, for every provider. If the Airflow layer
did more than map its tasks to the lifecycle's stages, the two would differ."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.builders import DAY1, PROVIDERS, connector_env, targets

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("provider_name", PROVIDERS)
def test_a_day_run_outside_airflow_equals_the_dags_run(dags, airflow_env, sim, warehouse, make_warehouse, monkeypatch):
    from lms_connectors.orchestration.steps import connector_of
    from lms_connectors.pipeline import lifecycle
    from lms_connectors.providers.registry import load_registry
    from lms_connectors.rules.context import RunRequest
    from lms_connectors.warehouse.db import connect

    assert dags.run(DAY1) == "success"
    through_airflow = targets(warehouse)

    outside = make_warehouse()
    for key, value in connector_env(sim, outside).items():
        monkeypatch.setenv(key, value)
    spec = next(s for s in load_registry() if s.provider == sim.provider)
    start = dt.datetime.combine(DAY1, dt.time(), dt.UTC)
    request = RunRequest(f"{spec.dag_id}/outside__{DAY1}", spec.id, start, start + dt.timedelta(days=1))
    steps = [
        name
        for name, _ in lifecycle.run_day(
            lambda: connect(spec.warehouse_conn_id),
            request,
            airflow_env,
            spec.variable,
            connector_of(spec),
            dag_id=spec.dag_id,
        )
    ]
    assert steps == [s for stage in lifecycle.RUN for s in stage.steps if s != lifecycle.APPROVAL]
    assert outside.scalar("SELECT status FROM ops.sync_runs") == "success"
    assert through_airflow["stats.course_progress_daily"], "the day loaded nothing to compare"
    assert targets(outside) == through_airflow
