"""The row rules of :mod:`lms_connectors.rules.quality`, checked by great-expectations inside the
warehouse: a SQL data source on a relation, so memory does not grow with it."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from lms_connectors.rules import quality
from lms_connectors.rules.quality import Rule


def database_row_rules(
    reader: Callable[[], Any], schema: str, view: str, key: str, rules: tuple[Rule, ...], most: int
) -> dict[int, Rule] | None:
    """The first :class:`Rule` each failing row of ``schema.view`` breaks, by its ``key`` column,
    checked by great-expectations in the database: per rule one count and a list of at most ``most``
    failing rows, so memory does not grow with the relation. None when a rule fails more rows than
    that: the caller then checks the rows chunk by chunk (:func:`row_rules`), every one listed.

    ``reader`` gives the DB-API connection GX reads with (SQLAlchemy's ``creator``; the caller owns
    and closes it): no connection string, so no password, reaches GX's configuration."""
    import sqlalchemy as sa

    ctx = quality.gx_context()
    name = f"{schema}_{view}"
    with warnings.catch_warnings():
        # GX would have a PostgresDatasource, which requires a connection string with the user in it.
        warnings.filterwarnings("ignore", message="You are using a generic SQLDatasource")
        source = ctx.data_sources.add_or_update_sql(
            f"{name}_database",
            connection_string="postgresql+psycopg://",
            kwargs={"creator": reader, "poolclass": sa.pool.StaticPool},
        )
    asset = source.add_table_asset(f"{name}_rows", table_name=view, schema_name=schema)
    batch = asset.add_batch_definition_whole_table(f"{name}_whole")
    result = quality.listing_failures(
        lambda only: quality.rules_check(batch, rules, only),
        {"result_format": "SUMMARY", "partial_unexpected_count": most, "unexpected_index_column_names": [key]},
    )
    if result is None:
        return {}
    if any((res.result.get("unexpected_count") or 0) > most for res in result.results):
        return None
    return quality.first_broken(result, rules, "partial_unexpected_index_list")
