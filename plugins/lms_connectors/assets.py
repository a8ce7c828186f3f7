"""The Assets a connector's loads update, so that downstream work (dashboards, a refresh job) can
be scheduled on the data rather than on a clock.

One catalogue Asset and one statistics Asset per connector. The URI names the warehouse
Connection, the table and the connector; it is built from the registry alone (no I/O at parse
time). Each load attaches the run's interval and the rows it wrote to its Asset event.
"""

from __future__ import annotations

from airflow.sdk import Asset

from lms_connectors.registry import ConnectorSpec


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
