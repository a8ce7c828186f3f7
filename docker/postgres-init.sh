#!/usr/bin/env bash
# First start of the compose Postgres: the warehouse database next to Airflow's
# metadata database, owned by a role of its own. The owner may create roles:
# the warehouse migrations create lms_sync, lms_app and lms_analyst.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v owner_password="$LMS_WAREHOUSE_PASSWORD" <<'SQL'
CREATE ROLE lms_owner LOGIN CREATEROLE PASSWORD :'owner_password';
CREATE DATABASE lms_warehouse OWNER lms_owner;
SQL
