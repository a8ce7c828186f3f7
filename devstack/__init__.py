"""Development tooling, outside the production package: the embedded stack (pgserver with
passwords, holding the warehouse and Airflow's metadata; the simulators), ``make demo`` and ``make airflow``."""
