"""A run's lifecycle is the pipeline layer's: the same days run through the real DAG and through
``lifecycle.run_day`` (no Airflow) write the same tables, for every provider (so tests of rules
over many runs, as the replay-order test, may use the runner). If the Airflow layer
did more than map its tasks to the lifecycle's stages, the two would differ."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.builders import DAY1, PROVIDERS, connector_env, run_outside_airflow, targets

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("provider_name", PROVIDERS)
def test_days_run_outside_airflow_equal_the_dags_runs(
    dags, profile, airflow_env, sim, warehouse, make_warehouse, monkeypatch
):
    from lms_connectors.pipeline import lifecycle

    # A later day, then an earlier one: the state a replay depends on is compared too.
    days = [DAY1 + dt.timedelta(days=1), DAY1]
    assert [dags.run(day) for day in days] == ["success", "success"]
    through_airflow = targets(warehouse)

    outside = make_warehouse()
    for key, value in connector_env(sim, outside).items():
        monkeypatch.setenv(key, value)
    steps = run_outside_airflow(profile, airflow_env, days[0])
    run_outside_airflow(profile, airflow_env, days[1])
    assert steps == [s for stage in lifecycle.RUN for s in stage.steps if s != lifecycle.APPROVAL]
    assert outside.rows("SELECT status FROM ops.sync_runs") == [("success",), ("success",)]
    assert through_airflow["stats.course_progress_daily"], "the day loaded nothing to compare"
    assert targets(outside) == through_airflow
