"""
### Example consumer: refresh what dashboards read when the statistics change

Scheduled on the **statistics Asset** of every connector of
`include/connectors.yaml` (`lms_statistics__<connector id>`, updated by each
connector's `sync_statistics`): whenever any connector loads a day, this DAG
refreshes the materialized view `stats.mv_daily_summary` (one row per
connector and day: active learners, completions, time spent; the figures of
`stats.v_daily_activity`) so dashboards read a precomputed table.

The refresh is concurrent (readers are never blocked) and runs as the sync
login through `stats.refresh_daily_summary()`, which may do nothing else.
The triggering Asset events (connector, interval, rows written) are in the
task log. Copy this file to schedule your own work on the data.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import operator
from typing import Any

from airflow.sdk import dag, get_current_context

from lms_connectors.orchestration.assets import statistics_asset
from lms_connectors.orchestration.steps import one_xcom_task
from lms_connectors.providers.registry import load_registry

log = logging.getLogger(__name__)
SPECS = load_registry()


@dag(
    dag_id="lms_dashboards_refresh",
    schedule=functools.reduce(operator.or_, [statistics_asset(spec) for spec in SPECS]),
    start_date=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["lms", "dashboards"],
    default_args={
        "owner": "analytics",
        "retries": 2,
        "retry_delay": dt.timedelta(seconds=60),
        "execution_timeout": dt.timedelta(minutes=30),
    },
)
def lms_dashboards_refresh() -> None:
    @one_xcom_task
    def refresh_daily_summary() -> dict[str, Any]:
        from lms_connectors.warehouse.db import connect

        events = get_current_context()["triggering_asset_events"]
        for asset, asset_events in events.items():
            for event in asset_events:
                log.info("triggered by %s: %s", asset, event.extra)
        rows = {}
        for conn_id in sorted({spec.warehouse_conn_id for spec in SPECS}):
            with connect(conn_id) as conn:
                rows[conn_id] = conn.execute("SELECT stats.refresh_daily_summary()").fetchone()[0]
        log.info("stats.mv_daily_summary refreshed: %s rows", rows)
        return {"rows": rows}

    refresh_daily_summary()


lms_dashboards_refresh()
