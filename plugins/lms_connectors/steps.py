"""One pipeline step inside a task: its warehouse connection, timing and counts, permanent errors.

A task runs one or more steps (``extract_courses``, ``transform_courses``, ...). Each step is
its own transaction on run-scoped staging (or the one merge transaction of a load), records
its seconds and counts in ``ops.sync_runs`` when it succeeds, and fails the task at once,
without retries, on an error a retry cannot fix.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from lms_connectors.context import RunContext
from lms_connectors.errors import PermanentError


def unknown_conf_keys(conf: dict[str, Any] | None, accepted: Iterable[str]) -> str | None:
    """The one-line refusal of a run's conf holding keys the DAG does not declare, or None.

    Airflow keeps undeclared keys as extra params, silently: ``{"dryrun": false}`` meant to apply
    a change and ran as a dry run."""
    known = sorted(accepted)
    unknown = sorted(set(conf or {}) - set(known))
    if not unknown:
        return None
    return (
        f"unknown key{'s' if len(unknown) > 1 else ''} in the run's conf: {', '.join(unknown)}; "
        f"accepted: {', '.join(known)}"
    )


def refuse_unknown_conf(context: Any) -> None:
    """Fail the task, without retries, when its run's conf holds an undeclared key."""
    dag_run = context.get("dag_run")
    message = unknown_conf_keys(getattr(dag_run, "conf", None), context["dag"].params.keys())
    if message:
        raise AirflowFailException(message)


@contextlib.contextmanager
def fail_fast() -> Iterator[None]:
    """Errors a retry cannot fix fail the task at once (no retries), with their message."""
    try:
        yield
    except PermanentError as exc:
        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc


@dataclasses.dataclass
class Step:
    """What a step works with (its run context and a warehouse connection), and what it hands
    back: counts to record, and more bookkeeping to write in the same transaction."""

    ctx: RunContext
    conn: Any
    counts: dict[str, Any] = dataclasses.field(default_factory=dict)
    also_record: list[Callable[[Any], None]] = dataclasses.field(default_factory=list)


@contextlib.contextmanager
def step(warehouse_conn_id: str, cfg: dict[str, Any], name: str) -> Iterator[Step]:
    """Run one step: the run context, a warehouse connection, its timing and counts recorded in
    ops.sync_runs when it succeeds, permanent errors failing fast."""
    from lms_connectors import runs
    from lms_connectors.warehouse.db import connect

    t0 = time.monotonic()
    ctx = RunContext.from_xcom(cfg)
    with fail_fast(), connect(warehouse_conn_id) as conn:
        current = Step(ctx, conn)
        yield current
        with conn.transaction():
            for record in current.also_record:
                record(conn)
            runs.record_step(conn, ctx.run_key, name, time.monotonic() - t0, current.counts)


def scalars(counts: dict[str, Any]) -> dict[str, Any]:
    """The counts worth an XCom: nested details stay in ops.sync_runs."""
    return {k: v for k, v in counts.items() if not isinstance(v, dict)}
