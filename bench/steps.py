"""Run one pipeline step in a fresh process and report its result and peak RSS.

Each DAG task runs in its own process in Airflow; measuring a step in a child
of its own gives that task's peak memory, which the in-process ``dag.test``
cannot separate.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import queue as queue_module
import time
from pathlib import Path
from typing import Any


def _child(step: str, params: dict[str, Any], queue: mp.Queue) -> None:
    import psycopg

    from lms_connectors import catalogue, progress
    from lms_connectors.providers.openclassrooms import PROVIDER
    from lms_connectors.providers.openclassrooms.client import OpenClassroomsClient
    from lms_connectors.settings import ConnectorSettings

    settings = ConnectorSettings.model_validate(params["settings"])
    run_id, connector = params["run_id"], "openclassrooms"
    t0 = time.perf_counter()
    with psycopg.connect(params["dsn"]) as conn:
        if step.startswith("extract"):
            sim = params["sim"]
            client = OpenClassroomsClient(sim["url"], sim["client_id"], sim["client_secret"], sim["organization_id"])
            if step == "extract_courses":
                result: Any = catalogue.extract_courses(conn, client.iter_course_pages, run_id, PROVIDER)
            else:
                since = dt.datetime.fromisoformat(params["since"])
                until = dt.datetime.fromisoformat(params["until"])
                result = progress.extract_activity(
                    conn, lambda: client.iter_activity_pages(since, until), run_id, params["key"].encode(), PROVIDER
                )["records"]
        elif step == "transform_courses":
            result = catalogue.transform_courses(conn, run_id, PROVIDER)
        elif step == "validate_courses":
            result = catalogue.validate_courses(conn, run_id, connector, settings, PROVIDER)
        elif step == "load_courses":
            result = catalogue.load_courses(
                conn, run_id, connector, settings, dt.datetime.fromisoformat(params["until"]), PROVIDER
            )
        elif step == "transform_progress":
            result = progress.transform_progress(conn, run_id, connector, params["key"].encode(), PROVIDER)
        elif step == "validate_progress":
            result = progress.validate_progress(
                conn,
                run_id,
                connector,
                settings,
                dt.datetime.fromisoformat(params["since"]),
                dt.datetime.fromisoformat(params["until"]),
            )
        elif step == "load_progress":
            result = progress.load_progress(
                conn,
                run_id,
                connector,
                dt.datetime.fromisoformat(params["since"]),
                dt.datetime.fromisoformat(params["until"]),
            )
        else:
            raise ValueError(f"unknown step {step}")
    seconds = time.perf_counter() - t0
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


STEPS = (
    "extract_courses",
    "transform_courses",
    "validate_courses",
    "load_courses",
    "extract_progress",
    "transform_progress",
    "validate_progress",
    "load_progress",
)


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
