"""docker-compose.yaml, checked without a Docker engine: structure, references,
versions against the lock, and the names the code reads."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack import stack
from lms_connectors.orchestration import compose_init
from lms_connectors.providers.registry import load_registry

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
    "simulator-linkedin-learning",
    "simulator-skillsoft-percipio",
    "xapi",
}
SIMULATORS = {
    "simulator": "openclassrooms",
    "simulator-linkedin-learning": "linkedin_learning",
    "simulator-skillsoft-percipio": "skillsoft_percipio",
}
LONG_RUNNING = SERVICES - {"airflow-init"}
REGISTRY = load_registry(ROOT / "include" / "connectors.yaml")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def locked(package: str) -> str:
    match = re.search(rf"^{re.escape(package)}==([^\s\\]+)", (ROOT / "requirements.lock").read_text(), re.M)
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
    base = re.search(r"^FROM apache/airflow:(\S+)-python(\S+) AS airflow$", dockerfile, re.M)
    assert base, "the image must be built from apache/airflow:<version>-python<version>"
    assert base.group(1) == locked("apache-airflow")
    assert base.group(2) == "3.11"
    assert re.search(r"^RUN pip install .*-r /opt/airflow/requirements\.lock$", dockerfile, re.M)
    assert locked("apache-airflow-providers-celery") and locked("redis")
    for name, svc in compose["services"].items():
        if name.startswith("airflow-"):
            assert svc["build"] == {"context": ".", "target": "airflow"}
            assert svc["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
            # The Celery settings the cluster test runs with: heavy imports before the pool forks.
            options = svc["environment"]["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"]
            module, _, name = options.rpartition(".")
            assert (ROOT / "plugins" / (module.replace(".", "/") + ".py")).exists() and name == "CELERY_CONFIG"
            # The connectors are the image's wheel: nothing of the checkout's package is mounted or on the path.
            mounts = {v.split(":")[1] for v in svc["volumes"]}
            assert {"/opt/airflow/dags", "/opt/airflow/include/connectors.yaml"} <= mounts
            assert not any("plugins" in m for m in mounts) and "PYTHONPATH" not in svc["environment"]
            assert svc["environment"]["AIRFLOW__CORE__TEST_CONNECTION"] == "Enabled"
            # Parsed as often as in the embedded stack, whose interval bench.airflow measured.
            interval = stack.PARSE_INTERVAL
            assert svc["environment"][interval] == stack.PARSE_SECONDS


def test_commands_match_the_airflow_cli(compose):
    services = compose["services"]
    assert services["airflow-apiserver"]["command"] == "api-server"
    assert services["airflow-scheduler"]["command"] == "scheduler"
    assert services["airflow-dag-processor"]["command"] == "dag-processor"
    assert services["airflow-triggerer"]["command"] == "triggerer"
    assert services["airflow-worker"]["command"] == "celery worker"
    init = "\n".join(services["airflow-init"]["command"])
    # The secrets are checked before anything else happens.
    steps = [
        "python -m lms_connectors.orchestration.compose_init --check-secrets",
        "airflow db migrate",
        "python -m lms_connectors.warehouse.deploy",
        "python -m lms_connectors.orchestration.compose_init\n",
    ]
    positions = [init.find(step) for step in steps]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), init
    # The deploy step logs in as the owner; its password reaches no other service.
    assert "user=lms_owner" in init
    for name, svc in services.items():
        env = svc.get("environment") or {}
        if name not in ("airflow-init", "postgres"):
            assert "LMS_WAREHOUSE_OWNER_PASSWORD" not in env, name


def test_init_gets_every_name_the_code_reads(compose):
    env = compose["services"]["airflow-init"]["environment"]
    for name in compose_init.required_env(REGISTRY):
        assert name in env, f"airflow-init does not pass {name}"
    # The optional ones too (a provider's extras that have a default).
    for spec in REGISTRY:
        for name in compose_init.provider_env(spec).values():
            assert name in env, f"airflow-init does not pass {name}"
    # Every ${VAR} the file needs is documented in docker/env.example.
    example = env_example()
    # "$${X}" is an escaped "$", expanded by the container's shell, not by compose.
    for var in set(re.findall(r"(?<!\$)\$\{([A-Z_]+)", COMPOSE.read_text())):
        assert var in example, f"{var} is used by docker-compose.yaml but missing from docker/env.example"


def filled_example() -> dict[str, str]:
    """docker/env.example with every placeholder replaced, as a user would."""
    import secrets

    from cryptography.fernet import Fernet

    env = {k: (secrets.token_urlsafe(32) if v == "change-me" else v) for k, v in env_example().items()}
    env = {k: v for k, v in env.items() if v}  # compose passes an empty variable as empty: unset here
    return env | {"AIRFLOW_FERNET_KEY": Fernet.generate_key().decode()}


def test_the_example_environment_is_refused_until_every_secret_is_set():
    problems = compose_init.secret_problems(env_example(), REGISTRY)
    for name in (*compose_init.SECRETS, "OPENCLASSROOMS_CLIENT_SECRET", "LINKEDIN_LEARNING_CLIENT_SECRET"):
        assert f"{name} is still a placeholder" in problems
    assert compose_init.secret_problems(filled_example(), REGISTRY) == []
    short = compose_init.secret_problems({**filled_example(), "AIRFLOW_JWT_SECRET": "x" * 31}, REGISTRY)
    assert short == ["AIRFLOW_JWT_SECRET is shorter than 32 characters"]
    bad_fernet = compose_init.secret_problems({**filled_example(), "AIRFLOW_FERNET_KEY": "y" * 44}, REGISTRY)
    assert bad_fernet == ["AIRFLOW_FERNET_KEY is not a Fernet key (32 url-safe base64-encoded bytes)"]
    # Names only: a problem report never holds a value.
    env = filled_example() | {"LMS_SYNC_PASSWORD": "tiny"}
    assert all("tiny" not in p for p in compose_init.secret_problems(env, REGISTRY))


def test_postgres_init_refuses_placeholders_and_creates_no_superuser():
    script = (ROOT / "docker" / "postgres-init.sh").read_text()
    assert "refusing to initialise" in script
    creates = re.findall(r"CREATE ROLE (\w+) ([^;]+);", script)
    assert {name for name, _ in creates} == {"airflow", "lms_owner"}
    for _name, options in creates:
        assert "NOSUPERUSER" in options and " SUPERUSER" not in options.replace("NOSUPERUSER", "")


def test_the_ui_is_on_loopback_and_the_simulator_gets_only_its_own_environment(compose):
    services = compose["services"]
    assert services["airflow-apiserver"]["ports"] == ["${AIRFLOW_BIND_ADDRESS:-127.0.0.1}:${AIRFLOW_PORT:-8080}:8080"]
    assert env_example()["AIRFLOW_BIND_ADDRESS"] == "127.0.0.1"
    for name, provider in SIMULATORS.items():
        sim = services[name]
        assert set(sim.get("environment") or {}) <= {"PYTHONPATH"}
        assert "volumes" not in sim and "ports" not in sim
        assert sim["profiles"] == ["demo"]
        assert sim["command"][:2] == ["--provider", provider]
        # The demo URL the init step gives the Connection is this simulator's.
        port = sim["command"][sim["command"].index("--port") + 1]
        base_url = env_example()[f"{provider.upper()}_BASE_URL"]
        assert base_url == f"http://{name}:{port}"
    # The metadata database user is the non-superuser created by postgres-init.sh.
    common = services["airflow-scheduler"]["environment"]
    assert common["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg://airflow:")
    assert services["postgres"]["environment"]["POSTGRES_USER"] == "postgres"


def test_env_example_builds_valid_connections_and_variables():
    """The example values (secrets filled in) give Connections the code accepts and settings that validate."""
    from airflow.models import Connection

    from lms_connectors import providers
    from lms_connectors.privacy.pseudonym import check_key

    env = filled_example()
    connections, variables = compose_init.desired(REGISTRY, env)
    assert set(variables) == {spec.variable for spec in REGISTRY}
    for spec in REGISTRY:
        wanted = {spec.provider_conn_id, spec.warehouse_conn_id, spec.readonly_conn_id, spec.pseudonymisation_conn_id}
        assert set(connections) >= wanted
        provider = providers.get(spec.provider)
        client = provider.client_from_connection(
            Connection(conn_id=spec.provider_conn_id, **connections[spec.provider_conn_id])
        )
        assert client.base_url == env[provider.env_names(spec.id.upper())["base_url"]]
        assert "token_url" not in connections[spec.provider_conn_id]["extra"]
        warehouse = Connection(conn_id=spec.warehouse_conn_id, **connections[spec.warehouse_conn_id])
        assert (warehouse.host, warehouse.schema, warehouse.port, warehouse.login) == (
            "postgres",
            "lms_warehouse",
            5432,
            "lms_connector",
        )
        assert connections[spec.readonly_conn_id]["login"] == "lms_health"
        key = Connection(conn_id=spec.pseudonymisation_conn_id, **connections[spec.pseudonymisation_conn_id])
        assert check_key(key.password, key.conn_id) == env["LMS_PSEUDONYMISATION_KEY"].encode()


def test_linkedin_token_url_reaches_the_connection_when_set():
    from airflow.models import Connection

    from lms_connectors import providers

    spec = next(s for s in REGISTRY if s.provider == "linkedin_learning")
    env = filled_example() | {
        "LINKEDIN_LEARNING_BASE_URL": "https://api.linkedin.com",
        "LINKEDIN_LEARNING_TOKEN_URL": "https://www.linkedin.com/oauth/v2/accessToken",
    }
    connections, _ = compose_init.desired(REGISTRY, env)
    conn = Connection(conn_id=spec.provider_conn_id, **connections[spec.provider_conn_id])
    client = providers.get(spec.provider).client_from_connection(conn)
    assert client.base_url == "https://api.linkedin.com"
    assert client.token_url == "https://www.linkedin.com/oauth/v2/accessToken"


def test_missing_or_invalid_environment_is_refused():
    env = filled_example()
    missing = {k: v for k, v in env.items() if k != "OPENCLASSROOMS_CLIENT_SECRET"}
    with pytest.raises(SystemExit, match="OPENCLASSROOMS_CLIENT_SECRET"):
        compose_init.desired(REGISTRY, missing)
    bad = {**env, "LMS_CONNECTOR_OPENCLASSROOMS_SETTINGS": '{"languages": ["xx"]}'}
    with pytest.raises(SystemExit, match="not valid connector settings"):
        compose_init.desired(REGISTRY, bad)


def test_the_production_image_ships_neither_simulators_nor_development_tooling(compose):
    dockerfile = (ROOT / "Dockerfile").read_text()
    wheel_stage, rest = dockerfile.split("FROM apache/airflow:")
    airflow_stage = rest.split("FROM python:")[0]
    # The wheel is built from the package and its SQL only.
    built = re.findall(r"^COPY (?:--\S+ )*(.+) (\S+)$", wheel_stage, re.M)
    assert sorted(src for sources, _ in built for src in sources.split()) == [
        "CHANGELOG.md",
        "README.md",
        "include/sql",
        "plugins/lms_connectors",
        "pyproject.toml",
    ]
    # The Airflow image: the lock, the wheel, the one DAG file and the registry.
    copied = re.findall(r"^COPY (?:--\S+ )*(\S+) ", airflow_stage, re.M)
    assert sorted(copied) == ["/dist", "dags/lms_connectors.py", "include/connectors.yaml", "requirements.lock"]
    assert re.search(
        r"^RUN pip install --no-cache-dir --no-deps /opt/airflow/dist/lms_connectors-\*\.whl$", airflow_stage, re.M
    )
    # Installed from the run-time lock, every file checked against its hash: no development tooling.
    assert re.search(
        r"^RUN pip install --no-cache-dir --require-hashes -r /opt/airflow/requirements.lock$", airflow_stage, re.M
    )
    installed = _locked(ROOT / "requirements.lock")
    assert installed and not installed & DEVELOPMENT_ONLY, installed & DEVELOPMENT_ONLY
    # What the wheel ships imports nothing it does not ship.
    for path in (ROOT / "plugins" / "lms_connectors").rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        assert not re.search(r"^\s*(from|import) (devstack|simulator|tests|bench)\b", path.read_text(), re.M), rel
    # The demo profile's simulators run their own image.
    for name in SIMULATORS:
        assert compose["services"][name]["build"] == {"context": ".", "target": "simulator"}


# Packages only the development environment has: the test tools and the embedded Postgres.
DEVELOPMENT_ONLY = frozenset(
    {"pytest", "pytest-timeout", "pytest-xdist", "hypothesis", "playwright", "ruff", "pgserver", "execnet"}
)


def _locked(lock) -> set[str]:
    """The packages a lock pins; each must carry its files' hashes."""
    text = lock.read_text()
    blocks = re.findall(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==\S+((?: \\\n\s+--hash=sha256:[0-9a-f]{64})*)", text, re.M)
    assert blocks, lock
    unhashed = [name for name, hashes in blocks if not hashes]
    assert not unhashed, f"{lock.name}: pinned without a hash: {unhashed}"
    return {name.lower() for name, _ in blocks}


def test_both_locks_pin_the_same_versions_with_hashes():
    """make install syncs the development lock, the image and an existing Airflow the run-time one:
    one set of versions, each file verified."""
    pins = {}
    for name in ("requirements.lock", "requirements-dev.lock"):
        text = (ROOT / name).read_text()
        pins[name] = dict(re.findall(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s\\]+)", text, re.M))
        _locked(ROOT / name)
    runtime, dev = pins["requirements.lock"], pins["requirements-dev.lock"]
    assert {k: dev.get(k) for k in runtime} == runtime
    assert {k.lower() for k in set(dev) - set(runtime)} >= {"pytest", "pgserver", "ruff"}
