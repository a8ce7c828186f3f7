"""LMS content connectors: provider clients, rules and warehouse I/O.

Importable without a running Airflow; the Airflow glue lives in
``lms_connectors.dag_factory`` and the hooks.
"""
