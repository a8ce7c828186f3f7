"""Airflow DAGs: one per connector of include/connectors.yaml (see lms_connectors.orchestration.dag_factory).

The words "airflow" and "dag" above also keep the DAG processor's safe mode
from skipping this file.
"""

from lms_connectors.orchestration.dag_factory import build_all

globals().update(build_all())
