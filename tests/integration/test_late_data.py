"""A provider that publishes activity late: a day is loaded once its data covers the whole day,
never before, and the run waits without holding a worker slot, up to its wait bound.

Runs for every provider whose freshness is "reported", against its simulator's late data (the
simulator's clock and its ``data_lag_hours``).
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from lms_connectors import providers
from tests.builders import DAY1, PROVIDERS, set_faults, set_history

pytestmark = pytest.mark.integration
DAY = DAY1 + dt.timedelta(days=2)
END = dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time(), dt.UTC)
LATE = [p for p in PROVIDERS if providers.get(p).freshness == "reported"]


@pytest.fixture(params=LATE)
def provider_name(request) -> str:
    return request.param


def _publish_late(sim) -> None:
    """The provider's clock is an hour past the day's end and it publishes 6 h late."""
    set_history(sim, "snapshots", (END + dt.timedelta(hours=1)).isoformat())
    set_faults(sim, data_lag_hours=6)


def _sensor_states(dag_id: str) -> list[str]:
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskInstance.state).filter(
            TaskInstance.dag_id == dag_id,
            TaskInstance.task_id == "wait_for_activity",
            TaskInstance.run_id == f"manual__{DAY.isoformat()}T00:00:00+00:00",
        )
        return [str(state) for (state,) in rows]


def _publish_once_waiting(sim, profile, warehouse) -> tuple[threading.Thread, dict]:
    """In the background (dag.test runs tasks on the main thread only): once the sensor waits in
    up_for_reschedule, what was loaded of the day then; then the provider publishes the rest."""
    seen: dict = {}

    def watch() -> None:
        deadline = time.monotonic() + 90
        while "up_for_reschedule" not in (states := _sensor_states(profile.dag_id)):
            if time.monotonic() > deadline:
                seen["states"] = states
                break
            time.sleep(0.2)
        else:
            seen["waiting"] = True
            seen["staged"] = warehouse.scalar("SELECT count(*) FROM staging.raw_activity")
            seen["loaded"] = warehouse.scalar("SELECT count(*) FROM stats.course_progress_daily")
        set_history(sim, "snapshots", None)
        set_faults(sim, data_lag_hours=0)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread, seen


def test_a_late_day_waits_without_a_slot_and_loads_once_the_data_covers_it(dags, profile, airflow_env, warehouse, sim):
    from tests.builders import provider_client

    _publish_late(sim)
    thread, seen = _publish_once_waiting(sim, profile, warehouse)
    assert dags.run(DAY) == "success"
    thread.join(10)
    # While it waited, the sensor had given its slot back and nothing of the day was extracted or loaded.
    assert seen == {"waiting": True, "staged": 0, "loaded": 0}, seen
    days = warehouse.rows("SELECT DISTINCT activity_date FROM stats.course_progress_daily")
    assert days == [(DAY,)]
    # The day loaded whole: every record the provider reports for it now.
    whole_day = sum(len(page) for page in provider_client(sim).iter_activity_pages(END - dt.timedelta(days=1), END))
    assert warehouse.scalar("SELECT activity_records FROM ops.sync_runs") == whole_day > 0


def test_data_still_late_after_the_wait_fails_the_run_saying_how_far_it_goes(
    dags, profile, airflow_env, warehouse, sim
):
    _publish_late(sim)
    t0 = time.monotonic()
    assert dags.run(DAY) == "failed"
    assert time.monotonic() - t0 < 120
    error = warehouse.scalar("SELECT error FROM ops.sync_runs")
    assert "wait_for_activity" in error and "is published only until" in error and "data_wait_hours" in error
    assert warehouse.scalar("SELECT count(*) FROM stats.course_progress_daily") == 0
    assert warehouse.scalar("SELECT count(*) FROM staging.raw_activity") == 0
