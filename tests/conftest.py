"""Test-wide setup. Airflow reads its configuration at import, so the
environment is set here, at module level, before any test imports airflow."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # tests.builders.ROOT too: set before anything imports airflow
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="lms-airflow-test-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(ROOT / "plugins")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["LMS_CONNECTORS_REGISTRY"] = str(ROOT / "tests" / "fixtures" / "connectors.yaml")

from devstack import postgres  # noqa: E402 (imports no airflow)

# Airflow's metadata on Postgres, as in the embedded stack and production: a database of this worker's
# cluster (started by the pg_server fixture, in a short path for the Unix socket limit). Airflow only
# reads the URL at import; nothing connects before the airflow_db fixture has created the database,
# and where no test asks for it (the unit lane) a query fails at once: there is no server.
_PG_PARENT = Path(tempfile.mkdtemp(prefix="lms-pg-"))
_PG_SECRETS = postgres.new_secrets()
METADATA_DB = "lms_airflow"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = postgres.metadata_url(
    str(_PG_PARENT / "data"), METADATA_DB, postgres.AIRFLOW_LOGIN, _PG_SECRETS[postgres.AIRFLOW_LOGIN]
)

# Everything below may import airflow: the environment is set above.
import collections  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402

import pytest  # noqa: E402
import requests  # noqa: E402

from devstack.postgres import Cluster  # noqa: E402
from simulator import launch  # noqa: E402
from tests.builders import (  # noqa: E402
    DAY1,
    PROFILES,
    PROVIDERS,
    SIM_ARGS,
    Dags,
    Profile,
    Warehouse,
    connector_env,
    create_database,
    drop_database,
)


def pytest_configure(config: pytest.Config) -> None:
    # The order below is the work queue's (xdist would sort the files by their number of tests).
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The whole-stack modules first, then the files with the most tests: each file is one unit of
    work for `--dist loadfile`, and a stack module takes minutes as one unit, so started last it ran
    alone while the other worker idled (by test count, the one-test cluster module came last)."""
    files = [item.nodeid.split("::", 1)[0] for item in items]
    counts = collections.Counter(files)
    first_seen = {f: i for i, f in reversed(list(enumerate(files)))}
    order = {
        id(item): (not f.startswith("tests/e2e/"), -counts[f], first_seen[f])
        for item, f in zip(items, files, strict=True)
    }
    items.sort(key=lambda item: order[id(item)])


def pytest_sessionfinish(session: pytest.Session) -> None:
    # The cluster's folder, made at import: empty where no test started the server (the unit lane).
    shutil.rmtree(_PG_PARENT, ignore_errors=True)


@pytest.fixture(scope="session")
def simulators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, launch.SimulatorProcess]]:
    """One simulator per provider, serving the same seeded world in its own API."""
    logs = tmp_path_factory.mktemp("sim")
    started: dict[str, launch.SimulatorProcess] = {}
    try:
        for provider in PROVIDERS:
            with (logs / f"{provider}.log").open("wb") as log:
                started[provider] = launch.start([*SIM_ARGS, "--provider", provider], log)
        yield started
    finally:
        for sim in started.values():
            sim.stop()


@pytest.fixture(scope="session")
def simulator_proc(simulators) -> launch.SimulatorProcess:
    """The OpenClassrooms simulator (tests of that provider's own client and contract)."""
    return simulators["openclassrooms"]


@pytest.fixture
def provider_name() -> str:
    """The provider a test drives; modules that run for every provider override this with params."""
    return "openclassrooms"


@pytest.fixture
def profile(provider_name: str) -> Profile:
    return PROFILES[provider_name]


@pytest.fixture
def sim(simulators, provider_name: str) -> Iterator[launch.SimulatorProcess]:
    """The provider's simulator, back to its seeded state and with no faults, for each test."""
    proc = simulators[provider_name]
    requests.post(f"{proc.url}/_sim/reset", timeout=30).raise_for_status()
    yield proc
    requests.delete(f"{proc.url}/_sim/faults", timeout=10).raise_for_status()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Cluster]:
    """A real Postgres 16 (pgserver) for the whole session, in a short path (Unix socket limit),
    secured as the embedded stack is: every login needs its password."""
    data_dir = _PG_PARENT / "data"
    cluster = Cluster(postgres.start(data_dir), _PG_SECRETS)
    postgres.secure(data_dir, cluster)
    yield cluster
    if "airflow.settings" in sys.modules:
        # Airflow's pooled metadata connections closed first: stopped under them, they print errors at exit.
        sys.modules["airflow.settings"].dispose_orm()
    postgres.stop(data_dir)
    shutil.rmtree(_PG_PARENT, ignore_errors=True)


@pytest.fixture(scope="session")
def template_db(pg_server, simulators) -> str:
    """A database deployed by its owner (migrations, runtime logins) with the LMS seed of every
    simulator (the same users; each provider's group), cloned per test."""
    from devstack.seed import seed_lms

    with pg_server.connect(autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS lms_template")
    postgres.ensure_database(pg_server, "lms_template")
    postgres.deploy(pg_server, "lms_template")
    with pg_server.connect(postgres.OWNER, "lms_template") as conn:
        for sim in simulators.values():
            seed_lms(conn, requests.get(f"{sim.url}/_sim/lms-seed", timeout=30).json())
    return "lms_template"


@pytest.fixture
def make_warehouse(pg_server, template_db) -> Iterator[Callable[[], Warehouse]]:
    """Fresh, migrated and seeded warehouse databases, dropped after the test."""
    made: list[Warehouse] = []

    def make() -> Warehouse:
        made.append(create_database(pg_server, template_db))
        return made[-1]

    yield make
    for wh in made:
        drop_database(pg_server, wh)


@pytest.fixture(scope="module")
def module_warehouse(pg_server, template_db) -> Iterator[Warehouse]:
    """One warehouse for a module whose tests only read or roll back."""
    wh = create_database(pg_server, template_db)
    yield wh
    drop_database(pg_server, wh)


@pytest.fixture
def warehouse(make_warehouse) -> Warehouse:
    return make_warehouse()


@pytest.fixture(scope="session")
def day_one(dagbag, simulators, pg_server, template_db) -> Callable[[str], Warehouse]:
    """``day_one(provider)``: a database holding the provider's warehouse after its first day (DAY1)
    run through its DAG with the default settings, on its seeded simulator. Run once per worker and
    provider; a template the tests copy (keep no session open on it)."""
    made: dict[str, Warehouse] = {}

    def template(provider: str) -> Warehouse:
        if provider not in made:
            sim = simulators[provider]
            requests.post(f"{sim.url}/_sim/reset", timeout=30).raise_for_status()
            wh = create_database(pg_server, template_db)
            with pytest.MonkeyPatch.context() as mp:
                for key, value in connector_env(sim, wh).items():
                    mp.setenv(key, value)
                assert Dags(dagbag, PROFILES[provider]).run(DAY1) == "success"
            with pg_server.connect(autocommit=True) as conn:
                # A template has no session: the run's pooled ones, if any remain, are closed.
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                    (wh.dbname,),
                )
            made[provider] = wh
        return made[provider]

    return template


@pytest.fixture
def after_day_one(day_one, profile, warehouse, pg_server) -> None:
    """The test's warehouse as the provider's first day left it (:func:`day_one`): a copy of the same
    rows, with the same xmin, in 0.1 s instead of a run of 3-6 s. For a test whose first step is
    that day's run with the default settings, before it changes anything."""
    template = day_one(profile.provider)
    drop_database(pg_server, warehouse)
    create_database(pg_server, template.dbname, warehouse.dbname)


@pytest.fixture(scope="session")
def airflow_db(pg_server) -> str:
    """Airflow's metadata database of this worker, created by its own login and migrated (about 2 s on
    Postgres): its name."""
    from airflow.utils import db

    postgres.metadata_database(pg_server, METADATA_DB)
    db.initdb()
    return METADATA_DB


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    from devstack.dag_test import sync_once

    sync_once()

    return DagBag(dag_folder=str(ROOT / "dags"))


@pytest.fixture
def dags(dagbag, profile):
    """The DAGs of the provider a test drives: ``dags.run(day, **conf)``, ``dags.dag``, ``dags.admin``."""
    return Dags(dagbag, profile)


@pytest.fixture
def airflow_env(monkeypatch, sim, warehouse) -> dict:
    """The provider's Connections and settings in the environment; returns the settings."""
    env = connector_env(sim, warehouse)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return json.loads(env[PROFILES[sim.provider].var_env])
