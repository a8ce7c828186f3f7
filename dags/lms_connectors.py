"""Airflow DAGs: one per connector of include/connectors.yaml (see lms_connectors.orchestration.dag_factory).

The words "airflow" and "dag" above also keep the DAG processor's safe mode
from skipping this file.
"""

from airflow.sdk import get_parsing_context

from lms_connectors.orchestration.dag_factory import build_all

# A task's process builds its own DAG only (the DAG processor, every one).
globals().update(build_all(only=get_parsing_context().dag_id))
