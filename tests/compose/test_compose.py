"""docker-compose.yaml, checked without a Docker engine: structure, references,
versions against the lock, and the names the code reads."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from lms_connectors.registry import load_registry
from lms_connectors.runtime import compose_init

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yaml"
SERVICES = {
    "postgres",
    "redis",
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "simulator",
}
LONG_RUNNING = SERVICES - {"airflow-init"}
REGISTRY = load_registry(ROOT / "include" / "connectors.yaml")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def locked(package: str) -> str:
    match = re.search(rf"^{re.escape(package)}==(\S+)$", (ROOT / "requirements.lock").read_text(), re.M)
    assert match, f"{package} is not pinned in requirements.lock"
    return match.group(1)


def env_example() -> dict[str, str]:
    out = {}
    for line in (ROOT / "docker" / "env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key] = value
    return out


def test_every_service_is_there_and_every_reference_resolves(compose):
    services = compose["services"]
    assert set(services) == SERVICES
    for name, svc in services.items():
        for dep in svc.get("depends_on") or {}:
            assert dep in services, f"{name} depends on unknown service {dep}"
    for name in LONG_RUNNING:
        assert "healthcheck" in services[name], f"{name} has no healthcheck"
    assert services["simulator"].get("profiles") == ["demo"]
    for name in ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    # Scaling with --scale needs workers without a fixed name or host port.
    worker = services["airflow-worker"]
    assert "container_name" not in worker and "ports" not in worker
    for volume in {v.split(":")[0] for svc in services.values() for v in svc.get("volumes", [])}:
        if volume.startswith("."):
            assert (ROOT / volume).exists(), f"mounted path {volume} does not exist"
        else:
            assert volume in compose["volumes"], f"named volume {volume} is not declared"


def test_airflow_services_run_celery_with_the_locked_image(compose):
    dockerfile = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM apache/airflow:(\S+)-python(\S+)$", dockerfile, re.M)
    assert base, "the image must be built from apache/airflow:<version>-python<version>"
    assert base.group(1) == locked("apache-airflow")
    assert base.group(2) == "3.11"
    assert re.search(r"^RUN pip install .*-r /opt/airflow/requirements\.lock$", dockerfile, re.M)
    assert locked("apache-airflow-providers-celery") and locked("redis")
    for name, svc in compose["services"].items():
        if name.startswith("airflow-"):
            assert svc["build"] == "."
            assert svc["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
            mounts = {v.split(":")[1] for v in svc["volumes"]}
            assert {"/opt/airflow/dags", "/opt/airflow/plugins", "/opt/airflow/include"} <= mounts


def test_commands_match_the_airflow_cli(compose):
    services = compose["services"]
    assert services["airflow-apiserver"]["command"] == "api-server"
    assert services["airflow-scheduler"]["command"] == "scheduler"
    assert services["airflow-dag-processor"]["command"] == "dag-processor"
    assert services["airflow-triggerer"]["command"] == "triggerer"
    assert services["airflow-worker"]["command"] == "celery worker"
    init = "\n".join(services["airflow-init"]["command"])
    assert "airflow db migrate" in init
    assert "python -m lms_connectors.runtime.compose_init" in init
    warehouse_ids = {spec.warehouse_conn_id for spec in REGISTRY}
    for conn_id in warehouse_ids:
        assert f"python -m lms_connectors.warehouse.migrations --conn-id {conn_id}" in init


def test_init_gets_every_name_the_code_reads(compose):
    env = compose["services"]["airflow-init"]["environment"]
    for name in compose_init.required_env(REGISTRY):
        assert name in env, f"airflow-init does not pass {name}"
    # Every ${VAR} the file needs is documented in docker/env.example.
    example = env_example()
    # "$${X}" is an escaped "$", expanded by the container's shell, not by compose.
    for var in set(re.findall(r"(?<!\$)\$\{([A-Z_]+)", COMPOSE.read_text())):
        assert var in example, f"{var} is used by docker-compose.yaml but missing from docker/env.example"


def test_env_example_builds_valid_connections_and_variables():
    """The example values give Connections the client accepts and settings that validate."""
    from airflow.models import Connection

    from lms_connectors.openclassrooms.hook import client_from_connection

    env = {**env_example(), compose_init.WAREHOUSE_URI_ENV: "postgresql://lms_owner:pw@postgres:5432/lms_warehouse"}
    connections, variables = compose_init.desired(REGISTRY, env)
    assert set(variables) == {spec.variable for spec in REGISTRY}
    for spec in REGISTRY:
        assert set(connections) >= {spec.provider_conn_id, spec.warehouse_conn_id}
        client = client_from_connection(Connection(conn_id=spec.provider_conn_id, **connections[spec.provider_conn_id]))
        assert client.base_url == "http://simulator:8081"
        warehouse = Connection(conn_id=spec.warehouse_conn_id, uri=connections[spec.warehouse_conn_id]["uri"])
        assert (warehouse.host, warehouse.schema, warehouse.port) == ("postgres", "lms_warehouse", 5432)


def test_missing_or_invalid_environment_is_refused():
    env = {**env_example(), compose_init.WAREHOUSE_URI_ENV: "postgresql://u:p@h/db"}
    missing = {k: v for k, v in env.items() if k != "OPENCLASSROOMS_CLIENT_SECRET"}
    with pytest.raises(SystemExit, match="OPENCLASSROOMS_CLIENT_SECRET"):
        compose_init.desired(REGISTRY, missing)
    bad = {**env, "LMS_CONNECTOR_OPENCLASSROOMS_SETTINGS": '{"languages": ["xx"]}'}
    with pytest.raises(SystemExit, match="not valid connector settings"):
        compose_init.desired(REGISTRY, bad)
