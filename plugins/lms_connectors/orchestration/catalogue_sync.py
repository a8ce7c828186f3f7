"""The catalogue task: extract, transform, validate and load the courses, asking a human first
when the change would archive more of the catalogue than the settings allow.

One task, four steps (each its own transaction, timed in ``ops.sync_runs``): a boundary between
them bought no retry a data engineer could use (every step starts from the run's own staging
rows, so a retry of the task redoes exactly what a retry of a step would) and cost 2-6 s of
task start each (docs/BENCHMARKS.md).

A provider glitch that returns a short catalogue must not archive half of it, but a real
withdrawal of many courses must be possible without a re-run: the task asks. After validation it
computes what the load would archive; within ``max_archive_share`` (or with the run parameter
``override_mass_archive``) it loads at once. Above it, the task waits in Airflow's Required
Actions (state ``awaiting_input``, holding no worker slot) with the counts and example titles.
Approve: the load applies exactly that change (the approval is bound to the set of courses; a
different change is refused). Reject, or no answer within ``approval_timeout_hours``: the run
ends with nothing changed and ``ops.sync_runs`` says so (status ``rejected``).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk.exceptions import AirflowFailException

from lms_connectors.orchestration import lineage
from lms_connectors.orchestration.assets import announce
from lms_connectors.orchestration.steps import connector_of, fail_fast, run_step
from lms_connectors.pipeline import lifecycle, scalars
from lms_connectors.providers.registry import ConnectorSpec

log = logging.getLogger(__name__)

APPROVE = "Approve"
REJECT = "Reject"
STEPS = lifecycle.CATALOGUE_STAGE.steps
# The steps before the wait for a human, and the load after it.
BEFORE_APPROVAL = STEPS[: STEPS.index(lifecycle.APPROVAL)]
(LOAD,) = STEPS[STEPS.index(lifecycle.APPROVAL) + 1 :]


class CatalogueSync(HITLOperator):
    """Sync the provider catalogue into the LMS; ask a human before archiving more than allowed."""

    template_fields = (*HITLOperator.template_fields, "run_config")

    def __init__(self, *, run_config: Any, spec: ConnectorSpec, **kwargs: Any) -> None:
        super().__init__(
            subject=f"Connector {spec.id}: archive many courses of the catalogue?",
            options=[APPROVE, REJECT],
            multiple=False,
            # Replaced by the settings' approval_timeout_hours when the task asks; set here so that
            # the DAG's execution_timeout keeps bounding the work before it.
            response_timeout=dt.timedelta(hours=24),
            **kwargs,
        )
        self.run_config = run_config
        self.spec = spec

    def execute(self, context: Any) -> dict[str, Any]:
        from lms_connectors.warehouse.db import connect

        for name in BEFORE_APPROVAL:
            ctx, _ = run_step(self.spec, self.run_config, name)
        hours = ctx.settings.approval_timeout_hours
        with fail_fast(), connect(self.spec.warehouse_conn_id) as conn:
            plan = lifecycle.catalogue_change(conn, ctx, connector_of(self.spec))
        if plan is None:
            return self._load(context, approved_digest=None)
        self.response_timeout = dt.timedelta(hours=hours)
        self.body = _body(plan, hours)
        log.warning("%s: waiting for approval in Required Actions (up to %s h)", plan.describe(), hours)
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        from lms_connectors.rules.context import RunContext
        from lms_connectors.warehouse.db import connect

        ctx = RunContext.from_xcom(self.run_config)
        if "error" not in event:
            self.validate_chosen_options(event["chosen_options"])
        by = _user(event.get("responded_by_user"))
        if "error" in event:
            decision = "timed out"
        else:
            decision = "approved" if event["chosen_options"] == [APPROVE] else "rejected"
        # The decision is committed before the task fails (leaving the connection's block commits).
        with connect(self.spec.warehouse_conn_id) as conn:
            digest, message = lifecycle.decide(conn, ctx.run_key, decision, by)
        if message:
            raise AirflowFailException(message)
        log.info("approved by %s: the load applies exactly the change shown", by)
        return {**self._load(context, digest), "approved_by": by}

    def _load(self, context: Any, approved_digest: str | None) -> dict[str, Any]:
        ctx, merge = run_step(self.spec, self.run_config, LOAD, approved_digest=approved_digest)
        for asset in self.outlets:
            announce(context["outlet_events"], asset, ctx, merge["rows_written"])
        lineage.report(self.spec, "sync_catalogue", merge, self)
        return {**scalars(merge), "approved_digest": approved_digest}


def _user(user: Any) -> str | None:
    if isinstance(user, dict):
        return user.get("name") or user.get("id")
    return getattr(user, "name", None) or getattr(user, "id", None) or (str(user) if user else None)


_MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def markdown_text(value: str) -> str:
    """Provider text shown as itself in a Markdown prompt: on one line, and every ASCII punctuation
    character (CommonMark lets each be escaped) escaped, so no link, image, emphasis or HTML renders."""
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", " ".join(value.split()))


def _body(plan: Any, hours: float) -> str:
    examples = "\n".join(f"- {markdown_text(title)}" for title in plan.examples)
    more = plan.provider_archivals - len(plan.examples)
    return (
        f"The provider's catalogue for this run would archive **{plan.provider_archivals} of "
        f"{plan.active_before} active courses ({plan.share:.0%})**, above `max_archive_share` "
        f"({plan.max_share:.0%}): the provider no longer lists them or changed their status.\n\n"
        f"Examples:\n{examples}\n" + (f"- ... and {more} more\n" if more > 0 else "") + "\n"
        f"**{APPROVE}** applies exactly this change (learning data is kept). **{REJECT}** ends the run with "
        f"nothing changed. Without an answer within {hours:g} h the run ends as rejected."
    )
