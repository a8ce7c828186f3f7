"""Pure rules: record guard, encodings, time-spent rules, settings, the run context, validation.

May import: lms_connectors.rules
Never imports: airflow, psycopg, psycopg2, sqlalchemy, requests, httpx, urllib3, socket, subprocess, shutil (no I/O: the rules take values and return values)
"""
