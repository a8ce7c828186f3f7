"""A connector run's whole life, declared once: its stages in order, the steps of each, and what
happens around them (begin, settings, the approval wait, finish, report, prune, failure).

A stage is what a DAG task runs; the Airflow layer maps each task to the stage of its name and to
the calls below, and nothing else: the order of the steps, the approval between the catalogue's
validation and its load, and the run's row in ``ops.sync_runs`` are written here only. The
benchmark and the tests run a day through :func:`run_day`, the same calls in the same order.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from lms_connectors.pipeline import ACTIVITY, CATALOGUE, HEALING, Connector, run
from lms_connectors.rules.context import RunContext, RunRequest

if TYPE_CHECKING:
    import psycopg

    from lms_connectors.pipeline.catalogue import ArchivePlan

log = logging.getLogger(__name__)

# The wait for a human between the catalogue's validation and its load, timed in ops.sync_runs like
# a step.
APPROVAL = "approve_catalogue_change"


@dataclasses.dataclass(frozen=True)
class Stage:
    """One task of a connector's DAG: its id and the steps it runs, in order."""

    name: str
    steps: tuple[str, ...] = ()


# Five tasks, not eleven: each task start cost 2-6 s through the scheduler, and a boundary inside the
# catalogue or the statistics bought no retry a data engineer could use (every step starts from the
# run's own staging rows, so a retry of the task redoes exactly what a retry of a step would).
START = Stage("config")
CATALOGUE_STAGE = Stage(
    "sync_catalogue", (CATALOGUE.extract, CATALOGUE.transform, CATALOGUE.validate, APPROVAL, CATALOGUE.load)
)
# The provider's activity published for the whole interval ("reported" freshness): a sensor.
WAIT_FOR_ACTIVITY = Stage("wait_for_activity")
EXTRACT_STAGE = Stage("extract_progress", (ACTIVITY.extract,))
STATISTICS_STAGE = Stage("sync_statistics", (ACTIVITY.transform, ACTIVITY.validate, ACTIVITY.load, HEALING))
RUN: tuple[Stage, ...] = (START, CATALOGUE_STAGE, WAIT_FOR_ACTIVITY, EXTRACT_STAGE, STATISTICS_STAGE)
STAGE_STEPS: dict[str, tuple[str, ...]] = {stage.name: stage.steps for stage in RUN}
assert [s for stage in RUN for s in stage.steps if s != APPROVAL] == [*CATALOGUE.steps, *ACTIVITY.steps, HEALING]


def begin(conn: psycopg.Connection, request: RunRequest, dag_id: str) -> None:
    """The run's row in ``ops.sync_runs``, before anything can fail: a new try starts from an empty one
    (the warehouse schema checked current first)."""
    from lms_connectors.warehouse import migrations, runs

    migrations.check_current(conn)
    runs.start_run(conn, request, dag_id)


def configure(conn: psycopg.Connection, request: RunRequest, raw_settings: Any, variable: str) -> RunContext | None:
    """The settings validated (the Variable's value, then the LMS group and author) and recorded in the
    run's row: the run's context. A disabled connector archives every course and its run ends
    ``skipped``: None."""
    from lms_connectors.pipeline import admin
    from lms_connectors.rules import settings
    from lms_connectors.warehouse import lms_groups, runs

    parsed = settings.parse_settings(raw_settings, variable)
    lms_groups.check_against_lms(conn, parsed, variable)
    ctx = request.with_settings(parsed)
    runs.record_settings(conn, ctx.run_key, parsed.model_dump(mode="json"))
    if parsed.enabled:
        return ctx
    # A Variable edited directly takes effect here too.
    admin.apply_settings(conn, request.connector_id, parsed, run_id=ctx.run_key)
    runs.finish_run(conn, ctx.run_key, "skipped", "connector disabled")
    return None


def catalogue_change(conn: psycopg.Connection, ctx: RunContext, connector: Connector) -> ArchivePlan | None:
    """After the catalogue's validation: the change its load would make, when it archives more of the
    catalogue than the settings allow and the run does not override that (recorded as awaiting a
    decision); None when the load may go on at once."""
    from lms_connectors.pipeline import catalogue
    from lms_connectors.warehouse import runs

    plan = catalogue.archive_plan(
        conn, ctx.run_key, ctx.connector_id, ctx.settings, ctx.interval_end, connector.provider
    )
    if not plan.needs_approval or ctx.override_mass_archive:
        return None
    runs.await_approval(
        conn, ctx.run_key, {"plan": plan.to_dict(), "timeout_hours": ctx.settings.approval_timeout_hours}
    )
    return plan


def decide(conn: psycopg.Connection, run_key: str, decision: str, by: str | None) -> tuple[str | None, str | None]:
    """A human's answer to the approval ("approved", "rejected" or "timed out"), recorded (committed
    before the caller fails the run). Returns the approved change's digest, or the message the run
    ends with when nothing may change."""
    from lms_connectors.warehouse import runs

    request = runs.approval_request(conn, run_key) or {}
    messages = {
        "approved": None,
        "rejected": f"mass archive rejected by {by}: nothing changed",
        "timed out": f"mass archive not approved, no answer within {request.get('timeout_hours'):g} h: nothing changed",
    }
    message = messages[decision]
    runs.record_decision(conn, run_key, decision, by, message)
    return (None, message) if message else (request["plan"]["digest"], None)


def finish(conn: psycopg.Connection, ctx: RunContext) -> tuple[str, int]:
    """The run ended well: its row says so; returns its report (a table of every step's figures) and
    the staging rows pruned past the settings' retention."""
    from lms_connectors.warehouse import reporting, runs

    runs.finish_run(conn, ctx.run_key, "success")
    text = reporting.run_table(conn, ctx.run_key)
    pruned = reporting.prune_staging(conn, ctx.settings.staging_retention_days, ctx.interval_end)
    return text, pruned


def fail(conn: psycopg.Connection, run_key: str, message: str) -> None:
    """A stage failed: the run's row says which and why, next to its counts."""
    from lms_connectors.warehouse import runs

    runs.fail_run(conn, run_key, message[:4000])


def run_day(
    connect: Callable[[], Any],
    request: RunRequest,
    raw_settings: Any,
    variable: str,
    connector: Connector,
    *,
    dag_id: str,
    approve: Callable[[ArchivePlan], bool] = lambda plan: False,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """A whole run outside Airflow, stage by stage as the DAG runs it (``connect``: a new warehouse
    connection, one per stage as each task has its own). Yields each step's name and counts; a
    mass archive goes on when ``approve(plan)`` says so, else the run ends ``rejected``."""
    with connect() as conn:
        begin(conn, request, dag_id)
        ctx = configure(conn, request, raw_settings, variable)
    if ctx is None:
        return
    approved: str | None = None
    for stage in RUN[1:]:
        for step in stage.steps:
            with connect() as conn:
                if step != APPROVAL:
                    yield step, run(step, conn, ctx, connector, approved_digest=approved)
                    continue
                plan = catalogue_change(conn, ctx, connector)
                if plan is None:
                    continue
                approved, message = decide(conn, ctx.run_key, "approved" if approve(plan) else "rejected", "run_day")
                if message:
                    return
    with connect() as conn:
        text, _ = finish(conn, ctx)
    log.info("run report\n%s", text)
