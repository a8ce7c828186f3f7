#!/usr/bin/env bash
# First start of the compose Postgres, as its superuser (postgres), whose
# password is used for nothing else afterwards:
# - airflow: Airflow's metadata database and its owner, not a superuser;
# - lms_owner: owns the warehouse database and may create roles (the deploy
#   step creates lms_sync, lms_app, lms_analyst, lms_monitor and the runtime
#   logins lms_connector and lms_health), not a superuser either.
set -euo pipefail
for name in POSTGRES_PASSWORD AIRFLOW_DB_PASSWORD LMS_WAREHOUSE_OWNER_PASSWORD; do
  value="${!name:-}"
  case "${value,,}" in
    ""|change-me|changeme|change_me|secret|password|admin)
      echo "refusing to initialise: $name is unset or a placeholder (see docker/env.example)" >&2; exit 1;;
  esac
  if [ "${#value}" -lt 16 ]; then
    echo "refusing to initialise: $name is shorter than 16 characters" >&2; exit 1
  fi
done
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
     -v airflow_password="$AIRFLOW_DB_PASSWORD" -v owner_password="$LMS_WAREHOUSE_OWNER_PASSWORD" <<'SQL'
CREATE ROLE airflow LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'airflow_password';
CREATE DATABASE airflow OWNER airflow;
CREATE ROLE lms_owner LOGIN NOSUPERUSER NOCREATEDB CREATEROLE PASSWORD :'owner_password';
CREATE DATABASE lms_warehouse OWNER lms_owner;
-- Nobody but the owners connects to these databases unless granted.
REVOKE ALL ON DATABASE airflow FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
