"""The bodies of a connector DAG's tasks: Airflow's context in, the run's stages
(``lms_connectors.pipeline.lifecycle``) called, small values out through XCom.

``config`` derives the run once from Airflow's context (:func:`run_request`) and hands it to the
lifecycle's begin and configure; the other tasks run the steps of their stage through
``lms_connectors.orchestration.steps.run_step``. The DAG factory only declares the tasks and their order.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from airflow.sdk import Variable
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from lms_connectors.orchestration import lineage
from lms_connectors.orchestration.assets import announce
from lms_connectors.orchestration.steps import fail_fast, refuse_unknown_conf, run_step
from lms_connectors.pipeline import lifecycle
from lms_connectors.providers.registry import ConnectorSpec
from lms_connectors.rules.context import RunRequest
from lms_connectors.warehouse.audit import actor_of

log = logging.getLogger(__name__)


def run_key(context: dict[str, Any]) -> str:
    """The key of a DAG run in the warehouse (``ops.sync_runs.run_id``, audit and staging rows)."""
    return f"{context['dag'].dag_id}/{context['run_id']}"


def check_logical_date(logical: dt.datetime | None, start: dt.datetime) -> None:
    """A logical date at midnight names the day the run covers; refuse a run whose interval says otherwise.

    ``airflow dags trigger --logical-date D`` (Airflow 3.3) derives the interval from the time of the
    trigger, not from D: such a run would sync another day than the one its logical date names.
    """
    if logical is None or logical.astimezone(dt.UTC).time() != dt.time() or logical == start:
        return
    day = logical.astimezone(dt.UTC).date()
    raise AirflowFailException(
        f"this run's logical date is {day} but its data interval starts at {start.isoformat()}: "
        f"`airflow dags trigger` computes the interval from the trigger time. To run the day {day}, use "
        f"`airflow backfill create --dag-id <dag> --from-date {day} --to-date {day} --reprocess-behavior completed` "
        "(add --dag-run-conf for parameters), or trigger from the UI or the REST API with that logical date"
    )


def run_request(spec: ConnectorSpec, context: dict[str, Any]) -> RunRequest:
    """The run as Airflow started it: its key, interval (widened by ``initial_load_days``) and overrides."""
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start is None or end is None:
        raise AirflowFailException("this run has no data interval; trigger it with a logical date")
    params = context["params"]
    initial_days = int(params.get("initial_load_days") or 0)
    return RunRequest(
        run_key=run_key(context),
        connector_id=spec.id,
        interval_start=end - dt.timedelta(days=initial_days) if initial_days else start,
        interval_end=end,
        override_mass_archive=bool(params.get("override_mass_archive")),
        delete_unreported=bool(params.get("delete_unreported_rows")),
        approve_healing=bool(params.get("approve_healing")),
    )


def configure(spec: ConnectorSpec, context: dict[str, Any]) -> dict[str, Any]:
    """The run begun (its try recorded before anything can fail), Airflow's conf and logical date
    checked, then the settings Variable configured. A disabled connector's run is skipped."""
    from lms_connectors.warehouse.db import connect

    request = run_request(spec, context)
    raw = Variable.get(spec.variable, default=None)
    with fail_fast(), connect(spec.warehouse_conn_id) as conn:
        lifecycle.begin(conn, request, spec.dag_id)
        refuse_unknown_conf(context)
        check_logical_date(context.get("logical_date"), context["data_interval_start"])
        ctx = lifecycle.configure(conn, request, raw, spec.variable)
    if ctx is None:
        raise AirflowSkipException(f"connector {spec.id} is disabled ({spec.variable}.enabled = false)")
    return ctx.to_xcom()


def activity_ready(spec: ConnectorSpec, cfg: dict[str, Any], waiting_since: dt.datetime, now: dt.datetime) -> bool:
    """Whether the provider's published activity covers the run's whole interval (its freshness is
    "reported"). Not yet: the sensor asks again later, holding no worker slot; ``data_wait_hours``
    after its first check the run fails, saying how far the data goes."""
    from lms_connectors.orchestration.steps import connector_of
    from lms_connectors.rules.context import RunContext

    ctx = RunContext.from_xcom(cfg)
    with fail_fast():
        covered = connector_of(spec).client().activity_covered_until(ctx.interval_start, ctx.interval_end)
    if covered is None or covered >= ctx.interval_end:
        log.info(
            "the provider's activity covers %s to %s (published until %s)",
            ctx.interval_start,
            ctx.interval_end,
            covered or "unsaid",
        )
        return True
    deadline = waiting_since + dt.timedelta(hours=spec.data_wait_hours)
    if now >= deadline:
        raise AirflowFailException(
            f"the provider's activity for {ctx.interval_start:%Y-%m-%d} is published only until {covered.isoformat()} "
            f"after waiting since {waiting_since.isoformat()} (data_wait_hours = {spec.data_wait_hours:g}): nothing "
            "was loaded. Run the day again once the provider has published it"
        )
    log.info(
        "the provider's activity is published until %s, short of %s: asking again in %g s (until %s)",
        covered.isoformat(),
        ctx.interval_end.isoformat(),
        spec.freshness_poke_seconds,
        deadline.isoformat(),
    )
    return False


def extract_progress(spec: ConnectorSpec, cfg: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    (step,) = lifecycle.EXTRACT_STAGE.steps
    _, counts = run_step(spec, cfg, step)
    lineage.report(spec, "extract_progress", counts, context["task"])
    return {k: counts[k] for k in ("records", "suppressed")}


def sync_statistics(spec: ConnectorSpec, cfg: dict[str, Any], context: dict[str, Any], asset: Any) -> dict[str, Any]:
    """Transform, validate and load the interval's learning activity; finish the run and report."""
    from lms_connectors.warehouse.db import connect

    done = {}
    for name in lifecycle.STATISTICS_STAGE.steps:
        ctx, done[name] = run_step(spec, cfg, name)
    counts = done[lifecycle.ACTIVITY.load]
    announce(context["outlet_events"], asset, ctx, counts["progress_rows"] + counts["daily_rows"])
    lineage.report(spec, "sync_statistics", counts, context["task"])
    with connect(spec.warehouse_conn_id) as conn:
        text, pruned = lifecycle.finish(conn, ctx)
    log.info("run report\n%s", text)
    return {"progress": counts, "healing": done[lifecycle.HEALING], "staging_rows_pruned": pruned}


def mark_failed(spec: ConnectorSpec, context: dict[str, Any]) -> None:
    """Record a task's failure in ops.sync_runs, so analysts see it next to the counts, then alert.
    A warehouse that crashed may still be starting: without the record the run's row would stay
    'running', so the write is tried again for about half a minute."""
    from lms_connectors.orchestration.alerts import RunFailedNotifier
    from lms_connectors.warehouse.db import write_when_reachable

    exc = context.get("exception")
    message = f"{context['task_instance'].task_id}: {type(exc).__name__}: {exc}" if exc else "failed"
    try:
        write_when_reachable(spec.warehouse_conn_id, lambda conn: lifecycle.fail(conn, run_key(context), message))
    except Exception:
        log.exception("could not record the failure in ops.sync_runs")
    RunFailedNotifier(spec.id, spec.alerts_conn_id)(context)


def apply_form(spec: ConnectorSpec, context: Any) -> dict[str, Any]:
    """The apply-settings task: the form validated against the Variable, saved (unless a dry run)
    and applied to the catalogue in one transaction; what changed is logged."""
    from lms_connectors.pipeline import admin
    from lms_connectors.rules import settings
    from lms_connectors.warehouse import lms_groups, migrations
    from lms_connectors.warehouse.db import connect

    refuse_unknown_conf(context)
    params = context["params"]
    dry_run = bool(params.get("dry_run"))
    with fail_fast():
        current = settings.parse_settings(Variable.get(spec.variable, default=None), spec.variable)
        changes = {k: params[k] for k in ("languages", "enabled") if params.get(k) is not None}
        if params.get("all_languages"):
            if changes.get("languages"):
                raise settings.SettingsError(
                    f"{spec.variable}: tick 'All languages' or pick languages, not both "
                    f"(picked: {', '.join(changes['languages'])})"
                )
            changes["languages"] = []
        wanted = settings.parse_settings({**current.model_dump(mode="json"), **changes}, spec.variable)
        with connect(spec.warehouse_conn_id) as conn:
            migrations.check_current(conn)
            lms_groups.check_against_lms(conn, wanted, spec.variable)
            if changes and not dry_run:
                Variable.set(spec.variable, wanted.model_dump_json(indent=2))
            result = admin.apply_settings(
                conn,
                spec.id,
                wanted,
                dry_run=dry_run,
                actor=actor_of(context),
                run_id=run_key(context),
            )
    verb = "would archive" if dry_run else "archived"
    log.info(
        "%s%s %d and %s %d courses (languages=%s, enabled=%s); examples archived: %s; unarchived: %s",
        "DRY RUN: " if dry_run else "",
        verb,
        result["archived"],
        "would unarchive" if dry_run else "unarchived",
        result["unarchived"],
        result["languages"] or "all",
        result["enabled"],
        result["archived_titles"],
        result["unarchived_titles"],
    )
    return result
