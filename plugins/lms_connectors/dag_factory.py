"""Builds one Airflow DAG per connector of include/connectors.yaml.

Parse time reads only that YAML file: no database, network or heavy import.
The tasks are thin: they open the Connections and call the steps of
``lms_connectors.catalogue``, passing only small values through XCom.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, CronDataIntervalTimetable, Param, Variable, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from lms_connectors.context import RunContext
from lms_connectors.errors import PermanentError
from lms_connectors.paths import REGISTRY_FILE
from lms_connectors.registry import ConnectorSpec, load_registry

log = logging.getLogger(__name__)

DOC_MD = """
### LMS connector: {provider}

Daily sync of the **{provider}** catalogue into the LMS group set in the
Variable `{variable}` (JSON: `enabled`, `target_group_id`, `author_email`,
`languages`, thresholds).

`config` validates the settings and checks the warehouse schema is current ->
`extract_courses` streams the provider catalogue into run-scoped staging ->
`transform_courses` types and checks every record -> `validate_courses`
quarantines rejected rows and applies the batch rules -> `load_courses` merges
into `lms.courses` and the group's catalogue in one transaction.

In parallel, `extract_progress` streams the interval's learning activity
(learner emails hashed on the way in); once the catalogue is loaded,
`transform_progress` matches learners to LMS users and computes theoretical
time spent -> `validate_progress` -> `load_progress` merges
`stats.course_progress` (newer record wins) and `stats.course_progress_daily`
(the interval's days replaced) -> `report`.

Provider Connection: `{provider_conn_id}`. Warehouse Connection: `{warehouse_conn_id}`.
Each run covers the data interval [day, day + 1) in UTC. Run history with
counts and timings: `ops.sync_runs`.
"""


@contextlib.contextmanager
def _fail_fast() -> Iterator[None]:
    """Errors a retry cannot fix fail the task at once (no retries), with their message."""
    try:
        yield
    except PermanentError as exc:
        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc


@dataclasses.dataclass
class _Step:
    """What a step task works with (its run context and a warehouse connection), and what it hands
    back to ``step``: counts to record, and more bookkeeping to write in the same transaction."""

    ctx: RunContext
    conn: Any
    counts: dict[str, Any] = dataclasses.field(default_factory=dict)
    also_record: list[Callable[[Any], None]] = dataclasses.field(default_factory=list)


def _run_key(context: dict[str, Any]) -> str:
    return f"{context['dag'].dag_id}/{context['run_id']}"


def _interval(context: dict[str, Any]) -> tuple[dt.datetime | None, dt.datetime | None]:
    return context.get("data_interval_start"), context.get("data_interval_end")


def build_dag(spec: ConnectorSpec) -> DAG:
    def mark_failed(context: dict[str, Any]) -> None:
        """Record the failure in ops.sync_runs so analysts see it next to the counts."""
        from lms_connectors import runs
        from lms_connectors.warehouse.db import connect

        exc = context.get("exception")
        message = f"{context['task_instance'].task_id}: {type(exc).__name__}: {exc}" if exc else "failed"
        try:
            with connect(spec.warehouse_conn_id) as conn:
                runs.finish_run(conn, _run_key(context), "failed", message[:4000])
        except Exception:
            log.exception("could not record the failure in ops.sync_runs")

    @contextlib.contextmanager
    def step(cfg: dict[str, Any], name: str) -> Iterator[_Step]:
        """One pipeline step: the run context, a warehouse connection, its timing and counts
        recorded in ops.sync_runs when it succeeds, permanent errors failing fast."""
        from lms_connectors import runs
        from lms_connectors.warehouse.db import connect

        t0 = time.monotonic()
        ctx = RunContext.from_xcom(cfg)
        with _fail_fast(), connect(spec.warehouse_conn_id) as conn:
            current = _Step(ctx, conn)
            yield current
            with conn.transaction():
                for record in current.also_record:
                    record(conn)
                runs.record_step(conn, ctx.run_key, name, time.monotonic() - t0, current.counts)

    @dag(
        dag_id=spec.dag_id,
        schedule=CronDataIntervalTimetable(spec.schedule, timezone="UTC"),
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
            with _fail_fast():
                parsed = settings.parse_settings(raw, spec.variable)
                with connect(spec.warehouse_conn_id) as conn:
                    migrations.check_current(conn)
                    settings.check_against_lms(conn, parsed, spec.variable)
                    runs.start_run(
                        conn,
                        run_id=_run_key(context),
                        connector_id=spec.id,
                        dag_id=spec.dag_id,
                        interval_start=start,
                        interval_end=end,
                        settings=parsed.model_dump(mode="json"),
                        override_mass_archive=bool(context["params"].get("override_mass_archive")),
                        delete_unreported=bool(context["params"].get("delete_unreported_rows")),
                    )
                    if not parsed.enabled:
                        # A Variable edited directly takes effect here too: every course archived.
                        from lms_connectors import admin

                        admin.apply_settings(conn, spec.id, parsed)
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

        @task
        def extract_courses(cfg: dict[str, Any]) -> dict[str, Any]:
            from lms_connectors import catalogue, providers

            provider = providers.get(spec.provider)
            with step(cfg, "extract_courses") as s:
                client = provider.client(spec.provider_conn_id)
                n = catalogue.extract_courses(s.conn, client.iter_course_pages, s.ctx.run_key, provider)
                s.counts = {"records": n, "requests": client.stats["requests"], "retries": client.stats["retries"]}
            return {"records": n}

        @task
        def transform_courses(cfg: dict[str, Any], extracted: dict[str, Any]) -> dict[str, Any]:
            from lms_connectors import catalogue, providers

            with step(cfg, "transform_courses") as s:
                s.counts = catalogue.transform_courses(s.conn, s.ctx.run_key, providers.get(spec.provider))
            return s.counts

        @task
        def validate_courses(cfg: dict[str, Any], transformed: dict[str, Any]) -> dict[str, Any]:
            from lms_connectors import catalogue

            with step(cfg, "validate_courses") as s:
                s.counts = catalogue.validate_courses(s.conn, s.ctx.run_key, spec.id, s.ctx.settings)
            return {k: v for k, v in s.counts.items() if not isinstance(v, dict)}

        @task
        def load_courses(cfg: dict[str, Any], validated: dict[str, Any]) -> dict[str, Any]:
            from lms_connectors import catalogue, providers, runs

            with step(cfg, "load_courses") as s:
                s.counts = merge = catalogue.load_courses(
                    s.conn,
                    s.ctx.run_key,
                    spec.id,
                    s.ctx.settings,
                    s.ctx.interval_end,
                    providers.get(spec.provider),
                    override_mass_archive=s.ctx.override_mass_archive,
                )
                s.also_record.append(
                    lambda conn: runs.record_catalogue(
                        conn, s.ctx.run_key, validated["records"], merge, validated["rejected"]
                    )
                )
            return {k: v for k, v in merge.items() if not isinstance(v, dict)}

        @task
        def extract_progress(cfg: dict[str, Any]) -> dict[str, Any]:
            from lms_connectors import progress, providers, pseudonym

            provider = providers.get(spec.provider)
            with step(cfg, "extract_progress") as s:
                client = provider.client(spec.provider_conn_id)
                n = progress.extract_activity(
                    s.conn,
                    lambda: client.iter_activity_pages(s.ctx.interval_start, s.ctx.interval_end),
                    s.ctx.run_key,
                    pseudonym.key_from_connection(spec.pseudonymisation_conn_id),
                    provider,
                )
                s.counts = {"records": n, "requests": client.stats["requests"], "retries": client.stats["retries"]}
            return {"records": n}

        @task
        def transform_progress(
            cfg: dict[str, Any], extracted: dict[str, Any], courses_loaded: dict[str, Any]
        ) -> dict[str, Any]:
            from lms_connectors import progress, providers, pseudonym

            with step(cfg, "transform_progress") as s:
                s.counts = progress.transform_progress(
                    s.conn,
                    s.ctx.run_key,
                    spec.id,
                    pseudonym.key_from_connection(spec.pseudonymisation_conn_id),
                    providers.get(spec.provider),
                )
            return {k: v for k, v in s.counts.items() if not isinstance(v, dict)}

        @task
        def validate_progress(cfg: dict[str, Any], transformed: dict[str, Any]) -> dict[str, Any]:
            from lms_connectors import progress

            with step(cfg, "validate_progress") as s:
                s.counts = progress.validate_progress(
                    s.conn, s.ctx.run_key, spec.id, s.ctx.settings, s.ctx.interval_start, s.ctx.interval_end
                )
            return {**transformed, "rejected": s.counts["rejected"]}

        @task
        def load_progress(cfg: dict[str, Any], validated: dict[str, Any]) -> dict[str, Any]:
            from lms_connectors import progress, providers, runs

            with step(cfg, "load_progress") as s:
                s.counts = merge = progress.load_progress(
                    s.conn,
                    s.ctx.run_key,
                    spec.id,
                    s.ctx.interval_start,
                    s.ctx.interval_end,
                    measured=providers.get(spec.provider).time_spent_rule == "measured",
                    delete_unreported=s.ctx.delete_unreported,
                    max_replay_delete_share=s.ctx.settings.max_replay_delete_share,
                )
                s.also_record.append(lambda conn: runs.record_progress(conn, s.ctx.run_key, validated, merge))
            return merge

        @task
        def report(
            cfg: dict[str, Any], courses_loaded: dict[str, Any], progress_loaded: dict[str, Any]
        ) -> dict[str, Any]:
            from lms_connectors import reporting, runs
            from lms_connectors.warehouse.db import connect

            ctx = RunContext.from_xcom(cfg)
            with connect(spec.warehouse_conn_id) as conn:
                runs.finish_run(conn, ctx.run_key, "success")
                text = reporting.run_table(conn, ctx.run_key)
                pruned = reporting.prune_staging(conn, ctx.settings.staging_retention_days, ctx.interval_end)
            log.info("run report\n%s", text)
            return {"courses": courses_loaded, "progress": progress_loaded, "staging_rows_pruned": pruned}

        cfg = config()
        courses_loaded = load_courses(cfg, validate_courses(cfg, transform_courses(cfg, extract_courses(cfg))))
        transformed = transform_progress(cfg, extract_progress(cfg), courses_loaded)
        progress_loaded = load_progress(cfg, validate_progress(cfg, transformed))
        report(cfg, courses_loaded, progress_loaded)

    return connector()


ADMIN_DOC_MD = """
### Apply settings now: {provider}

Trigger with the form to change the connector's settings and apply them to
the catalogue at once, without calling the provider:

- **languages**: the languages to keep (OR logic); leave empty to keep the
  Variable's list.
- **all_languages**: tick to remove the language filter (every language
  kept); Languages must then be empty.
- **enabled**: untick to deactivate (every course archived with reason
  `connector_deactivated`, learning data kept, daily runs skipped); tick to
  reactivate (the reason removed; the next daily run re-applies every rule).
- **dry_run** (ticked by default): report what would be archived and
  unarchived, change nothing. Untick it to save and apply.

The choice is validated, saved to the Variable `{variable}` (not in a dry run)
and applied in one transaction that only adds or removes the
`language_filter` and `connector_deactivated` reasons: a course the provider
archives stays archived. Triggered with no values, it re-applies the Variable
as it stands.
"""


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
            "languages": Param(
                None,
                type=["null", "array"],
                items={"type": "string", "enum": codes},
                examples=codes,
                uniqueItems=True,
                title="Languages",
                description="ISO 639-1 codes to keep (OR). Empty = keep the Variable's value. "
                "To allow every language, tick 'All languages' below.",
            ),
            "enabled": Param(
                None,
                type=["null", "boolean"],
                title="Enabled",
                description="false deactivates the connector; empty = keep the Variable's value",
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

            params = get_current_context()["params"]
            dry_run = bool(params.get("dry_run"))
            with _fail_fast():
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
                    result = admin.apply_settings(conn, spec.id, wanted, dry_run=dry_run)
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


def build_all(registry: Path = REGISTRY_FILE) -> dict[str, DAG]:
    dags: dict[str, DAG] = {}
    for spec in load_registry(registry):
        dags[spec.dag_id] = build_dag(spec)
        admin_dag = build_admin_dag(spec)
        dags[admin_dag.dag_id] = admin_dag
    return dags
