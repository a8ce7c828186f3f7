"""The Assets a connector's loads update, so that downstream work (dashboards, a refresh job) can
be scheduled on the data rather than on a clock.

One catalogue Asset and one statistics Asset per connector. The URI names the warehouse
Connection, the table and the connector; it is built from the registry alone (no I/O at parse
time). Each load attaches the run's interval and the rows it wrote to its Asset event.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Asset

from lms_connectors.providers.registry import ConnectorSpec
from lms_connectors.rules.context import RunContext


def catalogue_asset(spec: ConnectorSpec) -> Asset:
    return Asset(
        name=f"lms_catalogue__{spec.id}",
        uri=f"lms://{spec.warehouse_conn_id}/lms.courses/{spec.id}",
        group="lms-catalogue",
    )


def statistics_asset(spec: ConnectorSpec) -> Asset:
    return Asset(
        name=f"lms_statistics__{spec.id}",
        uri=f"lms://{spec.warehouse_conn_id}/stats.course_progress/{spec.id}",
        group="lms-statistics",
    )


def announce(outlet_events: Any, asset: Asset, ctx: RunContext, rows_written: int) -> None:
    """Tell the Asset's consumers which day changed and how much was written (the task's
    ``outlet_events`` from its context)."""
    outlet_events[asset].extra = {
        "connector_id": ctx.connector_id,
        "interval_start": ctx.interval_start.isoformat(),
        "interval_end": ctx.interval_end.isoformat(),
        "rows_written": rows_written,
    }
