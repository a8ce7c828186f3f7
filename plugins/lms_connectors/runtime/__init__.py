"""The embedded runtime: local Postgres (pgserver), the simulator, Airflow on SQLite."""
