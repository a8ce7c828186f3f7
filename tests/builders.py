"""Small builders for clients, connections, warehouses and simulator scenarios.

The one module tests share helpers through: a test module never imports another test module
(nor ``conftest``), so what two of them need lives here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import os
import re
import socket
import tempfile
from pathlib import Path
from typing import Any

import requests

from devstack import postgres
from devstack.postgres import HEALTH_LOGIN, SUPERUSER, SYNC_LOGIN, Cluster
from lms_connectors import providers
from lms_connectors.providers.openclassrooms.client import OpenClassroomsClient, RetryPolicy
from simulator.launch import SimulatorProcess


@dataclasses.dataclass(frozen=True)
class Profile:
    """How one provider's connector sees the simulators' shared world, so one test drives any of them.

    A new provider adds one entry to :data:`PROFILES` (and one to ``tests/fixtures/connectors.yaml``);
    the provider-parametrized modules then run every test against it.
    """

    provider: str
    # The provider_status of courses that stay active.
    kept: frozenset[str]
    group_id: str
    # A provider course id is this prefix and the world's id (zero-padded to 12 digits when ``padded``).
    course_prefix: str = ""
    padded: bool = False
    # The provider_status stored for the world's kept statuses and for every other one
    # (None: the world's status as it is).
    kept_status: str | None = None
    other_status: str | None = None

    @property
    def dag_id(self) -> str:
        return f"lms_connector_{self.provider}"

    @property
    def admin_dag_id(self) -> str:
        return f"{self.dag_id}_apply_settings"

    @property
    def variable(self) -> str:
        return f"lms_connector_{self.provider}"

    @property
    def var_env(self) -> str:
        return f"AIRFLOW_VAR_{self.variable.upper()}"

    @property
    def conn_env(self) -> str:
        return f"AIRFLOW_CONN_{self.provider.upper()}_DEFAULT"

    def course_id(self, world_id: str) -> str:
        """The provider_course_id of a world course."""
        return f"{self.course_prefix}{int(world_id):012d}" if self.padded else f"{self.course_prefix}{world_id}"

    def world_id(self, provider_course_id: str) -> str:
        return world_id(provider_course_id)

    @property
    def removed_archives(self) -> bool:
        """A course the provider stops listing is archived (else it stays as it was)."""
        return providers.get(self.provider).removed_courses == "archive"

    def status(self, world_status: str) -> str:
        """The provider_status the connector stores for a world status."""
        if self.kept_status is None:
            return world_status
        return self.kept_status if world_status in WORLD_KEPT else str(self.other_status)


WORLD_KEPT = frozenset({"active", "coming-soon", "pre-registration"})
PROFILES = {
    "openclassrooms": Profile("openclassrooms", WORLD_KEPT, "grp-openclassrooms"),
    "linkedin_learning": Profile(
        "linkedin_learning",
        frozenset({"available"}),
        "grp-linkedin-learning",
        course_prefix="urn:li:lyndaCourse:",
        kept_status="available",
        other_status="retired",
    ),
    "skillsoft_percipio": Profile(
        "skillsoft_percipio",
        frozenset({"active"}),
        "grp-skillsoft-percipio",
        course_prefix="5b7e2c1d-9f4a-4e3b-8c6d-",
        padded=True,
        kept_status="active",
        other_status="retired",
    ),
}
# Every provider the package has: modules that run for each take their params from here, so a provider
# without a profile above fails them (KeyError) instead of being skipped.
PROVIDERS = providers.names()

ROOT = Path(__file__).resolve().parent.parent
# The first day of the simulators' world that the DAG tests run.
DAY1 = dt.date(2026, 11, 2)
SIM_SEED = 7
# The pseudonymisation key of every test run (a Connection in the tests' environment).
TEST_KEY = "test-pseudonymisation-key-0123456789abcdef"
SIM_ARGS = [
    "--seed",
    str(SIM_SEED),
    "--courses",
    "120",
    "--learners",
    "300",
    "--start-date",
    "2026-11-01",
    "--days",
    "12",
]
FAST_RETRY = RetryPolicy(
    max_attempts=5, initial_wait=0.01, max_wait=0.05, jitter=0.01, max_retry_after=5, max_total_seconds=30
)


class RecordingSleep:
    """Stands in for time.sleep so tests can assert the waits without paying them."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def make_client(sim: SimulatorProcess, **overrides: Any) -> OpenClassroomsClient:
    kwargs: dict[str, Any] = {"page_size": 25, "retry": FAST_RETRY, "read_timeout": 10}
    kwargs.update(overrides)
    return OpenClassroomsClient(
        kwargs.pop("base_url", sim.url),
        kwargs.pop("client_id", sim.client_id),
        kwargs.pop("client_secret", sim.client_secret),
        kwargs.pop("organization_id", sim.organization_id),
        **kwargs,
    )


def provider_client(sim: SimulatorProcess, **overrides: Any) -> Any:
    """The client of the simulator's provider, built the way a task builds it from its Connection."""
    import json

    from airflow.sdk import Connection

    provider = providers.get(sim.provider)
    fields = provider.connection(sim.url, sim.client_id, sim.client_secret, **sim.extras)
    conn = Connection(
        conn_id=f"{sim.provider}_test",
        conn_type="http",
        login=fields["login"],
        password=fields["password"],
        extra=json.dumps(fields["extra"]),
    )
    return provider.client_from_connection(conn, **{"retry": FAST_RETRY, **overrides})


def world_courses(sim: SimulatorProcess) -> dict[str, dict[str, Any]]:
    """The simulator's world courses by world id (whatever API the simulator serves)."""
    resp = requests.get(f"{sim.url}/_sim/courses", timeout=30)
    resp.raise_for_status()
    return {c["id"]: c for c in resp.json()}


def run_day(dagbag: Any, day: Any, dag_id: str = "lms_connector_openclassrooms", **conf: Any) -> str:
    """Run a connector DAG for the interval [day, day+1): its logical date is the day, as for every run."""
    from devstack.demo import DAY_PARAMS
    from devstack.demo import run_day as demo_run_day

    dag = dagbag.get_dag(dag_id)
    if not conf:
        return demo_run_day(dag, day).state
    return demo_run_day(dag, day, {**DAY_PARAMS, **conf}).state


@dataclasses.dataclass(frozen=True)
class Dags:
    bag: Any
    profile: Profile

    def run(self, day: Any, **conf: Any) -> str:
        return run_day(self.bag, day, self.profile.dag_id, **conf)

    @property
    def dag(self) -> Any:
        return self.bag.get_dag(self.profile.dag_id)

    @property
    def admin(self) -> Any:
        return self.bag.get_dag(self.profile.admin_dag_id)


def set_faults(sim: SimulatorProcess, **faults: Any) -> None:
    requests.put(f"{sim.url}/_sim/faults", json=faults, timeout=10).raise_for_status()


def sim_state(sim: SimulatorProcess) -> dict[str, Any]:
    resp = requests.get(f"{sim.url}/_sim/state", timeout=10)
    resp.raise_for_status()
    return resp.json()


def change_course(sim: SimulatorProcess, course_id: str, **changes: Any) -> dict[str, Any]:
    resp = requests.patch(f"{sim.url}/_sim/courses/{course_id}", json=changes, timeout=10)
    resp.raise_for_status()
    return resp.json()


def remove_course(sim: SimulatorProcess, course_id: str) -> None:
    requests.delete(f"{sim.url}/_sim/courses/{course_id}", timeout=10).raise_for_status()


def add_course(sim: SimulatorProcess, **fields: Any) -> dict[str, Any]:
    resp = requests.post(f"{sim.url}/_sim/courses", json=fields, timeout=10)
    resp.raise_for_status()
    return resp.json()


def add_activity(sim: SimulatorProcess, records: list[dict[str, Any]]) -> None:
    requests.post(f"{sim.url}/_sim/activity", json=records, timeout=10).raise_for_status()


@dataclasses.dataclass(frozen=True)
class Warehouse:
    """One test database on the session's Postgres cluster (reached through its Unix socket).

    ``dsn`` and ``connect()`` log in as the superuser, to set up and inspect;
    ``sync_dsn`` and ``airflow_conn()`` as the connector's runtime login, the
    one the DAG's tasks use.
    """

    cluster: Cluster
    dbname: str

    @property
    def socket_dir(self) -> str:
        return self.cluster.socket_dir

    @property
    def dsn(self) -> str:
        return self.cluster.conninfo(SUPERUSER, self.dbname)

    @property
    def sync_dsn(self) -> str:
        return self.cluster.conninfo(SYNC_LOGIN, self.dbname)

    def airflow_conn(self) -> dict[str, Any]:
        return self.cluster.airflow_conn(SYNC_LOGIN, self.dbname)

    def readonly_conn(self) -> dict[str, Any]:
        return self.cluster.airflow_conn(HEALTH_LOGIN, self.dbname)

    def connect(self, login: str = SUPERUSER, **kwargs: Any):
        return self.cluster.connect(login, self.dbname, **kwargs)

    def rows(self, sql: str, params: Any = None) -> list[tuple]:
        with self.connect() as conn:
            return conn.execute(sql, params).fetchall()

    def scalar(self, sql: str, params: Any = None) -> Any:
        return self.rows(sql, params)[0][0]

    def execute(self, sql: str, params: Any = None) -> int:
        with self.connect() as conn:
            return conn.execute(sql, params).rowcount


def set_history(sim: SimulatorProcess, mode: str, as_of: str | None = None) -> None:
    """How the simulator keeps learning activity (snapshots or latest) and its clock."""
    requests.put(f"{sim.url}/_sim/history", json={"mode": mode, "as_of": as_of}, timeout=10).raise_for_status()


def world_id(provider_course_id: str) -> str:
    """The world's id in a provider's course id: its trailing digits ('1000084',
    'urn:li:lyndaCourse:1000084', '5b7e2c1d-9f4a-4e3b-8c6d-000001000084')."""
    digits = re.search(r"(\d+)$", provider_course_id)
    return str(int(digits.group(1))) if digits else provider_course_id


def artifacts_dir() -> Path:
    """Where tests leave files for a person to look at (screenshots, figures): ``LMS_TEST_ARTIFACTS``,
    or a folder under the system's temporary directory; never inside the source tree."""
    path = Path(os.environ.get("LMS_TEST_ARTIFACTS") or Path(tempfile.gettempdir()) / "lms-test-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_db_names = itertools.count()


def create_database(pg_server: Cluster, template: str, name: str | None = None) -> Warehouse:
    """A copy of ``template``, named ``name`` (a new name by default)."""
    name = name or f"lms_test_{next(_db_names)}"
    with pg_server.connect(autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {template} OWNER {postgres.OWNER}")
    return Warehouse(pg_server, name)


def drop_database(pg_server: Cluster, warehouse: Warehouse) -> None:
    with pg_server.connect(autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {warehouse.dbname} WITH (FORCE)")


def connector_env(sim: SimulatorProcess, warehouse: Warehouse) -> dict[str, str]:
    """Connections and the settings Variable of the simulator's connector for DAG runs, through
    Airflow's env secrets (retries made fast, pages small)."""
    profile = PROFILES[sim.provider]
    settings = requests.get(f"{sim.url}/_sim/lms-seed", timeout=30).json()["settings"]
    conn = providers.get(sim.provider).connection(sim.url, sim.client_id, sim.client_secret, **sim.extras)
    conn["extra"] |= {
        "page_size": 25,
        "max_attempts": 4,
        "initial_wait": 0.01,
        "max_retry_after": 1,
        "read_timeout": 10,
        "poll_seconds": 0.05,
    }
    return {
        "AIRFLOW_CONN_LMS_WAREHOUSE": json.dumps(warehouse.airflow_conn()),
        "AIRFLOW_CONN_LMS_WAREHOUSE_READONLY": json.dumps(warehouse.readonly_conn()),
        "AIRFLOW_CONN_LMS_PSEUDONYMISATION_KEY": json.dumps({"conn_type": "generic", "password": TEST_KEY}),
        # Retention and the privacy DAGs reach Airflow's own tables through it (the tests' database).
        "AIRFLOW_CONN_LMS_AIRFLOW_METADATA": json.dumps(
            {"conn_type": "generic", "password": os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]}
        ),
        profile.conn_env: json.dumps(conn),
        profile.var_env: json.dumps(settings),
    }


def courses(warehouse: Warehouse) -> dict[str, dict]:
    """The connector's courses by world id (a provider id ends with it: '1000084', 'urn:li:lyndaCourse:1000084')."""
    rows = warehouse.rows(
        """SELECT provider_course_id, lms_course_id, title, language, provider_status, archive_reasons,
                  is_active, group_id, duration_minutes FROM lms.courses"""
    )
    keys = (
        "lms_course_id",
        "title",
        "language",
        "provider_status",
        "archive_reasons",
        "is_active",
        "group_id",
        "duration_minutes",
    )
    return {world_id(r[0]): dict(zip(keys, r[1:], strict=True)) for r in rows}


# The target tables a run writes, in a stable order, to compare two runs' results. Keyed by provider
# ids: identity values are not gap-free (a rolled-back insert consumes them).
TARGETS = {
    "lms.courses": """SELECT connector_id, provider_course_id, group_id, author_email, title, description, language,
                             provider_status, duration_minutes, launch_url, image_url, provider_updated_at,
                             archive_reasons, is_active, last_synced_at
                      FROM lms.courses ORDER BY 1, 2""",
    "lms.group_catalogue": """SELECT g.group_id, c.provider_course_id, g.in_catalogue, g.in_library
                              FROM lms.group_catalogue g JOIN lms.courses c USING (lms_course_id) ORDER BY 1, 2""",
    "lms.course_tags": """SELECT c.provider_course_id, t.tag FROM lms.course_tags t JOIN lms.courses c USING (lms_course_id)
                          ORDER BY 1, 2""",
    "stats.course_progress": """SELECT c.provider_course_id, p.user_id, p.progress_pct, p.time_spent_minutes, p.started_at,
                                       p.completed_at, p.provider_updated_at
                                FROM stats.course_progress p JOIN lms.courses c USING (lms_course_id) ORDER BY 1, 2""",
    "stats.course_progress_daily": """SELECT d.activity_date, c.provider_course_id, d.user_id, d.progress_pct,
                                             d.time_spent_minutes, d.started_at, d.completed_at, d.provider_updated_at
                                      FROM stats.course_progress_daily d JOIN lms.courses c USING (lms_course_id)
                                      ORDER BY 1, 2, 3""",
}


def targets(warehouse: Warehouse) -> dict[str, list]:
    return {name: warehouse.rows(sql) for name, sql in TARGETS.items()}


def last_run(warehouse: Warehouse) -> dict:
    cols = ("status", "error", "override_mass_archive", "courses_archived")
    row = warehouse.rows(f"SELECT {', '.join(cols)} FROM ops.sync_runs ORDER BY started_at DESC LIMIT 1")[0]
    return dict(zip(cols, row, strict=True))


def health_spec() -> Any:
    """A connector as the registry declares it, for the health page's tests."""
    from lms_connectors.providers.registry import ConnectorSpec

    return ConnectorSpec(
        id="openclassrooms",
        provider="openclassrooms",
        provider_conn_id="openclassrooms_default",
        warehouse_conn_id="lms_warehouse",
        schedule="0 0 * * *",
        start_date=dt.date(2026, 11, 1),
    )


def tag_every_course(warehouse: Warehouse) -> int:
    """An admin's tag on every course the connector created: LMS-owned rows no run may touch."""
    return warehouse.execute(
        "INSERT INTO lms.course_tags (lms_course_id, tag) SELECT lms_course_id, 'admin-pick' FROM lms.courses"
    )


def day_request(profile: Profile, day: Any, name: str) -> tuple[Any, Any]:
    """``profile``'s registry entry and a request for its run of ``day`` named ``<dag>/<name>__<day>``."""
    from lms_connectors.providers.registry import load_registry
    from lms_connectors.rules.context import RunRequest

    spec = next(s for s in load_registry() if s.provider == profile.provider)
    start = dt.datetime.combine(day, dt.time(), dt.UTC)
    return spec, RunRequest(f"{spec.dag_id}/{name}__{day}", spec.id, start, start + dt.timedelta(days=1))


def begin_run(profile: Profile, settings: dict[str, Any], day: Any, name: str = "steps") -> tuple[Any, dict[str, Any]]:
    """A run of ``profile``'s connector for ``day`` begun in the warehouse as its config task begins
    one (the Connections from the environment): its registry entry and its context as the tasks get
    it through XCom, for ``lms_connectors.orchestration.steps.run_step``."""
    from lms_connectors.pipeline import lifecycle
    from lms_connectors.warehouse.db import connect

    spec, request = day_request(profile, day, name)
    with connect(spec.warehouse_conn_id) as conn:
        lifecycle.begin(conn, request, spec.dag_id)
        ctx = lifecycle.configure(conn, request, settings, spec.variable)
    assert ctx is not None, "the settings disable the connector"
    return spec, ctx.to_xcom()


def run_outside_airflow(profile: Profile, settings: dict[str, Any], day: Any, name: str = "outside") -> list[str]:
    """A day of ``profile``'s connector run by ``lifecycle.run_day``, the pipeline's own runner,
    without Airflow (the Connections from the environment): the names of the steps it ran. The
    DAG runs the same stages (tests/integration/test_lifecycle.py), in about three times the time."""
    return list(steps_outside_airflow(profile, settings, day, name))


def steps_outside_airflow(
    profile: Profile, settings: dict[str, Any], day: Any, name: str = "outside", **request_fields: Any
) -> dict[str, dict[str, Any]]:
    """:func:`run_outside_airflow`'s run (its request's fields overridden by ``request_fields``):
    each step's counts, by step."""
    from lms_connectors.orchestration.steps import connector_of
    from lms_connectors.pipeline import lifecycle
    from lms_connectors.warehouse.db import connect

    spec, request = day_request(profile, day, name)
    runs = lifecycle.run_day(
        lambda: connect(spec.warehouse_conn_id),
        dataclasses.replace(request, **request_fields),
        settings,
        spec.variable,
        connector_of(spec),
        dag_id=spec.dag_id,
    )
    return dict(runs)
