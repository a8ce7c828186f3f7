"""The REST API of a running Airflow of the dev stack (``make airflow``, ``make cluster``), as its admin.

What the benchmarks and the end-to-end tests drive the scheduler with: a token from the simple
auth manager's generated password, a connector DAG's runs, a backfill, unpausing, waiting.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests


class AirflowApi:
    """One DAG's runs through Airflow's public REST API, signed in as ``admin``."""

    def __init__(self, url: str, airflow_home: Path, dag_id: str) -> None:
        from devstack.airflow_ui import password

        self.url, self.dag_id = url, dag_id
        r = requests.post(
            f"{url}/auth/token", json={"username": "admin", "password": password(airflow_home) or ""}, timeout=30
        )
        r.raise_for_status()
        self.headers = {"Authorization": f"Bearer {r.json()['access_token']}"}

    def get(self, path: str, **params: Any) -> Any:
        r = requests.get(f"{self.url}/api/v2{path}", params=params, headers=self.headers, timeout=60)
        r.raise_for_status()
        return r.json()

    def send(self, method: str, path: str, body: dict[str, Any], attempts: int = 5) -> Any:
        # Under load (tens of DAGs starting at once) an answer can take longer than the timeout: the
        # writes it sends (unpause, a Variable) are the same sent twice.
        for _ in range(attempts):
            try:
                r = requests.request(method, f"{self.url}/api/v2{path}", json=body, headers=self.headers, timeout=60)
                break
            except requests.Timeout:
                continue
        else:
            raise RuntimeError(f"{method} {path}: no answer in {attempts} attempts")
        if not r.ok:
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:500]}")
        return r.json()

    def runs(self) -> list[dict[str, Any]]:
        return self.get(f"/dags/{self.dag_id}/dagRuns", limit=400, order_by="logical_date")["dag_runs"]

    def unpause(self, timeout: float = 120) -> None:
        """Unpause the DAG once the DAG processor has parsed it."""
        deadline = time.monotonic() + timeout
        while self.dag_id not in {d["dag_id"] for d in self.get("/dags", limit=100)["dags"]}:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.dag_id} not parsed within {timeout:.0f} s")
            time.sleep(1)
        self.send("PATCH", f"/dags/{self.dag_id}", {"is_paused": False})

    def wait(self, done: Callable[[list[dict[str, Any]]], bool], timeout: float, what: str) -> list[dict[str, Any]]:
        """Poll the runs until ``done(runs)``; fail at once if a run failed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = self.runs()
            failed = [r["dag_run_id"] for r in runs if r["state"] == "failed"]
            if failed:
                raise RuntimeError(f"{what}: runs failed: {failed}")
            if done(runs):
                return runs
            time.sleep(0.5)
        raise TimeoutError(f"{what}: not done within {timeout:.0f} s")

    def backfill(self, first: dt.date, last: dt.date, max_active_runs: int) -> None:
        """The operators' guide's replay: every day of [first, last] run (again), ``max_active_runs`` at once."""
        # The scheduler marks a backfill complete a loop after its last run; one at a time per DAG.
        deadline = time.monotonic() + 120
        while any(b["completed_at"] is None for b in self.get("/backfills", dag_id=self.dag_id)["backfills"]):
            if time.monotonic() > deadline:
                raise TimeoutError("a backfill of the DAG is still running")
            time.sleep(0.5)
        self.send(
            "POST",
            "/backfills",
            {
                "dag_id": self.dag_id,
                "from_date": f"{first.isoformat()}T00:00:00Z",
                "to_date": f"{last.isoformat()}T00:00:00Z",
                "reprocess_behavior": "completed",
                "max_active_runs": max_active_runs,
            },
        )
