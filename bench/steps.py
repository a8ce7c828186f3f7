"""Run one pipeline step in a fresh process and report its result and peak RSS.

Each DAG task runs in its own process in Airflow; measuring a step in a child
of its own gives that task's peak memory, which the in-process ``dag.test``
cannot separate. The step is the pipeline's own (``lms_connectors.pipeline.run``),
the provider reached through the seam like any connector's.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import os
import queue as queue_module
import time
from pathlib import Path
from typing import Any

CONNECTOR = "openclassrooms"
# A directory: each step's process writes a cProfile of its run there (``<step>-<run id>.prof``).
PROFILE_ENV = "LMS_BENCH_PROFILE"


def run_context(params: dict[str, Any]) -> Any:
    from lms_connectors.rules.context import RunContext
    from lms_connectors.rules.settings import ConnectorSettings

    return RunContext(
        run_key=params["run_id"],
        connector_id=CONNECTOR,
        interval_start=dt.datetime.fromisoformat(params["since"]),
        interval_end=dt.datetime.fromisoformat(params["until"]),
        settings=ConnectorSettings.model_validate(params["settings"]),
    )


def connector(params: dict[str, Any]) -> Any:
    from lms_connectors import providers
    from lms_connectors.pipeline import Connector
    from lms_connectors.privacy import pseudonym

    provider = providers.get(params["provider"])
    sim = params["sim"]
    fields = provider.connection(sim["url"], sim["client_id"], sim["client_secret"], **sim["extras"])
    return Connector(
        id=CONNECTOR,
        provider=provider,
        client=lambda: provider.client_from_fields(f"{params['provider']}_bench", fields),
        keys=lambda conn: pseudonym.keys_for(conn, params["key"].encode(), CONNECTOR),
    )


def begin(params: dict[str, Any]) -> None:
    """The run's row, which each step reads (earlier steps' counts) and writes (its own), begun and
    configured by the lifecycle the DAG's config task calls."""
    import psycopg

    from lms_connectors.pipeline import lifecycle

    ctx = run_context(params)
    with psycopg.connect(params["dsn"]) as conn:
        lifecycle.begin(conn, ctx, "bench")
        if lifecycle.configure(conn, ctx, params["settings"], "bench settings") is None:
            raise RuntimeError("the bench's settings disable the connector")


def _child(step: str, params: dict[str, Any], queue: mp.Queue) -> None:
    import psycopg

    from lms_connectors import pipeline

    profiler = None
    if directory := os.environ.get(PROFILE_ENV):
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    t0 = time.perf_counter()
    with psycopg.connect(params["dsn"]) as conn:
        counts = pipeline.run(step, conn, run_context(params), connector(params))
    seconds = time.perf_counter() - t0
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(Path(directory) / f"{step}-{params['run_id']}.prof")
    result = counts["records"] if step.startswith("extract") else counts
    queue.put({"result": result, "seconds": seconds, "peak_rss_mb": peak_rss_mb()})


def peak_rss_mb() -> float:
    """This process's own peak resident size (VmHWM, in MB).

    Not ``getrusage().ru_maxrss``: Linux carries that across ``execve`` from the forked parent, so
    a spawned child reported the bench's own size (about 100 MB more at full scale than at a
    tenth, in every step alike). VmHWM belongs to the process's current memory map.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def steps() -> tuple[str, ...]:
    """The steps of a run in the lifecycle's order (no approval: the bench's settings allow any archive)."""
    from lms_connectors.pipeline import ALL_STEPS

    return ALL_STEPS


def run_step(step: str, params: dict[str, Any]) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(step, params, queue))
    proc.start()
    # A child that dies (import error, OOM kill) never answers: poll instead of blocking forever.
    while True:
        try:
            out = queue.get(timeout=1.0)
            break
        except queue_module.Empty:
            if not proc.is_alive():
                raise RuntimeError(f"step {step} exited with {proc.exitcode} before reporting") from None
    proc.join()
    if proc.exitcode:
        raise RuntimeError(f"step {step} exited with {proc.exitcode}")
    return out
