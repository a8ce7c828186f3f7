"""The loads declare Assets, and the example consumer refreshes what dashboards read.

``dag.test`` records Asset events but never runs consumers: the test checks the events a run
leaves, then runs the consumer DAG itself and compares its table with the analysts' view.
"""

from __future__ import annotations

import datetime as dt

import pytest

from tests.builders import DAY1

pytestmark = pytest.mark.integration


def _events(uri: str) -> list[dict]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return [
            event.extra
            for event in session.scalars(
                select(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id).where(AssetModel.uri == uri)
            )
        ]


def test_the_loads_announce_the_day_they_wrote_and_the_consumer_refreshes_the_summary(
    dagbag, dags, profile, airflow_env, warehouse, sim
):
    from lms_connectors.orchestration.assets import catalogue_asset, statistics_asset
    from lms_connectors.providers.registry import load_registry

    spec = next(s for s in load_registry() if s.dag_id == profile.dag_id)
    before = {uri: len(_events(uri)) for uri in (catalogue_asset(spec).uri, statistics_asset(spec).uri)}
    assert dags.run(DAY1) == "success"
    day = dt.datetime.combine(DAY1, dt.time(), dt.UTC).isoformat()
    stats = _events(statistics_asset(spec).uri)[before[statistics_asset(spec).uri] :]
    courses = _events(catalogue_asset(spec).uri)[before[catalogue_asset(spec).uri] :]
    assert len(stats) == len(courses) == 1
    progress_rows = warehouse.scalar("SELECT count(*) FROM stats.course_progress")
    daily_rows = warehouse.scalar("SELECT count(*) FROM stats.course_progress_daily")
    assert stats[0] == {
        "connector_id": spec.id,
        "interval_start": day,
        "interval_end": (DAY1 + dt.timedelta(days=1)).isoformat() + "T00:00:00+00:00",
        "rows_written": progress_rows + daily_rows,
    }
    assert courses[0]["rows_written"] == warehouse.scalar("SELECT count(*) FROM lms.courses") > 0

    # The consumer is scheduled on every connector's statistics Asset.
    consumer = dagbag.get_dag("lms_dashboards_refresh")
    scheduled_on = {asset.uri for asset in consumer.timetable.asset_condition.objects}
    assert scheduled_on == {statistics_asset(s).uri for s in load_registry()}
    summary = "SELECT * FROM stats.mv_daily_summary ORDER BY connector_id, activity_date"
    view = (
        "SELECT activity_date, connector_id, active_learners, completions, time_spent_minutes "
        "FROM stats.v_daily_activity ORDER BY connector_id, activity_date"
    )
    assert warehouse.rows(summary) == []  # materialized before the load
    assert consumer.test().state == "success"
    assert warehouse.rows(summary) == warehouse.rows(view) != []
