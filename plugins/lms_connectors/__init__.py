"""LMS content connectors, in layers; each folder's first lines say what it may import.

- ``rules``: pure rules (no I/O);
- ``providers``: the provider seam, one package per provider, the connectors' registry;
- ``warehouse``: Postgres I/O;
- ``privacy``: pseudonym keys, erasure, retention and their commands;
- ``pipeline``: the catalogue and activity pipelines, step by step;
- ``orchestration``: the Airflow glue (DAG factory, tasks, operators, timetable, executors);
- ``health``: the health page in the Airflow UI.

Everything below ``orchestration`` and ``health`` imports without a running Airflow.
"""
