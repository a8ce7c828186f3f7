"""The privacy DAGs: erase learners, export a learner's data, rotate a connector's key, retention.

One of each for the whole registry (a person is erased from every connector at
once; retention covers connectors that left the registry too). Every task
calls :mod:`lms_connectors.privacy.commands` or :mod:`lms_connectors.privacy.retention`;
nothing is done at parse time.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from airflow.sdk import DAG, CronDataIntervalTimetable, Param, Variable, dag, get_current_context

from lms_connectors.orchestration.steps import fail_fast, one_xcom_task
from lms_connectors.providers.registry import ConnectorSpec

log = logging.getLogger(__name__)
ERASE_DAG_ID = "lms_connectors_erase_learners"
EXPORT_DAG_ID = "lms_connectors_export_learners"
ROTATE_DAG_ID = "lms_connectors_rotate_key"
FIND_DAG_ID = "lms_connectors_find_learner"
RETENTION_DAG_ID = "lms_connectors_retention"

ERASE_DOC_MD = """
### Erase learners (GDPR art. 17)

Give LMS user ids and/or emails and the reason (a request or ticket
reference). Every row that identifies them is removed from `stats`, `staging`
and `ops` (progress, daily history, staging, rejected records, unmatched
learners under every key ever used, their email in run records), and a
**suppression entry** (a keyed hash of the email, the date, this run, the
reason) makes every later run, replay and backfill drop their records before
staging (counted as `suppressed` in the run report). **Dry run** (ticked by
default) counts what would go and changes nothing. The action is written to
`ops.audit_log` (who, when, how many rows; never whom).
"""

EXPORT_DOC_MD = """
### Export a learner's data (GDPR art. 15 and 20)

Every row that identifies the learners given, in every table, as one JSON
file (mode 0600) under `LMS_EXPORT_DIR` (default `$AIRFLOW_HOME/lms_exports`);
the task log names the file, never its content, and nothing goes to XCom.
"""

ROTATE_DOC_MD = """
### Rotate a connector's pseudonymisation key

A new version of the key the connector hashes learner emails with (derived
from the `lms_pseudonymisation_key` Connection), and no hash left under the
old one: unmatched learners are forgotten (counted anew), rejected records
lose their learner hash, the connector's staging rows are deleted. Refused
while a run of the connector is running. Dry run by default.
"""

FIND_DOC_MD = """
### Find an unmatched learner, and attach their email or id to an LMS user

Give a connector and one email, or one **learner id** where the provider's
records carry one (LinkedIn Learning's `uniqueUserId`, Skillsoft Percipio's
`userId`): the answer says whether that learner is among the connector's
**unmatched learners** (their provider records match no LMS user), since when
and on how many days, whether the email or id is already an LMS user's and
whether the learner was erased. No other learner is ever listed.

To have their records match an LMS user from the next run on (a personal or
former address, an id the LMS did not know), give that user's id and a reason,
and untick **Dry run**: the email is added to the user's further emails
(`lms.user_emails`, kind `secondary`), the id to their identities
(`lms.user_identities`), and the action written to `ops.audit_log`; the next
run of the connector loads their history (the days `first_seen`..`last_seen`,
read again for them alone: step `heal_learners`). An erased learner is
never attached. Once the run is done, the email, the id and the user id are
removed from Airflow's tables.
"""

RETENTION_DOC_MD = """
### Retention

Daily, for the whole warehouse (every connector, enabled, disabled or removed
from the registry): staging rows, rejected records (payload redacted, then
deleted), unmatched learners not seen for a while, run records' personal
fields, export files, and Airflow's XCom, task instances, runs and log files,
each at its bound (Variable `lms_connectors_retention`; docs/PRIVACY.md). Every purge is
recorded in `ops.audit_log` with its row counts.
"""


def _defaults(owner: str) -> dict[str, Any]:
    return {
        "owner": owner,
        "retries": 1,
        "retry_delay": dt.timedelta(seconds=60),
        "execution_timeout": dt.timedelta(minutes=60),
    }


def _manual(dag_id: str, doc_md: str, params: dict[str, Param]) -> Any:
    """The decorator of an admin DAG run by hand only, one run at a time."""
    return dag(
        dag_id=dag_id,
        schedule=None,
        start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        doc_md=doc_md,
        tags=["lms", "privacy", "admin"],
        default_args=_defaults("lms-admin"),
        params=params,
    )


def _without_lineage(request_dag: DAG) -> DAG:
    """A request's run sends no OpenLineage event, whatever the deployment's lineage settings (short
    of a rule it locks on): every event would carry the run's conf, the learners' emails and ids
    (OpenLineage's ``DagRunInfo`` includes it), and a sent event cannot be scrubbed afterwards."""
    try:
        from airflow.providers.openlineage.api.emission_policy import extend_global_openlineage_emission_policy
        from airflow.providers.openlineage.utils.emission_policy import OL_EMISSION_POLICY_PARAM
    except ImportError:  # no OpenLineage provider: nothing emits
        return request_dag
    extend_global_openlineage_emission_policy(request_dag, emit=False)
    # The policy is a DAG param, so the trigger form shows it: it says what it is there.
    request_dag.params[OL_EMISSION_POLICY_PARAM] = Param(
        {"emit": False},
        type="object",
        const={"emit": False},
        title="Lineage (fixed)",
        description="This DAG sends no lineage event: its conf holds learners' emails and ids",
    )
    return request_dag


def _who() -> tuple[dict[str, Any], str, str]:
    from lms_connectors.orchestration.connector_tasks import run_key
    from lms_connectors.warehouse.audit import actor_of

    context = get_current_context()
    return context, actor_of(context), run_key(context)


def _connector_param(specs: list[ConnectorSpec]) -> Param:
    return Param(specs[0].id, type="string", enum=[s.id for s in specs], title="Connector")


def _learner_params() -> dict[str, Param]:
    # Either field may stay empty (the form marked both required): the task wants one learner at least.
    return {
        "user_ids": Param(
            [], type=["array", "null"], items={"type": "string"}, title="LMS user ids", description="One per line"
        ),
        "emails": Param(
            [], type=["array", "null"], items={"type": "string"}, title="Emails", description="One per line"
        ),
    }


def request_learners(params: Any) -> tuple[list[str], list[str]]:
    """The request's user ids and emails; a request naming nobody is refused, not run as a no-op."""
    user_ids, emails = list(params["user_ids"] or []), list(params["emails"] or [])
    if not user_ids and not emails:
        from lms_connectors.rules.errors import PermanentError

        raise PermanentError("the request names no learner: give at least one LMS user id or email")
    return user_ids, emails


# What a request's emails, learner ids and user ids become in Airflow's tables once the request is done.
FORGOTTEN = "[removed once the request was done]"
REQUEST_VALUES = ("emails", "learner_ids", "user_ids")


def forget_request(metadata: str, dag_id: str, run_id: str, conf: dict[str, Any]) -> dict[str, int]:
    """Remove the request's emails and user ids from Airflow's own tables: the run's conf, the audit
    log rows that quote them (the trigger's request body), the run's rendered fields. Through the
    metadata database's Connection: Airflow 3 gives a task no access of its own."""
    import sqlalchemy as sa
    from airflow.models.dagrun import DagRun
    from airflow.models.log import Log
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from sqlalchemy.orm import Session

    values = sorted({str(v) for key in REQUEST_VALUES for v in conf.get(key) or () if str(v).strip()})
    scrubbed = {**conf, **{key: [FORGOTTEN] for key in REQUEST_VALUES if conf.get(key)}}
    engine = sa.create_engine(metadata)
    try:
        with Session(engine) as session, session.begin():
            runs = session.execute(
                sa.update(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id).values(conf=scrubbed)
            ).rowcount
            logged = sum(
                session.execute(
                    sa.update(Log).where(Log.dag_id == dag_id, Log.extra.contains(v)).values(extra=FORGOTTEN)
                ).rowcount
                for v in values
            )
            rendered = session.execute(
                sa.delete(RenderedTaskInstanceFields).where(
                    RenderedTaskInstanceFields.dag_id == dag_id, RenderedTaskInstanceFields.run_id == run_id
                )
            ).rowcount
    finally:
        engine.dispose()
    return {"run_conf": runs, "audit_log_rows": logged, "rendered_fields": rendered}


# The request DAGs whose conf names learners.
REQUEST_DAG_IDS = (ERASE_DAG_ID, EXPORT_DAG_ID, FIND_DAG_ID)


def forget_finished_requests(metadata: str) -> int:
    """Remove the request values of every finished request run that still holds some; how many runs.

    Each request's last task removes them, but a run can end without it (a worker lost mid-run), and
    ``airflow dags test`` writes the run's original conf back after it: its session holds the run
    and flushes it when it records the task's state. Retention sweeps them daily."""
    import sqlalchemy as sa
    from airflow.models.dagrun import DagRun
    from sqlalchemy.orm import Session

    engine = sa.create_engine(metadata)
    try:
        with Session(engine) as session:
            runs = session.execute(
                sa.select(DagRun.dag_id, DagRun.run_id, DagRun.conf).where(
                    DagRun.dag_id.in_(REQUEST_DAG_IDS), DagRun.state.in_(("success", "failed"))
                )
            ).all()
    finally:
        engine.dispose()
    left = [(dag_id, run_id, dict(conf)) for dag_id, run_id, conf in runs if _holds_request_values(conf)]
    for dag_id, run_id, conf in left:
        forget_request(metadata, dag_id, run_id, conf)
    return len(left)


def _holds_request_values(conf: dict[str, Any] | None) -> bool:
    return any(value != FORGOTTEN for key in REQUEST_VALUES for value in (conf or {}).get(key) or ())


def _forget_task() -> Any:
    """The last task of a request's DAG, whatever became of the others: the request leaves no
    email or user id in Airflow (the warehouse's audit log keeps how many, never whom). A teardown:
    the run's state is its request's, so a failed request never shows as a successful run."""

    @one_xcom_task
    def forget_request_values() -> dict[str, int]:
        from lms_connectors.privacy import retention

        context = get_current_context()
        with fail_fast():
            metadata = retention.metadata_url()
        done = forget_request(metadata, context["dag"].dag_id, context["run_id"], dict(context["dag_run"].conf or {}))
        log.info("the request's emails and user ids removed from Airflow's tables: %s", done)
        return done

    return forget_request_values().as_teardown()


def build_erase_dag(specs: list[ConnectorSpec]) -> DAG:
    @_manual(
        ERASE_DAG_ID,
        ERASE_DOC_MD,
        {
            **_learner_params(),
            "reason": Param(
                "", type="string", minLength=1, title="Reason", description="A request or ticket reference"
            ),
            "dry_run": Param(
                True, type="boolean", title="Dry run", description="Count, change nothing; untick to erase"
            ),
        },
    )
    def erase_dag() -> None:
        @one_xcom_task
        def erase_learners() -> dict[str, Any]:
            from lms_connectors.privacy import commands as privacy

            context, actor, run_id = _who()
            p = context["params"]
            with fail_fast():
                user_ids, emails = request_learners(p)
                result = privacy.erase_learners(
                    user_ids,
                    emails,
                    p["reason"],
                    dry_run=bool(p["dry_run"]),
                    run_id=run_id,
                    actor=actor,
                    at=context["dag_run"].run_after,
                    specs=specs,
                )
            log.info("%s: %s", "DRY RUN" if p["dry_run"] else "erased", result)
            return {conn: r["rows"] for conn, r in result.items()}

        erase_learners() >> _forget_task()

    return _without_lineage(erase_dag())


def build_export_dag(specs: list[ConnectorSpec]) -> DAG:
    @_manual(EXPORT_DAG_ID, EXPORT_DOC_MD, _learner_params())
    def export_dag() -> None:
        @one_xcom_task
        def export_learners() -> None:
            from lms_connectors.privacy import commands as privacy

            context, actor, run_id = _who()
            p = context["params"]
            with fail_fast():
                data = privacy.export_learners(*request_learners(p), run_id=run_id, actor=actor, specs=specs)
            path = privacy.write_export(data, privacy.export_folder() / f"{context['run_id'].replace(':', '_')}.json")
            rows = sum(len(t) for w in data.values() for t in w["tables"].values())
            # The file's name and size only: the log and XCom hold nothing of the learner.
            log.info("exported %d rows to %s (mode 0600)", rows, path)

        export_learners() >> _forget_task()

    return _without_lineage(export_dag())


def _one_value(title: str, description: str) -> Param:
    """A form field for at most one text value (a list, as the request's other fields are)."""
    return Param([], type=["array", "null"], items={"type": "string"}, maxItems=1, title=title, description=description)


def build_find_dag(specs: list[ConnectorSpec]) -> DAG:
    @_manual(
        FIND_DAG_ID,
        FIND_DOC_MD,
        {
            "connector": _connector_param(specs),
            "emails": _one_value("Email", "One"),
            "learner_ids": _one_value(
                "Or a learner id",
                "One id the provider's records carry (LinkedIn Learning: uniqueUserId; Percipio: userId)",
            ),
            "user_ids": _one_value("Attach to LMS user id", "Leave empty to look up only"),
            "reason": Param("", type="string", title="Reason", description="Required to attach"),
            "dry_run": Param(True, type="boolean", title="Dry run", description="Untick to attach"),
        },
    )
    def find_dag() -> None:
        @one_xcom_task
        def find_learner() -> dict[str, Any]:
            from lms_connectors.privacy import commands as privacy

            context, actor, run_id = _who()
            p = context["params"]
            with fail_fast():
                answer = privacy.find_learner(
                    p["connector"],
                    (list(p["emails"] or []) or [None])[0],
                    learner_id=(list(p.get("learner_ids") or []) or [None])[0],
                    attach_to=(list(p["user_ids"] or []) or [None])[0],
                    reason=p["reason"],
                    run_id=run_id,
                    actor=actor,
                    dry_run=bool(p["dry_run"]),
                    specs=specs,
                )
            # Dates and counts only: neither the email, the id nor a hash reaches the log or XCom.
            log.info("%s: %s", "DRY RUN" if p["dry_run"] else "done", answer)
            return answer

        find_learner() >> _forget_task()

    return _without_lineage(find_dag())


def build_rotate_dag(specs: list[ConnectorSpec]) -> DAG:
    @_manual(
        ROTATE_DAG_ID,
        ROTATE_DOC_MD,
        {
            "connector": _connector_param(specs),
            "reason": Param("", type="string", minLength=1, title="Reason"),
            "dry_run": Param(True, type="boolean", title="Dry run", description="Count, change nothing"),
        },
    )
    def rotate_dag() -> None:
        @one_xcom_task
        def rotate_key() -> dict[str, Any]:
            from lms_connectors.privacy import commands as privacy

            context, actor, run_id = _who()
            p = context["params"]
            with fail_fast():
                return privacy.rotate(
                    p["connector"],
                    run_id=run_id,
                    actor=actor,
                    reason=p["reason"],
                    at=context["dag_run"].run_after,
                    dry_run=bool(p["dry_run"]),
                )

        rotate_key()

    return rotate_dag()


def build_retention_dag(specs: list[ConnectorSpec]) -> DAG:
    @dag(
        dag_id=RETENTION_DAG_ID,
        # Runs by default on every deployment path: a paused retention keeps personal data forever.
        is_paused_upon_creation=False,
        schedule=CronDataIntervalTimetable("30 4 * * *", timezone="UTC"),
        start_date=dt.datetime.combine(min(s.start_date for s in specs), dt.time(), dt.UTC),
        catchup=False,
        max_active_runs=1,
        doc_md=RETENTION_DOC_MD,
        tags=["lms", "privacy"],
        default_args=_defaults("data-engineering"),
    )
    def retention_dag() -> None:
        @one_xcom_task
        def purge_warehouse() -> dict[str, Any]:
            from lms_connectors.privacy import commands as privacy
            from lms_connectors.privacy import retention
            from lms_connectors.warehouse.db import connect

            context, actor, run_id = _who()
            with fail_fast():
                cfg = retention.parse(Variable.get(retention.VARIABLE, default=None))
                out = {}
                for conn_id in privacy.warehouses(specs):
                    with connect(conn_id) as conn:
                        out[conn_id] = retention.purge_warehouse(
                            conn, cfg, context["data_interval_end"], actor=actor, run_id=run_id
                        )
            return out

        @one_xcom_task
        def purge_airflow() -> dict[str, Any]:
            from lms_connectors.privacy import retention
            from lms_connectors.privacy.commands import export_folder

            context = get_current_context()
            with fail_fast():
                cfg = retention.parse(Variable.get(retention.VARIABLE, default=None))
                metadata = retention.metadata_url()
            done = retention.purge_airflow(
                cfg, context["data_interval_end"], retention.log_folder(), export_folder(), metadata
            )
            return {**done, "request_runs_forgotten": forget_finished_requests(metadata)}

        purge_warehouse() >> purge_airflow()

    return retention_dag()


def build_privacy_dags(specs: list[ConnectorSpec]) -> dict[str, DAG]:
    built = [
        build_erase_dag(specs),
        build_export_dag(specs),
        build_find_dag(specs),
        build_rotate_dag(specs),
        build_retention_dag(specs),
    ]
    return {d.dag_id: d for d in built}
