"""Builds one Airflow DAG per connector of include/connectors.yaml.

Parse time reads only that YAML file: no database, network or heavy import.
The factory declares tasks and their order only: a connector DAG's task bodies are in
``lms_connectors.orchestration.connector_tasks`` and the catalogue's operator, which run the steps that
``lms_connectors.pipeline`` declares, passing only small values through XCom.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, CronTriggerTimetable, Param, dag, get_current_context, task

from lms_connectors import providers
from lms_connectors.orchestration import catalogue_sync, connector_tasks
from lms_connectors.orchestration.assets import catalogue_asset, statistics_asset
from lms_connectors.orchestration.steps import one_xcom_task
from lms_connectors.orchestration.timetable import DayIntervalTimetable
from lms_connectors.providers.registry import ConnectorSpec, RegistryError, read_registry
from lms_connectors.rules.paths import REGISTRY_FILE

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
`transform_progress` (learners matched to LMS users; {time_rule}) ->
`validate_progress` -> `load_progress` (`stats.course_progress`, newer record wins;
`stats.course_progress_daily`, the interval's days) -> the run report.

Each step is timed under its own name in `ops.sync_runs.step_seconds`; clearing a task reruns
its steps from the run's staging.

Provider Connection: `{provider_conn_id}`. Warehouse Connection: `{warehouse_conn_id}`.
Each run covers the data interval [day, day + 1) in UTC, and its logical date is
that day (manual runs too: trigger with the day at 00:00 UTC). Run history with
counts and timings: `ops.sync_runs`.
"""


CONNECTOR_PARAMS = {
    "override_mass_archive": Param(
        False, type="boolean", description="Allow this run to archive more than max_archive_share"
    ),
    "delete_unreported_rows": Param(
        False,
        type="boolean",
        description="Replay: delete stored day rows the provider no longer reports (kept by default; "
        "bounded by max_replay_delete_share; recorded in ops.sync_runs)",
    ),
    "approve_healing": Param(
        False,
        type="boolean",
        description="Load the history of learners the LMS now knows even above heal_max_learners or "
        "heal_max_days (their unrecognised days read again; counted in the run report)",
    ),
    "initial_load_days": Param(
        0,
        type="integer",
        minimum=0,
        maximum=366,
        description="Initial load: take this many days of learning activity, ending at the interval end, "
        "in this one run (0 = the run's own day)",
    ),
}


def _start_date(spec: ConnectorSpec) -> dt.datetime:
    return dt.datetime.combine(spec.start_date, dt.time(), dt.UTC)


def build_dag(spec: ConnectorSpec) -> DAG:
    """The connector's DAG: four tasks whose bodies live in ``connector_tasks`` (and the catalogue's
    operator), each running the pipeline steps it is given there."""
    # Not named after the modules the tasks import (a task's local import would shadow them).
    catalogue_out = catalogue_asset(spec)
    statistics_out = statistics_asset(spec)
    provider = providers.get(spec.provider)

    @dag(
        dag_id=spec.dag_id,
        schedule=DayIntervalTimetable(spec.schedule, timezone="UTC"),
        start_date=_start_date(spec),
        catchup=True,
        max_active_runs=1,
        doc_md=DOC_MD.format(
            time_rule=provider.time_rule.described,
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
            "on_failure_callback": functools.partial(connector_tasks.mark_failed, spec),
        },
        params=dict(CONNECTOR_PARAMS),
    )
    def connector() -> None:
        @one_xcom_task
        def config() -> dict[str, Any]:
            """Validate the settings Variable and the LMS side; check the warehouse schema is current."""
            return connector_tasks.configure(spec, get_current_context())

        @one_xcom_task
        def extract_progress(cfg: dict[str, Any]) -> dict[str, Any]:
            """Stream the interval's learning activity into the run's staging (learner emails hashed)."""
            return connector_tasks.extract_progress(spec, cfg, get_current_context())

        @one_xcom_task(outlets=[statistics_out])
        def sync_statistics(cfg: dict[str, Any], extracted: dict[str, Any], courses: dict[str, Any]) -> dict[str, Any]:
            """Transform, validate and load the interval's learning activity; finish the run and report."""
            return connector_tasks.sync_statistics(spec, cfg, get_current_context(), statistics_out)

        cfg = config()
        extracted = extract_progress(cfg)
        if provider.freshness == "reported":
            # The day's activity is extracted once the provider's data covers it; the wait holds no slot.
            @task.sensor(
                poke_interval=spec.freshness_poke_seconds,
                # A backstop: the task fails first, saying how far the data goes (activity_ready).
                timeout=spec.data_wait_hours * 3600 + 2 * spec.freshness_poke_seconds,
                mode="reschedule",
            )
            def wait_for_activity(cfg: dict[str, Any]) -> bool:
                """Wait until the provider has published the interval's whole activity."""
                context = get_current_context()
                now = dt.datetime.now(dt.UTC)
                since = context["ti"].get_first_reschedule_date(context) or now
                return connector_tasks.activity_ready(spec, cfg, since, now)

            wait_for_activity(cfg) >> extracted
        courses_loaded = catalogue_sync.CatalogueSync(
            task_id="sync_catalogue",
            run_config=cfg,
            spec=spec,
            outlets=[catalogue_out],
            doc_md="Extract, transform, validate and load the catalogue; waits in Required Actions only when "
            "the load would archive more than max_archive_share.",
        )
        sync_statistics(cfg, extracted, courses_loaded.output)

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


def admin_params(labels: dict[str, str]) -> dict[str, Param]:
    """The apply-settings form's fields (``labels``: each language code and how the form names it)."""
    return {
        # No enum: a bad code failed the trigger with a schema dump listing all 183 codes twice.
        # The form offers the codes (examples); the task refuses any other in one line.
        "languages": Param(
            None,
            type=["null", "array"],
            items={"type": "string"},
            examples=list(labels),
            # The picker listed 184 bare codes: each shows its language's name, the value stays the code.
            values_display=labels,
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
    }


def build_admin_dag(spec: ConnectorSpec) -> DAG:
    from lms_connectors.rules.settings import language_labels

    @dag(
        dag_id=spec.admin_dag_id,
        schedule=None,
        start_date=_start_date(spec),
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
        params=admin_params(language_labels()),
    )
    def apply_settings_dag() -> None:
        @one_xcom_task
        def apply_settings() -> dict[str, Any]:
            """Validate the form against the Variable, save it, apply it to the catalogue."""
            return connector_tasks.apply_form(spec, get_current_context())

        apply_settings()

    return apply_settings_dag()


WATCHDOG_DOC_MD = """
### Deadlines of the connector syncs

Every hour, for each connector: was the day whose deadline (the end of the
day + the registry's `deadline_hours`) fell within the past hour synced
successfully (`ops.sync_runs`)? If not, an alert goes out through the
connector's alerts Connection (`lms_alerts` by default; none: alerts off).
Each deadline is checked by exactly one hourly run, so a late day alerts
once. Retention too: a warehouse that `lms_connectors_retention` has not
purged for 48 hours alerts once, then daily while it stays so. Reads the
warehouse with the read-only login. Runs from its creation (never paused by
default).
"""


def build_watchdog_dag(specs: list[ConnectorSpec]) -> DAG:
    """One DAG for every connector: deadlines are checked on a clock, not by the runs that may be missing."""

    @dag(
        dag_id="lms_connectors_deadlines",
        # A watchdog paused by default watches nothing.
        is_paused_upon_creation=False,
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
        @one_xcom_task
        def check_deadlines() -> dict[str, Any]:
            from lms_connectors.orchestration import alerts
            from lms_connectors.privacy.commands import warehouses
            from lms_connectors.warehouse import audit
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
            retention_late = {}
            for conn_id, served in warehouses(specs).items():
                with connect(served[0].readonly_conn_id) as conn:
                    conn.read_only = True
                    last = audit.last_retention(conn)
                if audit.retention_overdue(last, checked_at):
                    retention_late[conn_id] = last.isoformat() if last else None
                    if audit.retention_alert_due(last, checked_at):
                        alerts.retention_missed(served[0], last, checked_at)
            log.info(
                "deadlines checked at %s: late %s; retention overdue %s",
                checked_at,
                late or "none",
                retention_late or "nowhere",
            )
            return {"late": late, "retention_overdue": retention_late}

        check_deadlines()

    return deadlines()


REGISTRY_PROBLEM_DAG_ID = "lms_connectors_registry_problems"


def build_registry_problem_dag(registry: Path, problems: list[str]) -> DAG:
    """What a registry with problems gives beside the sound connectors' DAGs: a DAG that says, in its
    description and documentation and by failing its one task, which entries are left out and why
    (a bad entry takes no other connector down, and does not vanish without a word)."""
    lines = "\n".join(f"- {problem}" for problem in problems)

    @dag(
        dag_id=REGISTRY_PROBLEM_DAG_ID,
        schedule=None,
        start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        description=f"{len(problems)} problem(s) in {registry.name}: {problems[0]}"[:500],
        doc_md=f"### The connector registry has problems\n\n`{registry}`: the entries below give no DAG "
        f"until they are fixed; the other connectors run.\n\n{lines}\n",
        tags=["lms", "registry-problem"],
        default_args={"retries": 0},
    )
    def registry_problems() -> None:
        @one_xcom_task
        def fix_the_registry() -> None:
            raise RegistryError(registry, problems)

        fix_the_registry()

    return registry_problems()


def build_all(registry: Path = REGISTRY_FILE, only: str | None = None) -> dict[str, DAG]:
    """Every DAG of the registry; with ``only`` (the DAG a task process runs: Airflow's parsing
    context), a connector's DAG alone when it is one. A task's process parses the DAG file to find
    its task: building every connector's DAGs there made each task's start grow with the registry
    (121 connectors: 1.8 s to build them all; one connector's DAG takes a few ms). Entries with
    problems are left out, each named with its key in the parse log and in one DAG of their own."""
    dags: dict[str, DAG] = {}
    read = read_registry(registry)
    specs = read.specs
    for problem in read.problems:
        log.error("%s: %s", registry, problem)
    for spec in specs:
        if only == spec.dag_id:
            return {only: build_dag(spec)}
        if only == spec.admin_dag_id:
            return {only: build_admin_dag(spec)}
    for spec in specs:
        dags[spec.dag_id] = build_dag(spec)
        admin_dag = build_admin_dag(spec)
        dags[admin_dag.dag_id] = admin_dag
    if read.problems:
        dags[REGISTRY_PROBLEM_DAG_ID] = build_registry_problem_dag(registry, read.problems)
    if specs:
        from lms_connectors.orchestration.privacy_dags import build_privacy_dags

        watchdog = build_watchdog_dag(specs)
        dags[watchdog.dag_id] = watchdog
        dags.update(build_privacy_dags(specs))
    return dags
