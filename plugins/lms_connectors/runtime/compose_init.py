"""Connections and Variables from the environment: the ``airflow-init`` step of docker-compose.

For every connector of the registry, reads the environment variables named
by :func:`required_env` and creates what is missing in the Airflow metadata
database:

- Connection ``<warehouse_conn_id>`` from ``LMS_WAREHOUSE_URI``
  (``postgresql://user:password@host:5432/db``);
- Connection ``<provider_conn_id>`` from ``<PREFIX>_BASE_URL``,
  ``<PREFIX>_CLIENT_ID``, ``<PREFIX>_CLIENT_SECRET``,
  ``<PREFIX>_ORGANIZATION_ID`` (``PREFIX`` = the provider, upper case);
- Variable ``lms_connector_<id>`` from ``LMS_CONNECTOR_<ID>_SETTINGS`` (JSON,
  validated), only if the Variable does not exist yet: admins change it
  afterwards in the UI and a restart must not undo their change.

Existing Connections are left as they are unless ``--update-connections``.
Secrets are never printed.

    python -m lms_connectors.runtime.compose_init [--update-connections]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping

from lms_connectors.registry import ConnectorSpec, load_registry

WAREHOUSE_URI_ENV = "LMS_WAREHOUSE_URI"


def provider_env(spec: ConnectorSpec) -> dict[str, str]:
    prefix = spec.provider.upper()
    return {
        "base_url": f"{prefix}_BASE_URL",
        "client_id": f"{prefix}_CLIENT_ID",
        "client_secret": f"{prefix}_CLIENT_SECRET",
        "organization_id": f"{prefix}_ORGANIZATION_ID",
    }


def settings_env(spec: ConnectorSpec) -> str:
    return f"LMS_CONNECTOR_{spec.id.upper()}_SETTINGS"


def required_env(specs: list[ConnectorSpec]) -> list[str]:
    names = [WAREHOUSE_URI_ENV]
    for spec in specs:
        names += [*provider_env(spec).values(), settings_env(spec)]
    return names


def desired(specs: list[ConnectorSpec], env: Mapping[str, str]) -> tuple[dict[str, dict], dict[str, str]]:
    """Pure: the Connections (as Airflow JSON) and Variables the environment asks for."""
    from lms_connectors.settings import ConnectorSettings

    missing = [name for name in required_env(specs) if not env.get(name)]
    if missing:
        raise SystemExit(f"missing environment variables: {', '.join(missing)}")
    connections: dict[str, dict] = {}
    variables: dict[str, str] = {}
    for spec in specs:
        connections[spec.warehouse_conn_id] = {"uri": env[WAREHOUSE_URI_ENV]}
        names = provider_env(spec)
        connections[spec.provider_conn_id] = {
            "conn_type": "http",
            "login": env[names["client_id"]],
            "password": env[names["client_secret"]],
            "extra": json.dumps({"organization_id": env[names["organization_id"]], "base_url": env[names["base_url"]]}),
        }
        raw = env[settings_env(spec)]
        try:
            settings = ConnectorSettings.model_validate_json(raw)
        except ValueError as exc:
            raise SystemExit(f"{settings_env(spec)} is not valid connector settings: {exc}") from exc
        variables[spec.variable] = json.dumps(settings.model_dump(mode="json"), indent=2)
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
            new = Connection(conn_id=conn_id, uri=spec["uri"]) if "uri" in spec else Connection(conn_id=conn_id, **spec)
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
    p = argparse.ArgumentParser(prog="python -m lms_connectors.runtime.compose_init", description=__doc__)
    p.add_argument("--update-connections", action="store_true", help="replace existing Connections")
    args = p.parse_args(argv)
    for line in apply(args.update_connections):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
