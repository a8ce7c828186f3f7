"""Executors whose task processes start with the connector's heavy imports already done.

Airflow's LocalExecutor and Celery workers start each task with a bare
``os.fork()`` of a long-lived worker process: whatever that process has
imported, the task has too, at no cost. Measured on 2 cores, a task that
imports Airflow's SDK, pandas and great_expectations itself pays 5-14 s
before its first line of work (great_expectations alone is about 7 s, in
each validating task). Importing them once, in the process the workers are
forked from, takes that cost out of every task.

- LocalExecutor: set ``[core] executor`` to
  ``lms_connectors.orchestration.executors.PreloadingLocalExecutor`` (``make airflow`` does).
- Celery: ``[celery] celery_config_options`` =
  ``lms_connectors.orchestration.celery_config.CELERY_CONFIG`` imports the same modules in
  the worker's main process, before its prefork pool starts (``make cluster``
  and the compose file do).

Only imports happen here: no connection, no thread, no file opened.
"""

from __future__ import annotations

import importlib
import logging
import os
import time

from airflow.executors.local_executor import LocalExecutor

log = logging.getLogger(__name__)

# Heaviest first. The connector's own modules bring psycopg, orjson, pydantic and requests; every
# provider package is imported too.
PRELOAD = (
    "pandas",
    "airflow.sdk",
    "airflow.providers.postgres.hooks.postgres",
    "lms_connectors.orchestration.dag_factory",
    "lms_connectors.pipeline.catalogue",
    "lms_connectors.pipeline.progress",
    "lms_connectors.rules.quality",
    "lms_connectors.warehouse.reporting",
)


def preload(modules: tuple[str, ...] = PRELOAD) -> float:
    """Import ``modules`` in this process; return the seconds it took."""
    # great_expectations would otherwise send usage statistics from a thread.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    t0 = time.monotonic()
    for name in modules:
        importlib.import_module(name)
    from lms_connectors import providers
    from lms_connectors.rules import quality

    # The heaviest import, as the validating steps make it (their logging quiet), and the
    # expectations they build.
    quality.import_gx()
    importlib.import_module("great_expectations.expectations")

    # Every provider package there is: adding one needs no change here.
    for name in providers.names():
        providers.get(name)
    seconds = time.monotonic() - t0
    log.info("preloaded %d modules and the providers for task processes in %.1f s", len(modules), seconds)
    return seconds


class PreloadingLocalExecutor(LocalExecutor):
    """The LocalExecutor, with :data:`PRELOAD` imported before it forks its workers."""

    def start(self) -> None:
        preload()
        super().start()
