"""Celery settings for the connectors' workers: Airflow's defaults, with the heavy imports done once.

Point ``[celery] celery_config_options`` here
(``AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=lms_connectors.orchestration.celery_config.CELERY_CONFIG``, as
docker-compose.yaml and ``make cluster`` do). A Celery worker's main process then imports
pandas, great_expectations and the connector before its prefork pool starts, and each task,
forked from a pool process, starts with them (see ``lms_connectors.orchestration.executors``).
"""

from __future__ import annotations

from typing import Any

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import worker_init

# Airflow's own defaults (broker, result backend, queues from the [celery] section), unchanged.
CELERY_CONFIG: dict[str, Any] = dict(DEFAULT_CELERY_CONFIG)


@worker_init.connect
def _preload(**_: Any) -> None:
    # Sent in the worker's main process, before the pool forks its children.
    from lms_connectors.orchestration.executors import preload

    preload()
