"""A mass archive waits for a human in Airflow's Required Actions, answered through Airflow's REST API.

The DAG runs for real (``dag.test`` against the simulator and Postgres) and parks the approval task
in ``awaiting_input``; the answer goes through the public API's HITL route, served in-process by
Airflow's own FastAPI app over the same metadata database, as the UI's Required Actions page does.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.builders import DAY1, last_run, remove_course, targets

pytestmark = pytest.mark.integration
DAY2 = DAY1 + dt.timedelta(days=1)
TASK = "sync_catalogue"


@pytest.fixture(scope="module")
def api(airflow_db) -> Any:
    """Airflow's public REST API in-process, signed in as the admin of the simple auth manager."""
    from airflow.api_fastapi.app import create_app, get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi.testclient import TestClient

    client = TestClient(create_app("core"))
    token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))
    client.headers["Authorization"] = f"Bearer {token}"
    return client


class Answerer:
    """Waits for the run's approval request, keeps what the API showed, then answers it."""

    def __init__(self, api: Any, dag_id: str, choice: str | None, before_answer: Callable[[], Any]) -> None:
        self.api, self.dag_id, self.choice, self.before_answer = api, dag_id, choice, before_answer
        self.request: dict[str, Any] | None = None
        self.seen_before_answer: Any = None
        self.answer_status: int | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Answerer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join(timeout=60)

    def _pending(self) -> dict[str, Any] | None:
        r = self.api.get(f"/api/v2/dags/{self.dag_id}/dagRuns/~/hitlDetails")
        r.raise_for_status()
        waiting = [d for d in r.json()["hitl_details"] if d["task_instance"]["state"] == "awaiting_input"]
        return waiting[0] if waiting else None

    def _run(self) -> None:
        try:
            deadline = time.monotonic() + 240
            while (detail := self._pending()) is None:
                if time.monotonic() > deadline:
                    raise TimeoutError("no approval request within 240 s")
                time.sleep(0.5)
            self.request = detail
            self.seen_before_answer = self.before_answer()
            ti = detail["task_instance"]
            if self.choice is None:
                self._expire(ti)
                return
            r = self.api.patch(
                f"/api/v2/dags/{self.dag_id}/dagRuns/{ti['dag_run_id']}/taskInstances/{TASK}/-1/hitlDetails",
                json={"chosen_options": [self.choice], "params_input": {}},
            )
            self.answer_status = r.status_code
        except BaseException as exc:  # reported by the test, which runs the DAG in the main thread
            self.error = exc
            self._unblock()

    def _unblock(self) -> None:
        """Fail whatever still waits, so that the DAG run in the main thread ends and the test reports."""
        with contextlib.suppress(Exception):
            for detail in self.api.get(f"/api/v2/dags/{self.dag_id}/dagRuns/~/hitlDetails").json()["hitl_details"]:
                ti = detail["task_instance"]
                if ti["state"] == "awaiting_input":
                    self.api.patch(
                        f"/api/v2/dags/{self.dag_id}/dagRuns/{ti['dag_run_id']}/taskInstances/{TASK}",
                        json={"new_state": "failed"},
                    )

    @staticmethod
    def _expire(ti: dict[str, Any]) -> None:
        """No answer: move the request's deadline to the past and let the scheduler's sweep resolve it."""
        from airflow.jobs.job import Job
        from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session
        from sqlalchemy import update

        with create_session() as session:
            session.execute(
                update(TaskInstance)
                .where(TaskInstance.id == uuid.UUID(ti["id"]))
                .values(trigger_timeout=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
            )
        SchedulerJobRunner(job=Job()).check_awaiting_input_timeouts()


@pytest.fixture
def shrunk(dags, profile, airflow_env, warehouse, sim) -> dict[str, Any]:
    """A synced catalogue, then the provider drops half of it: the next run needs approval."""
    assert dags.run(DAY1) == "success"
    before = targets(warehouse)
    ids = sorted(c[1] for c in before["lms.courses"])
    gone = set(ids[: len(ids) // 2])
    for cid in gone:
        remove_course(sim, profile.world_id(cid))
    active = {c[1]: c[4] for c in before["lms.courses"] if c[13]}
    return {"before": before, "gone": gone, "active": active}


def _status(warehouse) -> tuple[str, Any]:
    return warehouse.rows(
        "SELECT status, counts -> 'approve_catalogue_change' FROM ops.sync_runs ORDER BY started_at DESC LIMIT 1"
    )[0]


def test_approve_applies_exactly_the_change_that_was_shown(dags, api, warehouse, shrunk):
    with Answerer(api, dags.dag.dag_id, "Approve", lambda: (_status(warehouse), targets(warehouse))) as answerer:
        state = dags.run(DAY2)
    assert answerer.error is None, answerer.error
    assert answerer.answer_status == 200
    # While it waited: the request said what and how many, the run said so, nothing had changed.
    body = answerer.request["body"]
    gone = shrunk["gone"]
    active = shrunk["active"]
    shown = sorted(active[c] for c in gone if c in active)
    assert f"{len(shown)} of {len(active)} active courses" in body
    # As text: the provider's title escaped for the Markdown the prompt is rendered from.
    assert re.sub(r"\\(.)", r"\1", body).count(shown[0]) >= 1
    (status, request), seen = answerer.seen_before_answer
    assert status == "awaiting_approval" and request["decision"] == "pending"
    assert seen == shrunk["before"]
    # Approved: exactly the shown courses archived, learning data kept.
    assert state == "success"
    after = targets(warehouse)
    removed = {r[1] for r in after["lms.courses"] if "removed_by_provider" in r[12]}
    assert removed == gone
    assert set(shrunk["before"]["stats.course_progress_daily"]) <= set(after["stats.course_progress_daily"])
    status, request = _status(warehouse)
    assert status == "success"
    assert (request["decision"], request["by"]) == ("approved", "admin")
    assert request["plan"]["provider_archivals"] == len(shown)
    # The approver is on record in the audit log, with the run.
    assert warehouse.rows("SELECT actor, action, details ->> 'decision' FROM ops.audit_log") == [
        ("admin", "approval", "approved")
    ]


@pytest.mark.parametrize("choice", ["Reject", None], ids=["rejected", "no-answer-before-the-timeout"])
def test_reject_or_no_answer_ends_the_run_with_nothing_changed(dags, api, warehouse, shrunk, choice):
    with Answerer(api, dags.dag.dag_id, choice, lambda: None) as answerer:
        state = dags.run(DAY2)
    assert answerer.error is None, answerer.error
    assert state == "failed"
    assert targets(warehouse) == shrunk["before"]
    run = last_run(warehouse)
    assert run["status"] == "rejected"
    assert _status(warehouse)[0] == "rejected"
    request = _status(warehouse)[1]
    if choice == "Reject":
        assert run["error"] == "mass archive rejected by admin: nothing changed"
        assert (request["decision"], request["by"]) == ("rejected", "admin")
    else:
        assert "no answer within 24 h: nothing changed" in run["error"]
        assert (request["decision"], request["by"]) == ("timed out", None)


def test_the_override_parameter_still_applies_without_asking(dags, warehouse, shrunk):
    """Scripted use: the run parameter skips the question (no answerer: a question would hang)."""
    assert dags.run(DAY2, override_mass_archive=True) == "success"
    run = last_run(warehouse)
    assert run["status"] == "success" and run["override_mass_archive"] is True
    removed = {r[1] for r in targets(warehouse)["lms.courses"] if "removed_by_provider" in r[12]}
    assert removed == shrunk["gone"]
    assert _status(warehouse)[1] is None
