"""Warehouse I/O: connections, migrations, staging quarantine, run rows, the audit log, reports.

May import: lms_connectors.rules, lms_connectors.warehouse
Never imports: requests
Functions take a psycopg connection.
"""
