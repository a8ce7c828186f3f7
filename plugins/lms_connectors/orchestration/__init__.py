"""Airflow glue: the DAG factory, task bodies, operators, timetable, executors, assets, alerts.

May import: lms_connectors.rules, lms_connectors.providers, lms_connectors.warehouse, lms_connectors.privacy, lms_connectors.pipeline, lms_connectors.orchestration
Never imports: psycopg (warehouse work is a pipeline step or a warehouse function)
"""
