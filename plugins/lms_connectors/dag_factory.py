"""Builds one Airflow DAG per connector of include/connectors.yaml.

Parse time reads only that YAML file: no database, network or heavy import.
The tasks are thin: they open the Connections and call the steps of
``lms_connectors.catalogue``, passing only small values through XCom.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, CronTriggerTimetable, Param, Variable, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from lms_connectors import catalogue_sync
from lms_connectors.alerts import RunFailedNotifier
from lms_connectors.assets import announce, catalogue_asset, statistics_asset
from lms_connectors.audit import actor_of
from lms_connectors.context import RunContext
from lms_connectors.paths import REGISTRY_FILE
from lms_connectors.registry import ConnectorSpec, load_registry
from lms_connectors.steps import fail_fast, refuse_unknown_conf, scalars, step
from lms_connectors.timetable import DayIntervalTimetable

log = logging.getLogger(__name__)

DOC_MD = """
### LMS connector: {provider}

Daily sync of the **{provider}** catalogue into the LMS group set in the
Variable `{variable}` (JSON: `enabled`, `target_group_id`, `author_email`,
`languages`, thresholds).

`config` validates the settings and checks the warehouse schema is current.

`sync_catalogue` runs the catalogue's steps: `extract_courses` streams the provider
catalogue into run-scoped staging -> `transform_courses` types and checks every record ->
`validate_courses` quarantines rejected rows and applies the batch rules -> `load_courses`
merges into `lms.courses` and the group's catalogue in one transaction. When that load would
archive more than `max_archive_share` of the active catalogue, the task first waits in
**Required Actions** with the counts and example titles: Approve applies exactly that change,
Reject (or no answer within `approval_timeout_hours`) ends the run with nothing changed.

In parallel, `extract_progress` streams the interval's learning activity (learner emails
hashed on the way in); once the catalogue is loaded, `sync_statistics` runs
`transform_progress` (learners matched to LMS users, theoretical time spent) ->
`validate_progress` -> `load_progress` (`stats.course_progress`, newer record wins;
`stats.course_progress_daily`, the interval's days) -> the run report.

Each step is timed under its own name in `ops.sync_runs.step_seconds`; clearing a task reruns
its steps from the run's staging.

Provider Connection: `{provider_conn_id}`. Warehouse Connection: `{warehouse_conn_id}`.
Each run covers the data interval [day, day + 1) in UTC, and its logical date is
that day (manual runs too: trigger with the day at 00:00 UTC). Run history with
counts and timings: `ops.sync_runs`.
"""


# The steps each task runs, by task id, as ops.sync_runs.step_seconds names them. Four tasks, not
# eleven: each task start cost 2-6 s through the scheduler, and a boundary inside the catalogue or
# the statistics bought no retry a data engineer could use (README, Benchmarks).
TASK_STEPS: dict[str, tuple[str, ...]] = {
    "config": (),
    "sync_catalogue": catalogue_sync.STEPS,
    "extract_progress": ("extract_progress",),
    "sync_statistics": ("transform_progress", "validate_progress", "load_progress"),
}


def _run_key(context: dict[str, Any]) -> str:
    return f"{context['dag'].dag_id}/{context['run_id']}"


def _interval(context: dict[str, Any]) -> tuple[dt.datetime | None, dt.datetime | None]:
    return context.get("data_interval_start"), context.get("data_interval_end")


def _check_logical_date(logical: dt.datetime | None, start: dt.datetime) -> None:
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


def build_dag(spec: ConnectorSpec) -> DAG:
    # Not named after the modules the tasks import (a task's local import would shadow them).
    catalogue_out = catalogue_asset(spec)
    statistics_out = statistics_asset(spec)

    def mark_failed(context: dict[str, Any]) -> None:
        """Record the failure in ops.sync_runs so analysts see it next to the counts."""
        from lms_connectors import runs
        from lms_connectors.warehouse.db import connect

        exc = context.get("exception")
        message = f"{context['task_instance'].task_id}: {type(exc).__name__}: {exc}" if exc else "failed"
        try:
            with connect(spec.warehouse_conn_id) as conn:
                runs.fail_run(conn, _run_key(context), message[:4000])
        except Exception:
            log.exception("could not record the failure in ops.sync_runs")
        RunFailedNotifier(spec.id, spec.alerts_conn_id)(context)

    @dag(
        dag_id=spec.dag_id,
        schedule=DayIntervalTimetable(spec.schedule, timezone="UTC"),
        start_date=dt.datetime.combine(spec.start_date, dt.time(), dt.UTC),
        catchup=True,
        max_active_runs=1,
        doc_md=DOC_MD.format(
            provider=spec.provider,
            variable=spec.variable,
            provider_conn_id=spec.provider_conn_id,
            warehouse_conn_id=spec.warehouse_conn_id,
        ),
        tags=list(spec.tags) or ["lms", spec.provider],
        default_args={
            "owner": "data-engineering",
            "retries": spec.retries,
            "retry_delay": dt.timedelta(seconds=spec.retry_delay_seconds),
            "retry_exponential_backoff": True,
            "execution_timeout": dt.timedelta(minutes=spec.execution_timeout_minutes),
            "on_failure_callback": mark_failed,
        },
        params={
            "override_mass_archive": Param(
                False, type="boolean", description="Allow this run to archive more than max_archive_share"
            ),
            "delete_unreported_rows": Param(
                False,
                type="boolean",
                description="Replay: delete stored day rows the provider no longer reports (kept by default; "
                "bounded by max_replay_delete_share; recorded in ops.sync_runs)",
            ),
            "initial_load_days": Param(
                0,
                type="integer",
                minimum=0,
                maximum=366,
                description="Initial load: take this many days of learning activity, ending at the interval end, "
                "in this one run (0 = the run's own day)",
            ),
        },
    )
    def connector() -> None:
        @task
        def config() -> dict[str, Any]:
            """Validate the settings Variable and the LMS side; check the warehouse schema is current."""
            from lms_connectors import runs, settings
            from lms_connectors.warehouse import migrations
            from lms_connectors.warehouse.db import connect

            context = get_current_context()
            start, end = _interval(context)
            if start is None or end is None:
                raise AirflowFailException("this run has no data interval; trigger it with a logical date")
            initial_days = int(context["params"].get("initial_load_days") or 0)
            if initial_days:
                start = end - dt.timedelta(days=initial_days)
            raw = Variable.get(spec.variable, default=None)
            with fail_fast(), connect(spec.warehouse_conn_id) as conn:
                migrations.check_current(conn)
                runs.start_run(
                    conn,
                    run_id=_run_key(context),
                    connector_id=spec.id,
                    dag_id=spec.dag_id,
                    interval_start=start,
                    interval_end=end,
                    override_mass_archive=bool(context["params"].get("override_mass_archive")),
                    delete_unreported=bool(context["params"].get("delete_unreported_rows")),
                )
                refuse_unknown_conf(context)
                _check_logical_date(context.get("logical_date"), context["data_interval_start"])
                parsed = settings.parse_settings(raw, spec.variable)
                settings.check_against_lms(conn, parsed, spec.variable)
                runs.record_settings(conn, _run_key(context), parsed.model_dump(mode="json"))
                if not parsed.enabled:
                    # A Variable edited directly takes effect here too: every course archived.
                    from lms_connectors import admin

                    admin.apply_settings(conn, spec.id, parsed, run_id=_run_key(context))
                    runs.finish_run(conn, _run_key(context), "skipped", "connector disabled")
            if not parsed.enabled:
                raise AirflowSkipException(f"connector {spec.id} is disabled ({spec.variable}.enabled = false)")
            return RunContext(
                run_key=_run_key(context),
                connector_id=spec.id,
                interval_start=start,
                interval_end=end,
                settings=parsed,
                override_mass_archive=bool(context["params"].get("override_mass_archive")),
                delete_unreported=bool(context["params"].get("delete_unreported_rows")),
            ).to_xcom()

        cfg = config()
        courses_loaded = catalogue_sync.CatalogueSync(
            task_id="sync_catalogue",
            run_config=cfg,
            warehouse_conn_id=spec.warehouse_conn_id,
            provider_conn_id=spec.provider_conn_id,
            provider_name=spec.provider,
            connector_id=spec.id,
            outlets=[catalogue_out],
            doc_md="Extract, transform, validate and load the catalogue; waits in Required Actions only when "
            "the load would archive more than max_archive_share.",
        )

        @task
        def extract_progress(cfg: dict[str, Any]) -> dict[str, Any]:
            from lms_connectors import progress, providers, pseudonym

            provider = providers.get(spec.provider)
            with step(spec.warehouse_conn_id, cfg, "extract_progress") as s:
                client = provider.client(spec.provider_conn_id)
                keys = pseudonym.run_keys(s.conn, spec.pseudonymisation_conn_id, spec.id)
                extracted = progress.extract_activity(
                    s.conn,
                    lambda: client.iter_activity_pages(s.ctx.interval_start, s.ctx.interval_end),
                    s.ctx.run_key,
                    keys.learner,
                    provider,
                    suppression_key=keys.suppression,
                )
                s.counts = {
                    **extracted,
                    "key_version": keys.version,
                    "requests": client.stats["requests"],
                    "retries": client.stats["retries"],
                }
            return extracted

        @task(outlets=[statistics_out])
        def sync_statistics(
            cfg: dict[str, Any], extracted: dict[str, Any], courses_loaded: dict[str, Any]
        ) -> dict[str, Any]:
            """Transform, validate and load the interval's learning activity; finish the run and report."""
            from lms_connectors import erasure, progress, providers, pseudonym, reporting, runs
            from lms_connectors.warehouse.db import connect

            provider = providers.get(spec.provider)
            with step(spec.warehouse_conn_id, cfg, "transform_progress") as s:
                # Learners the LMS removed are erased first: their rows must not outlive them.
                removed = erasure.erase_removed_users(s.conn, s.ctx.run_key, spec.id)
                keys = pseudonym.run_keys(s.conn, spec.pseudonymisation_conn_id, spec.id)
                s.counts = {
                    **progress.transform_progress(s.conn, s.ctx.run_key, spec.id, keys.learner, provider),
                    "removed_users_erased": removed,
                }
            transformed = scalars(s.counts)
            with step(spec.warehouse_conn_id, cfg, "validate_progress") as s:
                s.counts = progress.validate_progress(
                    s.conn, s.ctx.run_key, spec.id, s.ctx.settings, s.ctx.interval_start, s.ctx.interval_end
                )
            validated = {**transformed, "rejected": s.counts["rejected"]}
            with step(spec.warehouse_conn_id, cfg, "load_progress") as s:
                s.counts = merge = progress.load_progress(
                    s.conn,
                    s.ctx.run_key,
                    spec.id,
                    s.ctx.interval_start,
                    s.ctx.interval_end,
                    measured=provider.time_spent_rule == "measured",
                    delete_unreported=s.ctx.delete_unreported,
                    max_replay_delete_share=s.ctx.settings.max_replay_delete_share,
                )
                s.also_record.append(lambda conn: runs.record_progress(conn, s.ctx.run_key, validated, merge))
            ctx = s.ctx
            announce(
                get_current_context()["outlet_events"],
                statistics_out,
                ctx,
                merge["progress_rows"] + merge["daily_rows"],
            )
            with connect(spec.warehouse_conn_id) as conn:
                runs.finish_run(conn, ctx.run_key, "success")
                text = reporting.run_table(conn, ctx.run_key)
                pruned = reporting.prune_staging(conn, ctx.settings.staging_retention_days, ctx.interval_end)
            log.info("run report\n%s", text)
            return {"courses": courses_loaded, "progress": merge, "staging_rows_pruned": pruned}

        sync_statistics(cfg, extract_progress(cfg), courses_loaded.output)

    return connector()


ADMIN_DOC_MD = """
### Apply settings now: {provider}

Trigger with the form to change the connector's settings and apply them to
the catalogue at once, without calling the provider:

- **languages**: the languages to keep (OR logic); leave empty to keep the
  Variable's list.
- **all_languages**: tick to remove the language filter (every language
  kept); Languages must then be empty.
- **Connector state** (`enabled`): *Keep as saved* (the default), *Disabled*
  to deactivate (every course archived with reason `connector_deactivated`,
  learning data kept, daily runs skipped) or *Enabled* to reactivate (the
  reason removed; the next daily run re-applies every rule).
- **dry_run** (ticked by default): report what would be archived and
  unarchived, change nothing. Untick it to save and apply.

The choice is validated, saved to the Variable `{variable}` (not in a dry run)
and applied in one transaction that only adds or removes the
`language_filter` and `connector_deactivated` reasons: a course the provider
archives stays archived. Triggered with no values, it re-applies the Variable
as it stands.
"""


ENABLED_CHOICES = {
    "null": "Keep as saved in the Variable",
    "true": "Enabled: sync the catalogue",
    "false": "Disabled: archive every course, keep learning data",
}


def build_admin_dag(spec: ConnectorSpec) -> DAG:
    from lms_connectors.settings import iso_639_1_codes

    codes = list(iso_639_1_codes())

    @dag(
        dag_id=spec.admin_dag_id,
        schedule=None,
        start_date=dt.datetime.combine(spec.start_date, dt.time(), dt.UTC),
        catchup=False,
        max_active_runs=1,
        doc_md=ADMIN_DOC_MD.format(provider=spec.provider, variable=spec.variable),
        tags=[*(spec.tags or ["lms", spec.provider]), "admin"],
        default_args={
            "owner": "lms-admin",
            "retries": 1,
            "retry_delay": dt.timedelta(seconds=spec.retry_delay_seconds),
            "execution_timeout": dt.timedelta(minutes=spec.execution_timeout_minutes),
        },
        params={
            # No enum: a bad code failed the trigger with a schema dump listing all 183 codes twice.
            # The form offers the codes (examples); the task refuses any other in one line.
            "languages": Param(
                None,
                type=["null", "array"],
                items={"type": "string"},
                examples=codes,
                uniqueItems=True,
                title="Languages",
                description="ISO 639-1 codes to keep (OR). Empty = keep the Variable's value. "
                "To allow every language, tick 'All languages' below.",
            ),
            # A choice, not a switch: a boolean renders as a switch whose "off" read as "disabled"
            # while it sent null ("keep"). The UI draws a dropdown for an enum whose first non-null
            # type is a string; the enum still admits only null, true and false.
            "enabled": Param(
                None,
                type=["string", "boolean", "null"],
                enum=[None, True, False],
                values_display=ENABLED_CHOICES,
                title="Connector state",
                description="Keep as saved, enable, or disable (every course archived, learning data kept)",
            ),
            "all_languages": Param(
                False,
                type="boolean",
                title="All languages",
                description="Tick to remove the language filter (every language kept); leave Languages empty",
            ),
            "dry_run": Param(
                True,
                type="boolean",
                title="Dry run",
                description="Report what would change, change nothing; untick to save and apply",
            ),
        },
    )
    def apply_settings_dag() -> None:
        @task
        def apply_settings() -> dict[str, Any]:
            """Validate the form against the Variable, save it, apply it to the catalogue."""
            from lms_connectors import admin, settings
            from lms_connectors.warehouse import migrations
            from lms_connectors.warehouse.db import connect

            context = get_current_context()
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
                    settings.check_against_lms(conn, wanted, spec.variable)
                    if changes and not dry_run:
                        Variable.set(spec.variable, wanted.model_dump_json(indent=2))
                    result = admin.apply_settings(
                        conn,
                        spec.id,
                        wanted,
                        dry_run=dry_run,
                        actor=actor_of(context),
                        run_id=_run_key(context),
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

        apply_settings()

    return apply_settings_dag()


WATCHDOG_DOC_MD = """
### Deadlines of the connector syncs

Every hour, for each connector: was the day whose deadline (the end of the
day + the registry's `deadline_hours`) fell within the past hour synced
successfully (`ops.sync_runs`)? If not, an alert goes out through the
connector's alerts Connection (`lms_alerts` by default; none: alerts off).
Each deadline is checked by exactly one hourly run, so a late day alerts
once. Reads the warehouse with the read-only login.
"""


def build_watchdog_dag(specs: list[ConnectorSpec]) -> DAG:
    """One DAG for every connector: deadlines are checked on a clock, not by the runs that may be missing."""

    @dag(
        dag_id="lms_connectors_deadlines",
        schedule=CronTriggerTimetable("0 * * * *", timezone="UTC"),
        start_date=dt.datetime.combine(min(s.start_date for s in specs), dt.time(), dt.UTC),
        catchup=False,
        max_active_runs=1,
        doc_md=WATCHDOG_DOC_MD,
        tags=["lms", "alerts"],
        default_args={
            "owner": "data-engineering",
            "retries": 2,
            "retry_delay": dt.timedelta(seconds=60),
            "execution_timeout": dt.timedelta(minutes=10),
        },
    )
    def deadlines() -> None:
        @task
        def check_deadlines() -> dict[str, Any]:
            from lms_connectors import alerts
            from lms_connectors.warehouse.db import connect

            checked_at = get_current_context()["logical_date"]
            late = {}
            for spec in specs:
                day = alerts.day_due(checked_at, spec.deadline_hours)
                if day is None:
                    continue
                with connect(spec.readonly_conn_id) as conn:
                    conn.read_only = True
                    done = alerts.day_synced(conn, spec.id, day)
                if not done:
                    late[spec.id] = day.isoformat()
                    alerts.deadline_missed(spec, day, checked_at)
            log.info("deadlines checked at %s: late %s", checked_at, late or "none")
            return {"late": late}

        check_deadlines()

    return deadlines()


def build_all(registry: Path = REGISTRY_FILE) -> dict[str, DAG]:
    dags: dict[str, DAG] = {}
    specs = load_registry(registry)
    for spec in specs:
        dags[spec.dag_id] = build_dag(spec)
        admin_dag = build_admin_dag(spec)
        dags[admin_dag.dag_id] = admin_dag
    if specs:
        from lms_connectors.privacy_dags import build_privacy_dags

        watchdog = build_watchdog_dag(specs)
        dags[watchdog.dag_id] = watchdog
        dags.update(build_privacy_dags(specs))
    return dags
