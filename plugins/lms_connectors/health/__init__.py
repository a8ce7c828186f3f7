"""The connector health page, a FastAPI app mounted in the Airflow UI (read-only).

May import: lms_connectors.rules, lms_connectors.providers, lms_connectors.warehouse, lms_connectors.health
Never imports: requests
"""
