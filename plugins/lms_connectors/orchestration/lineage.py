"""OpenLineage: what each sync task read and wrote, for data engineers who run a lineage backend
(Marquez, DataHub, a data catalog).

Each task reports through Airflow's hook lineage collector: as inputs the provider's API resources
(``lms-api://<host>/<path>``) or the staging table it reads, as outputs the warehouse tables
(``lms-warehouse://<host>:<port>/<database>/<schema>/<table>``) with the rows it wrote. The
distribution's provider info registers both schemes (:func:`normalize`, :func:`to_openlineage`): the
OpenLineage provider turns them into datasets named as OpenLineage names them (``https://<host>``
and the path; ``postgres://<host>:<port>`` and ``<database>.<schema>.<table>``, with an
``outputStatistics`` facet holding the row count).

Without the OpenLineage provider (or with it disabled: no transport), Airflow's collector is a
no-op and :func:`report` returns before reading any Connection.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import SplitResult, quote, urlsplit

API_SCHEME = "lms-api"
TABLE_SCHEME = "lms-warehouse"
DEFAULT_PORT = 5432

# What each task reads and writes. Inputs: an API resource of the provider (its ``lineage_paths``)
# or a warehouse table; outputs: warehouse tables, with the count of the task's report naming its rows.
CATALOGUE_API, ACTIVITY_API = "catalogue", "activity"
TASK_LINEAGE: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "sync_catalogue": ((CATALOGUE_API,), {"lms.courses": "rows_written"}),
    "extract_progress": ((ACTIVITY_API,), {"staging.raw_activity": "records"}),
    "sync_statistics": (
        ("staging.raw_activity",),
        {"stats.course_progress": "progress_rows", "stats.course_progress_daily": "daily_rows"},
    ),
}


def api_uri(base_url: str, path: str) -> tuple[str, str]:
    """The asset URI of an API resource, and the API's scheme (http or https) for its namespace."""
    parts = urlsplit(base_url)
    return f"{API_SCHEME}://{parts.netloc}{parts.path.rstrip('/')}{path}", parts.scheme


def table_uri(host: str | None, port: int | None, database: str, table: str) -> str:
    """The asset URI of a warehouse table (``schema.table``); a socket directory as host is quoted."""
    schema, name = table.split(".")
    return f"{TABLE_SCHEME}://{quote(host or 'localhost', safe='')}:{port or DEFAULT_PORT}/{database}/{schema}/{name}"


def normalize(uri: SplitResult) -> SplitResult:
    """Airflow's URI handler for both schemes: a host, and for a table its database, schema and name."""
    if not uri.netloc:
        raise ValueError(f"{uri.scheme}:// needs a host")
    if uri.scheme == TABLE_SCHEME and len(uri.path.split("/")) != 4:
        raise ValueError(f"{TABLE_SCHEME}:// needs /database/schema/table")
    return uri


def to_openlineage(asset: Any, lineage_context: Any = None) -> Any:
    """The OpenLineage dataset of one of our assets (called by the OpenLineage provider)."""
    from airflow.providers.common.compat.openlineage.facet import (
        Dataset,
        OutputDataset,
        OutputStatisticsOutputDatasetFacet,
    )

    parts = urlsplit(asset.uri)
    extra = asset.extra or {}
    if parts.scheme != TABLE_SCHEME:
        return Dataset(namespace=f"{extra.get('api_scheme', 'https')}://{parts.netloc}", name=parts.path)
    _, database, schema, table = parts.path.split("/")
    namespace, name = f"postgres://{parts.netloc}", f"{database}.{schema}.{table}"
    if "rows" not in extra:
        return Dataset(namespace=namespace, name=name)
    facet = OutputStatisticsOutputDatasetFacet(rowCount=int(extra["rows"]))
    return OutputDataset(namespace=namespace, name=name, outputFacets={"outputStatistics": facet})


def report(spec: Any, task_id: str, counts: Mapping[str, Any], context: object) -> None:
    """Report a task's inputs and outputs (:data:`TASK_LINEAGE`) with its counts to the collector."""
    from airflow.sdk import BaseHook
    from airflow.sdk.lineage import NoOpCollector, get_hook_lineage_collector

    collector = get_hook_lineage_collector()
    if isinstance(collector, NoOpCollector):
        return
    reads, writes = TASK_LINEAGE[task_id]
    warehouse = BaseHook.get_connection(spec.warehouse_conn_id)
    port = int(warehouse.port) if warehouse.port else None
    for read in reads:
        if "." in read:
            collector.add_input_asset(context, uri=table_uri(warehouse.host, port, str(warehouse.schema), read))
        else:
            uri, scheme = _api(spec, read)
            collector.add_input_asset(context, uri=uri, asset_extra={"api_scheme": scheme})
    for table, count in writes.items():
        uri = table_uri(warehouse.host, port, str(warehouse.schema), table)
        collector.add_output_asset(context, uri=uri, asset_extra={"rows": int(counts[count])})


def _api(spec: Any, resource: str) -> tuple[str, str]:
    from airflow.sdk import BaseHook

    from lms_connectors import providers

    provider = providers.get(spec.provider)
    conn = BaseHook.get_connection(spec.provider_conn_id)
    path = provider.lineage_paths[resource].format_map(_Extras(conn.extra_dejson))
    return api_uri(provider.base_url(conn), path)


class _Extras(dict[str, Any]):
    """A path's placeholders from the Connection's extras; one it lacks stays as written."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
