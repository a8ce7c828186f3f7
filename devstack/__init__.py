"""Development tooling, outside the production package: the embedded stack (pgserver with
passwords, the simulators, Airflow on SQLite), ``make demo`` and ``make airflow``."""
