"""Pipeline: the catalogue and activity pipelines on one extract -> transform -> validate -> load skeleton.

May import: lms_connectors.rules, lms_connectors.providers, lms_connectors.warehouse, lms_connectors.privacy, lms_connectors.pipeline
Never imports: airflow, requests

Each entity pipeline is declared once, as named steps.

Whatever runs a connector's steps calls :func:`run` with a step's name: the DAG's tasks, the
approval operator, the benchmark and the tests. Nothing else wires steps, so what a step reads of
the run and what it records are written here only; the run around them (its stages in order,
begin, settings, the approval wait, finish, report) is :mod:`lms_connectors.pipeline.lifecycle`.

A step is one transaction on the run's staging rows (or the one merge transaction of a load). It
starts from what earlier steps left in staging and in the run's row of ``ops.sync_runs`` (their
counts), never from memory, so a retried task, a task resumed after an approval and a step run in
a process of its own (the benchmark) all see the same inputs. Its seconds and counts are recorded
in that row when it succeeds.

No Airflow import here: the Airflow glue turns a :class:`Connector` out of a registry entry and
maps errors a retry cannot fix to a failed task. The DAG file reads the declarations at parse time,
so the steps import their modules (pandas, great-expectations) when they run.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lms_connectors.rules.context import RunContext

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import psycopg

    from lms_connectors.privacy.pseudonym import RunKeys
    from lms_connectors.providers import Provider, ProviderClient


@dataclasses.dataclass(frozen=True)
class Connector:
    """What the steps need of a connector outside any run: its id, its provider, a factory of the
    provider's client and the learner keys of a run (read in the warehouse)."""

    id: str
    provider: Provider
    client: Callable[[], ProviderClient]
    keys: Callable[[psycopg.Connection], RunKeys]


@dataclasses.dataclass(frozen=True)
class Pipeline:
    """One entity's steps, in the skeleton's order, and the staging table each of the extract and
    the transform fills with one row per record for the run (the next steps read them)."""

    entity: str
    extract: str
    transform: str
    validate: str
    load: str
    extracted_to: str
    transformed_to: str

    @property
    def steps(self) -> tuple[str, str, str, str]:
        return (self.extract, self.transform, self.validate, self.load)

    def input_of(self, step: str) -> tuple[str, str] | None:
        """The (earlier step, staging table) whose rows ``step`` reads; None for the extract."""
        if step == self.extract:
            return None
        if step == self.transform:
            return self.extract, self.extracted_to
        return self.transform, self.transformed_to


CATALOGUE = Pipeline(
    "catalogue",
    "extract_courses",
    "transform_courses",
    "validate_courses",
    "load_courses",
    "staging.raw_courses",
    "staging.courses",
)
ACTIVITY = Pipeline(
    "activity",
    "extract_progress",
    "transform_progress",
    "validate_progress",
    "load_progress",
    "staging.raw_activity",
    "staging.progress",
)
PIPELINES = (CATALOGUE, ACTIVITY)
# After the activity's load: learners the LMS now knows get the days they went unrecognised
# (lms_connectors.pipeline.healing). It reads no staging row of the run.
HEALING = "heal_learners"
# Times a step runs its pipeline again from the extract because its input was lost before it fails.
MAX_RESTAGES = 2
# Every step of a run, in the order one run takes them.
ALL_STEPS = (*(step for p in PIPELINES for step in p.steps), HEALING)


@dataclasses.dataclass
class Step:
    """One step at work: its connection, run and connector; the counts it hands back."""

    conn: psycopg.Connection
    ctx: RunContext
    connector: Connector
    approved_digest: str | None = None
    counts: dict[str, Any] = dataclasses.field(default_factory=dict)
    # Bookkeeping written in the transaction that records the step.
    also_record: list[Callable[[psycopg.Connection], None]] = dataclasses.field(default_factory=list)

    def earlier(self, step: str) -> dict[str, Any]:
        """The counts an earlier step of this run recorded."""
        from lms_connectors.warehouse import runs

        return runs.step_counts(self.conn, self.ctx.run_key, step)


_STEPS: dict[str, Callable[[Step], None]] = {}


def _declares(name: str) -> Callable[[Callable[[Step], None]], Callable[[Step], None]]:
    def register(fn: Callable[[Step], None]) -> Callable[[Step], None]:
        _STEPS[name] = fn
        return fn

    return register


def _client_counts(client: ProviderClient) -> dict[str, int]:
    return {"requests": client.stats["requests"], "retries": client.stats["retries"]}


@_declares(CATALOGUE.extract)
def _extract_courses(s: Step) -> None:
    from lms_connectors.pipeline import catalogue

    client = s.connector.client()
    n = catalogue.extract_courses(s.conn, client.iter_course_pages, s.ctx.run_key, s.connector.provider)
    s.counts = {"records": n, **_client_counts(client)}


@_declares(CATALOGUE.transform)
def _transform_courses(s: Step) -> None:
    from lms_connectors.pipeline import catalogue

    s.counts = catalogue.transform_courses(s.conn, s.ctx.run_key, s.connector.provider)


@_declares(CATALOGUE.validate)
def _validate_courses(s: Step) -> None:
    from lms_connectors.pipeline import catalogue

    s.counts = catalogue.validate_courses(
        s.conn, s.ctx.run_key, s.ctx.connector_id, s.ctx.settings, s.connector.provider
    )


@_declares(CATALOGUE.load)
def _load_courses(s: Step) -> None:
    from lms_connectors.pipeline import catalogue
    from lms_connectors.warehouse import runs

    ctx = s.ctx
    validated = s.earlier(CATALOGUE.validate)
    s.counts = merge = catalogue.load_courses(
        s.conn,
        ctx.run_key,
        ctx.connector_id,
        ctx.settings,
        ctx.interval_end,
        s.connector.provider,
        override_mass_archive=ctx.override_mass_archive,
        approved_digest=s.approved_digest,
        rules_digest=validated.get("rules_digest"),
        unchecked=validated.get("unchanged", 0),
    )
    s.also_record.append(
        lambda conn: runs.record_catalogue(
            conn, ctx.run_key, validated.get("records", 0), merge, validated.get("rejected", 0)
        )
    )


@_declares(ACTIVITY.extract)
def _extract_progress(s: Step) -> None:
    from lms_connectors.pipeline import progress

    client = s.connector.client()
    keys = s.connector.keys(s.conn)
    extracted = progress.extract_activity(
        s.conn,
        lambda: client.iter_activity_pages(s.ctx.interval_start, s.ctx.interval_end),
        s.ctx.run_key,
        keys.learner,
        s.connector.provider,
        suppression_key=keys.suppression,
    )
    s.counts = {**extracted, "key_version": keys.version, **_client_counts(client)}


@_declares(ACTIVITY.transform)
def _transform_progress(s: Step) -> None:
    from lms_connectors.pipeline import merges, progress
    from lms_connectors.privacy import erasure

    # Accounts the LMS merged first (a retired account's rows move to its survivor, not away), then
    # learners the LMS removed are erased: their rows must not outlive them.
    moved = merges.apply_merges(s.conn, s.ctx.connector_id, measured=s.connector.provider.time_rule.summed_by_day)
    removed = erasure.erase_removed_users(s.conn, s.ctx.run_key, s.ctx.connector_id)
    keys = s.connector.keys(s.conn)
    s.counts = {
        **progress.transform_progress(s.conn, s.ctx.run_key, s.ctx.connector_id, keys.learner, s.connector.provider),
        "removed_users_erased": removed,
        "merged_rows": moved,
    }


@_declares(ACTIVITY.validate)
def _validate_progress(s: Step) -> None:
    from lms_connectors.pipeline import progress

    ctx = s.ctx
    s.counts = progress.validate_progress(
        s.conn, ctx.run_key, ctx.connector_id, ctx.settings, ctx.interval_start, ctx.interval_end
    )


@_declares(ACTIVITY.load)
def _load_progress(s: Step) -> None:
    from lms_connectors.pipeline import progress
    from lms_connectors.warehouse import runs

    ctx = s.ctx
    transformed = {
        **s.earlier(ACTIVITY.transform),
        "rejected": s.earlier(ACTIVITY.validate).get("rejected", 0),
    }
    s.counts = merge = progress.load_progress(
        s.conn,
        ctx.run_key,
        ctx.connector_id,
        ctx.interval_start,
        ctx.interval_end,
        measured=s.connector.provider.time_rule.summed_by_day,
        delete_unreported=ctx.delete_unreported,
        max_replay_delete_share=ctx.settings.max_replay_delete_share,
        erasure_generation=s.earlier(ACTIVITY.extract).get("erasure_generation"),
    )
    s.also_record.append(lambda conn: runs.record_progress(conn, ctx.run_key, transformed, merge))


@_declares(HEALING)
def _heal_learners(s: Step) -> None:
    from lms_connectors.pipeline import healing

    s.counts = healing.heal(s.conn, s.ctx, s.connector)


def run(
    name: str,
    conn: psycopg.Connection,
    ctx: RunContext,
    connector: Connector,
    *,
    approved_digest: str | None = None,
) -> dict[str, Any]:
    """Run the step ``name`` of a pipeline for the run ``ctx``; record its seconds and counts; return the counts.

    A step first checks that the staging rows it reads are all there: as many as the step that
    staged them counted (a warehouse restart or failover empties the unlogged staging tables; an
    erasure deletes its learner's rows). When they are not, or the load finds an erasure committed
    since the extract, the pipeline's steps run again from its extract, then this one: a day is
    loaded whole or the task fails, never with less than the provider sent."""
    from lms_connectors.rules.errors import StagingLost

    if name not in _STEPS:
        raise ValueError(f"no pipeline step {name!r}; steps: {', '.join(_STEPS)}")
    entity = next((p for p in PIPELINES if name in p.steps), None)
    if entity is None:
        return _run_step(name, conn, ctx, connector, approved_digest)
    for attempt in range(MAX_RESTAGES + 1):
        try:
            _check_input(conn, ctx, entity, name)
            return _run_step(name, conn, ctx, connector, approved_digest)
        except StagingLost as lost:
            conn.rollback()  # whatever the step left open
            if attempt == MAX_RESTAGES:
                raise StagingLost(f"{lost}; still so after extracting the run's {entity.entity} again") from None
            log.warning("%s before %s: running %s again from %s", lost, name, entity.entity, entity.extract)
            for earlier in entity.steps[: entity.steps.index(name)]:
                _run_step(earlier, conn, ctx, connector, approved_digest)
    raise AssertionError("unreachable")


def _check_input(conn: psycopg.Connection, ctx: RunContext, entity: Pipeline, name: str) -> None:
    """StagingLost when the run's rows of the staging table ``name`` reads are not what staged them."""
    from lms_connectors.rules.errors import StagingLost
    from lms_connectors.warehouse import runs

    source = entity.input_of(name)
    if source is None:
        return
    step, table = source
    with conn.transaction():
        expected = runs.step_counts(conn, ctx.run_key, step).get("records")
        if expected is None:
            return  # not staged by this run's pipeline (a step run alone, as a benchmark does)
        found = runs.staged_rows(conn, table, ctx.run_key)
    if found != expected:
        raise StagingLost(
            f"{table} holds {found} rows of run {ctx.run_key} where {step} staged {expected} (a warehouse restart "
            "or failover empties staging; an erasure removes its learner's rows)"
        )


def _run_step(
    name: str, conn: psycopg.Connection, ctx: RunContext, connector: Connector, approved_digest: str | None
) -> dict[str, Any]:
    from lms_connectors.warehouse import runs

    work = _STEPS[name]
    t0 = time.monotonic()
    step = Step(conn, ctx, connector, approved_digest)
    work(step)
    with conn.transaction():
        for record in step.also_record:
            record(conn)
        runs.record_step(conn, ctx.run_key, name, time.monotonic() - t0, step.counts)
    # A step that read outside its own transaction blocks (its keys, an earlier step's counts) left
    # one open, holding its work as savepoints: committed here, so the next step, in this session or
    # another (validation reads through a second one), sees it.
    conn.commit()
    return step.counts


def scalars(counts: dict[str, Any]) -> dict[str, Any]:
    """The counts worth an XCom: nested details stay in ops.sync_runs."""
    return {k: v for k, v in counts.items() if not isinstance(v, dict)}
