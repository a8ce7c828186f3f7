"""Connections and Variables from the environment: the ``airflow-init`` step of docker-compose.

``--check-secrets`` refuses to go on when a secret of the environment is
missing, still a placeholder (``change-me``) or too short, naming the
variables, never their values. Without it, for every connector of the
registry, creates what is missing in the Airflow metadata database:

- Connection ``<warehouse_conn_id>``: the connector's runtime login
  ``lms_connector`` (password ``LMS_SYNC_PASSWORD``) on ``LMS_WAREHOUSE_HOST``
  / ``LMS_WAREHOUSE_DB``;
- Connection ``<readonly_conn_id>``: the health page's read-only login
  ``lms_health`` (``LMS_HEALTH_PASSWORD``);
- Connection ``<pseudonymisation_conn_id>``: the key that pseudonymises
  learner emails (``LMS_PSEUDONYMISATION_KEY``);
- Connection ``<provider_conn_id>`` from ``<PREFIX>_BASE_URL``,
  ``<PREFIX>_CLIENT_ID``, ``<PREFIX>_CLIENT_SECRET`` and the extras the
  provider declares (``Provider.env_names``: ``<PREFIX>_ORGANIZATION_ID``,
  say), ``PREFIX`` being the connector id in upper case;
- Variable ``lms_connector_<id>`` from ``LMS_CONNECTOR_<ID>_SETTINGS`` (JSON,
  validated), only if the Variable does not exist yet: admins change it
  afterwards in the UI and a restart must not undo their change.

The warehouse owner's credentials never become a Connection: the deploy step
(``lms_connectors.warehouse.deploy``) uses them, tasks never see them.
Existing Connections are left as they are unless ``--update-connections``.
Secrets are never printed.

    python -m lms_connectors.orchestration.compose_init [--check-secrets] [--update-connections]
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import sys
from collections.abc import Mapping

from lms_connectors import providers
from lms_connectors.providers.registry import ConnectorSpec, load_registry

WAREHOUSE_HOST_ENV = "LMS_WAREHOUSE_HOST"
WAREHOUSE_DB_ENV = "LMS_WAREHOUSE_DB"
SYNC_PASSWORD_ENV = "LMS_SYNC_PASSWORD"  # noqa: S105 - the name of a variable, not a secret
HEALTH_PASSWORD_ENV = "LMS_HEALTH_PASSWORD"  # noqa: S105 - the name of a variable, not a secret
XAPI_PASSWORD_ENV = "LMS_XAPI_PASSWORD"  # noqa: S105 - the name of a variable, not a secret
KEY_ENV = "LMS_PSEUDONYMISATION_KEY"
SYNC_LOGIN = "lms_connector"
HEALTH_LOGIN = "lms_health"
PLACEHOLDERS = frozenset({"change-me", "changeme", "change_me", "secret", "password", "admin", "todo", "xxx"})
# Secrets airflow-init checks, and the least length of each.
SECRETS: dict[str, int] = {
    "AIRFLOW_DB_PASSWORD": 16,
    "AIRFLOW_FERNET_KEY": 44,
    # Anyone who knows the JWT secret can mint an admin's token.
    "AIRFLOW_JWT_SECRET": 32,
    "AIRFLOW_ADMIN_PASSWORD": 12,
    "LMS_WAREHOUSE_OWNER_PASSWORD": 16,
    SYNC_PASSWORD_ENV: 16,
    HEALTH_PASSWORD_ENV: 16,
    XAPI_PASSWORD_ENV: 16,
    KEY_ENV: 32,
}


def provider_env(spec: ConnectorSpec) -> dict[str, str]:
    """The connector's provider Connection fields -> environment variables (``<CONNECTOR ID>_*``)."""
    return providers.get(spec.provider).env_names(spec.id.upper())


def settings_env(spec: ConnectorSpec) -> str:
    return f"LMS_CONNECTOR_{spec.id.upper()}_SETTINGS"


def required_env(specs: list[ConnectorSpec]) -> list[str]:
    names = [SYNC_PASSWORD_ENV, HEALTH_PASSWORD_ENV, XAPI_PASSWORD_ENV, KEY_ENV]
    for spec in specs:
        provider = providers.get(spec.provider)
        optional = (*provider.optional_extras, *provider.common_extras)
        names += [env for field, env in provider_env(spec).items() if field not in optional]
        names.append(settings_env(spec))
    return names


def secret_problems(env: Mapping[str, str], specs: list[ConnectorSpec]) -> list[str]:
    """What is wrong with each secret of ``env`` (names only, never values)."""
    wanted = dict(SECRETS)
    for spec in specs:
        wanted[provider_env(spec)["client_secret"]] = 1
    problems = []
    for name, least in wanted.items():
        value = env.get(name, "")
        if not value:
            problems.append(f"{name} is not set")
        elif value.strip().lower() in PLACEHOLDERS:
            problems.append(f"{name} is still a placeholder")
        elif len(value) < least:
            problems.append(f"{name} is shorter than {least} characters")
        elif name.endswith("_PASSWORD") and not value.isascii():
            problems.append(f"{name} must be ASCII")
    fernet = env.get("AIRFLOW_FERNET_KEY", "")
    if fernet and not any(p.startswith("AIRFLOW_FERNET_KEY") for p in problems):
        try:
            valid = len(base64.urlsafe_b64decode(fernet.encode())) == 32
        except (binascii.Error, ValueError):
            valid = False
        if not valid:
            problems.append("AIRFLOW_FERNET_KEY is not a Fernet key (32 url-safe base64-encoded bytes)")
    return problems


def desired(specs: list[ConnectorSpec], env: Mapping[str, str]) -> tuple[dict[str, dict], dict[str, str]]:
    """Pure: the Connections (as Airflow JSON) and Variables the environment asks for."""
    from lms_connectors.privacy.pseudonym import check_key
    from lms_connectors.rules.settings import ConnectorSettings

    missing = [name for name in required_env(specs) if not env.get(name)]
    if missing:
        raise SystemExit(f"missing environment variables: {', '.join(missing)}")
    host = env.get(WAREHOUSE_HOST_ENV) or "postgres"
    dbname = env.get(WAREHOUSE_DB_ENV) or "lms_warehouse"
    connections: dict[str, dict] = {}
    variables: dict[str, str] = {}
    for spec in specs:
        connections[spec.warehouse_conn_id] = {
            "conn_type": "postgres",
            "host": host,
            "port": 5432,
            "schema": dbname,
            "login": SYNC_LOGIN,
            "password": env[SYNC_PASSWORD_ENV],
        }
        connections[spec.readonly_conn_id] = {
            **connections[spec.warehouse_conn_id],
            "login": HEALTH_LOGIN,
            "password": env[HEALTH_PASSWORD_ENV],
        }
        try:
            check_key(env[KEY_ENV], spec.pseudonymisation_conn_id)
        except ValueError as exc:
            raise SystemExit(f"{KEY_ENV}: {exc}") from None
        connections[spec.pseudonymisation_conn_id] = {"conn_type": "generic", "password": env[KEY_ENV]}
        provider_conn = providers.get(spec.provider).connection_from_env(env, spec.id.upper())
        connections[spec.provider_conn_id] = {**provider_conn, "extra": json.dumps(provider_conn["extra"])}
        raw = env[settings_env(spec)]
        try:
            settings = ConnectorSettings.model_validate_json(raw)
        except ValueError as exc:
            raise SystemExit(f"{settings_env(spec)} is not valid connector settings: {exc}") from exc
        variables[spec.variable] = json.dumps(settings.model_dump(mode="json"), indent=2)
    from lms_connectors.privacy.retention import METADATA_CONN_ID, METADATA_ENV

    # Retention cleans Airflow's own tables through it: a task may not reach them otherwise.
    if env.get(METADATA_ENV):
        connections[METADATA_CONN_ID] = {"conn_type": "generic", "password": env[METADATA_ENV]}
    return connections, variables


def apply(update_connections: bool = False, env: Mapping[str, str] | None = None) -> list[str]:
    from airflow.models import Connection, Variable
    from airflow.utils.session import create_session

    connections, variables = desired(load_registry(), os.environ if env is None else env)
    done = []
    with create_session() as session:
        for conn_id, spec in connections.items():
            existing = session.query(Connection).filter(Connection.conn_id == conn_id).one_or_none()
            if existing is not None and not update_connections:
                done.append(f"Connection {conn_id}: kept")
                continue
            new = Connection(conn_id=conn_id, **spec)
            if existing is not None:
                session.delete(existing)
                session.flush()
            session.add(new)
            done.append(f"Connection {conn_id}: {'updated' if existing is not None else 'created'}")
    for name, value in variables.items():
        # Variable.get/set outside a task write the metadata DB directly.
        if Variable.get(name, default_var=None) is None:
            Variable.set(name, value)
            done.append(f"Variable {name}: created")
        else:
            done.append(f"Variable {name}: kept (admins own it once it exists)")
    return done


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lms_connectors.orchestration.compose_init", description=__doc__)
    p.add_argument("--update-connections", action="store_true", help="replace existing Connections")
    p.add_argument(
        "--check-secrets", action="store_true", help="only check the secrets of the environment; exit 1 if one is bad"
    )
    args = p.parse_args(argv)
    if args.check_secrets:
        problems = secret_problems(os.environ, load_registry())
        if problems:
            print("refusing to start: " + "; ".join(problems) + ". Set them in .env (see docker/env.example).")
            return 1
        print("secrets: every one is set, not a placeholder and long enough")
        return 0
    for line in apply(args.update_connections):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
