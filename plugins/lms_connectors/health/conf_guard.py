"""A run's conf with a key its DAG does not declare is refused when it is triggered.

Airflow keeps undeclared conf keys as extra params, silently (apache/airflow#29018):
``{"dryrun": false}`` on an apply-settings DAG was accepted and ran as a dry run, and the connector
DAGs' first task refusing it was the first the admin heard of it. This root middleware answers
``POST /api/v2/dags/{dag_id}/dagRuns`` (the UI's Trigger, the REST API, ``airflowctl``) for this
project's DAGs with a 400 naming the unknown keys and the accepted ones, before any run exists.
``airflow dags trigger`` writes the run straight into the metadata database, past the API server:
there the run's first task refuses the conf, as before.
"""

from __future__ import annotations

import json
import re
from typing import Any

from lms_connectors.health.airflow_fixes import Message, Receive, Send, refuse_or_pass
from lms_connectors.rules.run_conf import unknown_conf_keys

_TRIGGER = re.compile(r"/api/v2/dags/(?P<dag_id>[^/]+)/dagRuns$")
# Every DAG this project builds: lms_connector_<id>, its _apply_settings, lms_connectors_<tool>.
_OURS = re.compile(r"lms_connectors?_")


def refusal(body: bytes, accepted: list[str] | None) -> str | None:
    """Why the trigger request ``body`` must be refused, given the DAG's declared params (None: not
    known here, Airflow answers), or None."""
    if accepted is None:
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return None  # Airflow answers a malformed body itself
    conf = doc.get("conf") if isinstance(doc, dict) else None
    return unknown_conf_keys(conf, accepted) if isinstance(conf, dict) else None


def _declared(dag_id: str) -> list[str] | None:
    from airflow.models.serialized_dag import SerializedDagModel

    dag = SerializedDagModel.get_dag(dag_id)
    return None if dag is None else list(dag.params.keys())


class UnknownConfKeys:
    """ASGI root middleware: :func:`refusal` on a trigger request of this project's DAGs."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        trigger = _TRIGGER.search(scope.get("path", "")) if scope.get("method") == "POST" else None
        if scope["type"] != "http" or trigger is None or not _OURS.match(trigger.group("dag_id")):
            await self.app(scope, receive, send)
            return
        from starlette.concurrency import run_in_threadpool

        async def why(body: bytes) -> str | None:
            return refusal(body, await run_in_threadpool(_declared, trigger.group("dag_id")))

        await refuse_or_pass(self.app, scope, receive, send, why)
