"""Small builders for clients, connections and simulator scenarios."""

from __future__ import annotations

import dataclasses
from typing import Any

import requests

from devstack.postgres import HEALTH_LOGIN, SUPERUSER, SYNC_LOGIN, Cluster
from lms_connectors.providers.openclassrooms.client import OpenClassroomsClient, RetryPolicy
from simulator.launch import SimulatorProcess

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
