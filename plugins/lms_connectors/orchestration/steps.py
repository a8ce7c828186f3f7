"""What a task adds around the pipeline's steps: the registry entry's Connector, a warehouse
connection, errors a retry cannot fix failing the task at once, and the run's conf checked.

A task runs one or more steps of ``lms_connectors.pipeline`` (which declares them, their order and
their bookkeeping) through :func:`run_step`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from airflow.sdk import task
from airflow.sdk.exceptions import AirflowFailException

from lms_connectors.providers.registry import ConnectorSpec
from lms_connectors.rules.context import RunContext
from lms_connectors.rules.errors import PermanentError
from lms_connectors.rules.run_conf import unknown_conf_keys

if TYPE_CHECKING:
    from lms_connectors.pipeline import Connector

log = logging.getLogger(__name__)

# ``@task`` for our tasks: what a task returns is one XCom. From a ``dict`` return annotation TaskFlow
# infers multiple_outputs and also pushes each key as an XCom of its own: one more Execution API call
# and metadata row per key, 11 a connector run, none of which any task reads.
one_xcom_task = functools.partial(task, multiple_outputs=False)


def refuse_unknown_conf(context: Any) -> None:
    """Fail the task, without retries, when its run's conf holds an undeclared key."""
    dag_run = context.get("dag_run")
    message = unknown_conf_keys(getattr(dag_run, "conf", None), context["dag"].params.keys())
    if message:
        raise AirflowFailException(message)


@contextlib.contextmanager
def fail_fast() -> Iterator[None]:
    """Errors a retry cannot fix fail the task at once (no retries), with their message.

    The message says what is wrong and what to do; Airflow logs the failure with a traceback, and
    the error's own frames (the client's, the pipeline's, 60-200 lines) would bury that line: they
    are logged at DEBUG, not chained."""
    try:
        yield
    except PermanentError as exc:
        log.debug("where the %s was raised", type(exc).__name__, exc_info=exc)
        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from None


def connector_of(spec: ConnectorSpec) -> Connector:
    """What the pipeline needs of a registry entry: its provider, its client from the entry's
    Connection, and the run's learner keys from the pseudonymisation Connection."""
    from lms_connectors import providers
    from lms_connectors.pipeline import Connector
    from lms_connectors.privacy import pseudonym

    provider = providers.get(spec.provider)
    return Connector(
        id=spec.id,
        provider=provider,
        client=lambda: provider.client(spec.provider_conn_id),
        keys=lambda conn: pseudonym.run_keys(conn, spec.pseudonymisation_conn_id, spec.id),
    )


def run_step(
    spec: ConnectorSpec, cfg: dict[str, Any], name: str, *, approved_digest: str | None = None
) -> tuple[RunContext, dict[str, Any]]:
    """One pipeline step of a task: its warehouse connection, errors a retry cannot fix failing the
    task at once. Returns the run context and the step's counts."""
    from lms_connectors import pipeline
    from lms_connectors.warehouse.db import connect

    ctx = RunContext.from_xcom(cfg)
    with fail_fast(), connect(spec.warehouse_conn_id) as conn:
        return ctx, pipeline.run(name, conn, ctx, connector_of(spec), approved_digest=approved_digest)
