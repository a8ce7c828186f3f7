"""``make bench``: the progress load against the two-table COPY floor, the whole DAG, memory, parsing.

Builds a scale scenario with the simulator (default 5,000 courses, 200,000
learners, about 1,000,000 activity records over 30 days) on an embedded
Postgres, then measures in one run, on the same rows:

- floor: COPY of the rows into copies of both tables the load fills (the
  daily snapshot and current progress, with their keys and indexes): what
  writing the warehouse's two targets costs at the least; for reference, the
  COPY into the daily table alone;
- the project's progress load (COPY into staging + ``load_progress``):
  initial, no-change re-run, 10 % of rows changed, with rows written, and a
  daily run on time (a new day's rows while current progress already holds
  every learner) against the two-table COPY of that day's rows;
- pandas ``to_sql`` of the same rows into the daily table's shape;
- the whole DAG (``dag.test``, one run loading every day with
  ``initial_load_days``): seconds and records/s;
- peak RSS of each step, run in a process of its own, at 100,000 and at
  1,000,000 records (flat: no more at full scale than at a tenth);
- parsing the DAG file with a registry of 200 connectors, in a fresh process.

Medians of ``--reps`` repetitions; prints one table and writes JSON.
``--smoke`` runs a 10,000-record version (used by the test suite).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import requests
import yaml

from bench import fetch_floor
from bench.scenario import SCENARIO_START, scenario_args
from bench.steps import begin, run_step, steps
from devstack import postgres, stack
from devstack.seed import seed_lms
from lms_connectors.rules.paths import PROJECT_ROOT
from simulator import launch

START = SCENARIO_START
PROGRESS_COLS = (
    "seq, provider_course_id, lms_course_id, user_id, progress_pct, time_spent_minutes, started_at, completed_at, "
    "provider_updated_at, learner_hash, outcome"
)
FLOOR_TABLE = """CREATE TABLE bench_floor (
    activity_date date NOT NULL, lms_course_id bigint NOT NULL, user_id text NOT NULL, connector_id text NOT NULL,
    progress_pct numeric(5, 2) NOT NULL, time_spent_minutes numeric(10, 2) NOT NULL, started_at timestamptz,
    completed_at timestamptz, provider_updated_at timestamptz NOT NULL,
    PRIMARY KEY (activity_date, lms_course_id, user_id))"""


@contextlib.contextmanager
def embedded_postgres() -> Iterator[postgres.Cluster]:
    """A secured cluster, set up as the embedded stack's (owner, runtime logins, passwords)."""
    parent = Path(tempfile.mkdtemp(prefix="lms-bench-"))
    cluster = postgres.Cluster(postgres.start(parent / "data"), postgres.new_secrets())
    postgres.secure(parent / "data", cluster)
    try:
        yield cluster
    finally:
        postgres.stop(parent / "data")
        # A full run leaves several GB of data no one reads again.
        shutil.rmtree(parent, ignore_errors=True)


def median_of(reps: int, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    runs = [fn() for _ in range(reps)]
    out = {"seconds": statistics.median(r["seconds"] for r in runs), "runs": [round(r["seconds"], 3) for r in runs]}
    for key in runs[0]:
        if key != "seconds":
            out[key] = runs[-1][key]
    return out


# The slowest statements of a timed load that the report shows.
STATEMENTS_SHOWN = 5


class TimedConnection:
    """A connection whose ``execute`` calls are timed, each with its statement's first words
    (comments skipped): what the load does is unchanged, only watched."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn
        self.timed: list[tuple[float, str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self._conn.execute(query, *args, **kwargs)
        finally:
            code = " ".join(line for line in str(query).splitlines() if not line.strip().startswith("--"))
            self.timed.append((time.perf_counter() - t0, " ".join(code.split())[:100]))

    def slowest(self, n: int) -> list[dict[str, Any]]:
        return [{"seconds": s, "statement": q} for s, q in sorted(self.timed, reverse=True)[:n]]


class Bench:
    """The same staged progress rows, loaded three ways. Every path starts from binary COPY
    data already in memory, so what is compared is the load, not the serialisation.

    The project's load runs as the connector's runtime login, as in production; the
    reference tables (floor, to_sql) are the owner's."""

    def __init__(self, dsn: str, sync_dsn: str, since: dt.datetime, until: dt.datetime) -> None:
        self.dsn, self.sync_dsn = dsn, sync_dsn
        self.since, self.until = since, until

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.dsn)

    def _export(self, sql: str) -> bytes:
        buf = io.BytesIO()
        with self.connect() as conn, conn.cursor() as cur, cur.copy(f"COPY ({sql}) TO STDOUT (FORMAT binary)") as copy:
            for chunk in copy:
                buf.write(chunk)
        return buf.getvalue()

    def staged(self, source_run: str, run_id: str, changed_share: float = 0.0, days: str = "true") -> bytes:
        """The source run's accepted rows as staging rows of ``run_id`` (a share made newer; ``days``: a
        condition on ``provider_updated_at`` selecting some days only)."""
        change = f"(seq % {round(1 / changed_share)} = 0)" if changed_share else "false"
        return self._export(
            f"""SELECT '{run_id}'::text, seq, provider_course_id, lms_course_id, user_id,
                       CASE WHEN {change} THEN least(progress_pct + 1, 100) ELSE progress_pct END,
                       time_spent_minutes, started_at, completed_at,
                       CASE WHEN {change} THEN provider_updated_at + interval '1 second' ELSE provider_updated_at END,
                       learner_hash, outcome
                FROM staging.progress WHERE run_id = '{source_run}' AND outcome = 'ok' AND ({days})"""
        )

    def target_rows(self, source_run: str, days: str = "true") -> bytes:
        """The same rows shaped as the daily table (one per day, course and learner)."""
        return self._export(
            f"""SELECT DISTINCT ON (d, lms_course_id, user_id) (provider_updated_at AT TIME ZONE 'UTC')::date AS d,
                       lms_course_id, user_id, 'openclassrooms'::text, progress_pct, time_spent_minutes, started_at,
                       completed_at, provider_updated_at
                FROM staging.progress WHERE run_id = '{source_run}' AND outcome = 'ok' AND ({days})
                ORDER BY d, lms_course_id, user_id, provider_updated_at DESC"""
        )

    def current_rows(self, source_run: str, days: str = "true") -> bytes:
        """The same rows shaped as current progress (one per course and learner)."""
        return self._export(
            f"""SELECT DISTINCT ON (lms_course_id, user_id) lms_course_id, user_id, 'openclassrooms'::text,
                       progress_pct, time_spent_minutes, started_at, completed_at, provider_updated_at,
                       '{source_run}'::text
                FROM staging.progress WHERE run_id = '{source_run}' AND outcome = 'ok' AND ({days})
                ORDER BY lms_course_id, user_id, provider_updated_at DESC, progress_pct DESC"""
        )

    def both_targets(self, daily: bytes, current: bytes) -> dict[str, Any]:
        # The columns the exports hold (a measured provider's time viewed is not among them).
        daily_cols = (
            "activity_date, lms_course_id, user_id, connector_id, progress_pct, time_spent_minutes, started_at, "
            "completed_at, provider_updated_at"
        )
        current_cols = (
            "lms_course_id, user_id, connector_id, progress_pct, time_spent_minutes, started_at, completed_at, "
            "provider_updated_at, last_run_id"
        )
        tables = {
            "bench_daily": ("stats.course_progress_daily", daily, daily_cols),
            "bench_current": ("stats.course_progress", current, current_cols),
        }
        with self.connect() as conn:
            for name, (like, _, _) in tables.items():
                conn.execute(f"DROP TABLE IF EXISTS {name}")
                conn.execute(f"CREATE TABLE {name} (LIKE {like} INCLUDING ALL)")
            conn.commit()
            t0 = time.perf_counter()
            with conn.cursor() as cur:
                for name, (_, data, cols) in tables.items():
                    with cur.copy(f"COPY {name} ({cols}) FROM STDIN (FORMAT binary)") as copy:
                        copy.write(data)
            conn.commit()
            seconds = time.perf_counter() - t0
            rows = sum(conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in tables)
            for name in tables:
                conn.execute(f"DROP TABLE {name}")
        return {"seconds": seconds, "rows": rows}

    def floor(self, data: bytes) -> dict[str, Any]:
        with self.connect() as conn:
            conn.execute("DROP TABLE IF EXISTS bench_floor")
            conn.execute(FLOOR_TABLE)
            conn.commit()
            t0 = time.perf_counter()
            with conn.cursor() as cur, cur.copy("COPY bench_floor FROM STDIN (FORMAT binary)") as copy:
                copy.write(data)
            conn.commit()
            seconds = time.perf_counter() - t0
            rows = conn.execute("SELECT count(*) FROM bench_floor").fetchone()[0]
        return {"seconds": seconds, "rows": rows}

    def project_load(
        self,
        data: bytes,
        run_id: str,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        statements: bool = False,
    ) -> dict[str, Any]:
        """The staged rows' COPY and ``load_progress``; with ``statements``, the merge's slowest
        statements too (where the load's time goes, each timed as the merge runs it)."""
        from lms_connectors.pipeline import progress

        with psycopg.connect(self.sync_dsn) as conn:
            conn.execute("DELETE FROM staging.progress WHERE run_id = %s", (run_id,))
            conn.commit()
            t0 = time.perf_counter()
            with (
                conn.cursor() as cur,
                cur.copy(f"COPY staging.progress (run_id, {PROGRESS_COLS}) FROM STDIN (FORMAT binary)") as copy,
            ):
                copy.write(data)
            conn.commit()
            # Only the merge's own statements are timed (the staging COPY is timed as a whole).
            merging = TimedConnection(conn) if statements else conn
            merge = progress.load_progress(merging, run_id, "openclassrooms", since or self.since, until or self.until)
            seconds = time.perf_counter() - t0
        out = {"seconds": seconds, "rows_written": merge["progress_rows"] + merge["daily_rows"]}
        if isinstance(merging, TimedConnection):
            out["statements"] = merging.slowest(STATEMENTS_SHOWN)
        return out

    def reset_targets(self) -> None:
        with self.connect() as conn:
            conn.execute("TRUNCATE stats.course_progress, stats.course_progress_daily")

    def to_sql(self, source_run: str) -> dict[str, Any]:
        import pandas as pd
        import sqlalchemy

        with self.connect() as conn:
            cur = conn.execute(
                f"""SELECT DISTINCT ON (activity_date, lms_course_id, user_id)
                           (provider_updated_at AT TIME ZONE 'UTC')::date AS activity_date, lms_course_id, user_id,
                           'openclassrooms' AS connector_id, progress_pct, time_spent_minutes, started_at,
                           completed_at, provider_updated_at
                    FROM staging.progress WHERE run_id = '{source_run}' AND outcome = 'ok'
                    ORDER BY activity_date, lms_course_id, user_id, provider_updated_at DESC"""
            )
            df = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])
            df = df.astype({"progress_pct": float, "time_spent_minutes": float})
            conn.execute("DROP TABLE IF EXISTS bench_floor")
            conn.execute(FLOOR_TABLE)
        engine = sqlalchemy.create_engine("postgresql+psycopg://", creator=self.connect)
        t0 = time.perf_counter()
        df.to_sql("bench_floor", engine, if_exists="append", index=False, chunksize=50_000)
        seconds = time.perf_counter() - t0
        engine.dispose()
        return {"seconds": seconds, "rows": len(df)}


def build(cluster: postgres.Cluster, sim: launch.SimulatorProcess, db: str) -> tuple[str, dict]:
    """A fresh warehouse ``db``, deployed and seeded by its owner; returns the owner's DSN and the settings."""
    with cluster.connect(autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {db}")
    postgres.ensure_database(cluster, db)
    postgres.deploy(cluster, db)
    seed = requests.get(f"{sim.url}/_sim/lms-seed", timeout=120).json()
    with cluster.connect(postgres.OWNER, db) as conn:
        seed_lms(conn, seed)
    return cluster.conninfo(postgres.OWNER, db), seed["settings"]


def step_params(
    cluster: postgres.Cluster,
    db: str,
    settings: dict,
    sim: launch.SimulatorProcess,
    days: int,
    run_id: str,
    start: dt.date = START,
) -> dict[str, Any]:
    """What a step run in a process of its own needs (``bench.steps``): the warehouse, the run, the simulator."""
    since = dt.datetime.combine(start, dt.time(), dt.UTC)
    return {
        "dsn": cluster.conninfo(postgres.SYNC_LOGIN, db),
        "key": cluster.secrets["pseudonymisation_key"],
        "settings": {**settings, "max_archive_share": 1.0},
        "run_id": run_id,
        "since": since.isoformat(),
        "until": (since + dt.timedelta(days=days)).isoformat(),
        "provider": sim.provider,
        "sim": {"url": sim.url, "client_id": sim.client_id, "client_secret": sim.client_secret, "extras": sim.extras},
    }


def pipeline_steps(
    cluster: postgres.Cluster, db: str, settings: dict, sim: launch.SimulatorProcess, days: int, run_id: str
) -> dict[str, dict]:
    params = step_params(cluster, db, settings, sim, days, run_id)
    begin(params)
    return {step: run_step(step, params) for step in steps()}


def end_to_end(
    cluster: postgres.Cluster, db: str, sim: launch.SimulatorProcess, settings: dict, days: int, start: dt.date = START
) -> dict[str, Any]:
    """One DAG run through Airflow (dag.test) loading every day of the scenario."""
    home = Path(tempfile.mkdtemp(prefix="lms-bench-airflow-"))
    # The production registry's OpenClassrooms entry, with a start date before the scenario's days.
    registry = home / "connectors.yaml"
    entry = next(
        e
        for e in yaml.safe_load((PROJECT_ROOT / "include" / "connectors.yaml").read_text())["connectors"]
        if e["id"] == "openclassrooms"
    )
    registry.write_text(yaml.safe_dump({"connectors": [{**entry, "start_date": start.isoformat()}]}))
    state = {
        "postgres": {"socket_dir": cluster.socket_dir, "dbname": db},
        "simulators": {
            "openclassrooms": {
                "provider": "openclassrooms",
                "url": sim.url,
                "client_id": sim.client_id,
                "client_secret": sim.client_secret,
                "extras": sim.extras,
            }
        },
    }
    # Airflow's metadata on the bench's Postgres, as in the embedded stack: a new database each run.
    postgres.metadata_database(cluster, stack.METADATA_DB, fresh=True)
    env = {
        **os.environ,
        **stack.airflow_env(state, cluster.secrets),
        **stack.connection_env(stack.connections(state, cluster.secrets, registry)),
        "LMS_CONNECTORS_REGISTRY": str(registry),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW_VAR_LMS_CONNECTOR_OPENCLASSROOMS": json.dumps(settings),
    }
    # The run's day is the last of the load: initial_load_days counts back from its end.
    logical = dt.datetime.combine(start + dt.timedelta(days=days - 1), dt.time(), dt.UTC)
    code = f"""
import datetime as dt, json, time
from airflow.utils import db
db.initdb()
from airflow.dag_processing.dagbag import DagBag
dag = DagBag(dag_folder={str(PROJECT_ROOT / "dags")!r}).get_dag("lms_connector_openclassrooms")
dag.test(logical_date=dt.datetime.fromisoformat({logical.isoformat()!r}) - dt.timedelta(days=1))  # warm-up day
t0 = time.perf_counter()
dr = dag.test(logical_date=dt.datetime.fromisoformat({logical.isoformat()!r}), run_conf={{"initial_load_days": {days}}})
print("E2E", json.dumps({{"state": str(dr.state), "seconds": time.perf_counter() - t0}}))
"""
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("E2E ")), None)
    if line is None:
        raise RuntimeError(f"end-to-end run failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    result = json.loads(line[4:])
    if not result["state"].endswith("success"):
        raise RuntimeError(f"end-to-end run ended {result['state']}:\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}")
    with cluster.connect(postgres.OWNER, db) as conn:
        records = conn.execute(
            "SELECT activity_records FROM ops.sync_runs WHERE status = 'success' ORDER BY started_at DESC LIMIT 1"
        ).fetchone()[0]
    result["records"] = records
    result["records_per_s"] = round(records / result["seconds"])
    return result


def large_scenario(cluster: postgres.Cluster) -> dict[str, Any]:
    """The large scenario (``bench.scenario.LARGE``, about 5,000,000 records): each step in a process of
    its own (seconds and peak RSS; the activity extract through the recording proxy, whose pages then
    give the fetch floor), the two-table COPY floor of its rows, and the whole DAG in one run."""
    from bench.scenario import LARGE, LARGE_START
    from lms_connectors import providers

    days = LARGE["days"]
    started = time.perf_counter()
    out: dict[str, Any] = {"scenario": LARGE}
    with launch.running(
        scenario_args(LARGE["courses"], LARGE["learners"], days, LARGE_START, LARGE["activity_per_learner"])
    ) as sim:
        _, settings = build(cluster, sim, "bench_large")
        params = step_params(cluster, "bench_large", settings, sim, days, "bench-large", LARGE_START)
        begin(params)
        proxy = fetch_floor.RecordingProxy(sim.url)
        try:
            through = {**params, "sim": {**params["sim"], "url": proxy.url}}
            out["steps"] = {step: run_step(step, through if step == "extract_progress" else params) for step in steps()}
            keys = [k for k in proxy.replay() if "activity" in k[1]]
            concurrency = providers.get(sim.provider).concurrent_requests
            out["fetch_floor"] = fetch_floor.fetch_floor(proxy.url, keys, concurrency)
        finally:
            proxy.close()
        since = dt.datetime.combine(LARGE_START, dt.time(), dt.UTC)
        bench = Bench(
            cluster.conninfo(postgres.OWNER, "bench_large"),
            cluster.conninfo(postgres.SYNC_LOGIN, "bench_large"),
            since,
            since + dt.timedelta(days=days),
        )
        out["both_targets"] = bench.both_targets(bench.target_rows("bench-large"), bench.current_rows("bench-large"))
        build(cluster, sim, "bench_large_e2e")
        out["end_to_end"] = end_to_end(cluster, "bench_large_e2e", sim, settings, days, LARGE_START)
    for db in ("bench_large", "bench_large_e2e"):  # a few GB the rest of the bench does not need
        with cluster.connect(autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {db}")
    out["records"] = out["end_to_end"]["records"]
    out["seconds"] = time.perf_counter() - started
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.pipeline", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--courses", type=int, default=5000)
    p.add_argument("--learners", type=int, default=200_000)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--smoke", action="store_true", help="10,000 records, 1 repetition (a check that it works)")
    p.add_argument(
        "--no-large", dest="large", action="store_false", help="skip the large scenario (about 5,000,000 records)"
    )
    p.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench" / "results" / "pipeline.json")
    args = p.parse_args(argv)
    if args.smoke:
        args.courses, args.learners, args.reps = 200, 2000, 1
    figures: dict[str, Any] = {"scenario": {"courses": args.courses, "learners": args.learners, "days": args.days}}
    since = dt.datetime.combine(START, dt.time(), dt.UTC)
    until = since + dt.timedelta(days=args.days)
    sim_args = scenario_args(args.courses, args.learners, args.days)
    with embedded_postgres() as cluster, launch.running(sim_args) as sim:
        # Peak RSS per task at a tenth of the scale, then at full scale (which also stages the rows).
        if not args.smoke:
            with launch.running(scenario_args(args.courses, args.learners // 10, args.days)) as small_sim:
                _, settings_small = build(cluster, small_sim, "bench_small")
                figures["steps_small"] = pipeline_steps(
                    cluster, "bench_small", settings_small, small_sim, args.days, "bench-src"
                )
        dsn, settings = build(cluster, sim, "bench")
        figures["steps"] = pipeline_steps(cluster, "bench", settings, sim, args.days, "bench-src")
        figures["fetch"] = fetch_floor.measure(step_params(cluster, "bench", settings, sim, args.days, "bench-fetch"))
        bench = Bench(dsn, cluster.conninfo(postgres.SYNC_LOGIN, "bench"), since, until)
        floor_rows = bench.target_rows("bench-src")
        initial_rows = bench.staged("bench-src", "bench-initial")
        same_rows = bench.staged("bench-src", "bench-same")
        changed_rows = bench.staged("bench-src", "bench-changed", changed_share=0.1)
        figures["floor"] = median_of(args.reps, lambda: bench.floor(floor_rows))
        figures["rows"] = figures["floor"]["rows"]
        current_rows = bench.current_rows("bench-src")
        figures["both_targets"] = median_of(args.reps, lambda: bench.both_targets(floor_rows, current_rows))

        def initial() -> dict[str, Any]:
            bench.reset_targets()
            return bench.project_load(initial_rows, "bench-initial")

        figures["initial"] = median_of(args.reps, initial)
        figures["no_change"] = median_of(args.reps, lambda: bench.project_load(same_rows, "bench-same"))

        def ten_percent() -> dict[str, Any]:
            bench.reset_targets()
            bench.project_load(initial_rows, "bench-initial")
            return bench.project_load(changed_rows, "bench-changed")

        figures["changed_10pct"] = median_of(args.reps, ten_percent)

        # A daily run on time: current progress already holds every learner, the new day has no rows yet.
        last = until - dt.timedelta(days=1)
        in_last = f"provider_updated_at >= '{last.isoformat()}'"
        before_rows = bench.staged("bench-src", "bench-before", days=f"NOT ({in_last})")
        day_rows = bench.staged("bench-src", "bench-day", days=in_last)

        def new_day() -> dict[str, Any]:
            bench.reset_targets()
            bench.project_load(before_rows, "bench-before")
            return bench.project_load(day_rows, "bench-day", last, until, statements=True)

        figures["new_day"] = median_of(args.reps, new_day)
        figures["new_day_floor"] = median_of(
            args.reps,
            lambda: bench.both_targets(
                bench.target_rows("bench-src", in_last), bench.current_rows("bench-src", in_last)
            ),
        )
        figures["to_sql"] = median_of(1 if args.smoke else args.reps, lambda: bench.to_sql("bench-src"))
        figures["registry"] = registry_parse(20 if args.smoke else REGISTRY_SIZE)
        build(cluster, sim, "bench_e2e")
        figures["end_to_end"] = end_to_end(cluster, "bench_e2e", sim, settings, args.days)
    if args.large and not args.smoke:
        with embedded_postgres() as cluster:
            figures["large"] = large_scenario(cluster)
    figures["targets_held"] = targets_held(figures)
    figures["targets"] = targets(figures)
    report(figures)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2, default=str))
    print(f"\nfigures written to {args.out}")
    return 0


# The targets kept from issue 15 (its three load ratios to the two-table floor are retired: the
# in-place quarantine and the history-keeping comparison that stop them are product guarantees).
MAX_DAG_SECONDS = 45
MAX_RSS_MB = 400
# "Flat": a step's peak RSS at full scale within this factor of its peak at a tenth of the scale.
MAX_RSS_GROWTH = 1.10
# The DAG file with a registry of this many connectors parses within MAX_REGISTRY_PARSE_SECONDS once
# Airflow itself is imported (as in the DAG processor, whose file processes fork from a parent that
# has imported it); docs/BENCHMARKS.md states the bound.
REGISTRY_SIZE = 200
MAX_REGISTRY_PARSE_SECONDS = 5.0


# The targets of issue 26: ratios to floors measured in the same run (the machines differ 2x in
# speed). Each is written to pipeline.json as {"value", "limit", "holds"}; one the bench does not
# measure yet has value and holds null and says why.
LIMITS = {
    "whole_dag_over_floor_1m": 2.5,
    "whole_dag_over_floor_5m": 2.5,
    "peak_rss_mb_5m": 300,
    "rss_growth_5m_over_1m": 1.10,
    "extract_over_fetch_floor": 2.0,
    "on_time_load_over_floor": 3.0,
    "per_run_growth_50_over_10_connectors": 1.20,
}
NOT_MEASURED = {
    "whole_dag_over_floor_5m": "the large scenario did not run (--no-large or --smoke)",
    "peak_rss_mb_5m": "the large scenario did not run (--no-large or --smoke)",
    "rss_growth_5m_over_1m": "the large scenario did not run (--no-large or --smoke)",
    "per_run_growth_50_over_10_connectors": "measured by make bench-airflow (N tenants): bench/results/airflow.json",
}


def targets(f: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target's value in this run, its limit, and whether it holds (None: not measured)."""
    values: dict[str, float | None] = dict.fromkeys(LIMITS)
    fetch = f.get("fetch")
    if fetch:
        values["extract_over_fetch_floor"] = fetch["extract_over_fetch_floor"]
        if f.get("end_to_end"):
            # The whole DAG's floor: fetching its pages plus the COPY of its rows into both tables.
            floor = fetch["fetch_floor_seconds"] + f["both_targets"]["seconds"]
            values["whole_dag_over_floor_1m"] = f["end_to_end"]["seconds"] / floor
    if f.get("new_day"):
        values["on_time_load_over_floor"] = f["new_day"]["seconds"] / f["new_day_floor"]["seconds"]
    large = f.get("large")
    if large:
        floor_5m = large["fetch_floor"]["seconds"] + large["both_targets"]["seconds"]
        values["whole_dag_over_floor_5m"] = large["end_to_end"]["seconds"] / floor_5m
        step = max(large["steps"], key=lambda s: large["steps"][s]["peak_rss_mb"])
        values["peak_rss_mb_5m"] = large["steps"][step]["peak_rss_mb"]
        if f.get("steps"):
            values["rss_growth_5m_over_1m"] = values["peak_rss_mb_5m"] / f["steps"][step]["peak_rss_mb"]
    out = {}
    for name, limit in LIMITS.items():
        value = values[name]
        out[name] = {"value": value, "limit": limit, "holds": None if value is None else value <= limit}
        if value is None:
            out[name]["why"] = NOT_MEASURED.get(name, "not measured in this run")
    memory = memory_at_scale(f)
    if memory:
        for name in ("peak_rss_mb_5m", "rss_growth_5m_over_1m"):
            if out[name]["value"] is None:
                out[name]["why"] += f"; at this run's scale: {memory}"
    return out


def memory_at_scale(f: dict[str, Any]) -> str | None:
    """The largest task's peak at full scale and its growth over a tenth of the scale, in words."""
    full, small = f.get("steps") or {}, f.get("steps_small") or {}
    if not full or not small:
        return None
    step = max(full, key=lambda s: full[s]["peak_rss_mb"])
    growth = max(full[s]["peak_rss_mb"] / small[s]["peak_rss_mb"] for s in full)
    return f"largest task {step} {full[step]['peak_rss_mb']:.0f} MB, largest growth over a tenth {growth:.2f}x"


def targets_held(f: dict[str, Any]) -> dict[str, bool]:
    """Each target of the benchmark and whether this run met it (ratios from this run)."""
    held = {}
    if f.get("end_to_end"):
        held[f"whole DAG < {MAX_DAG_SECONDS} s"] = f["end_to_end"]["seconds"] < MAX_DAG_SECONDS
    peaks = [m["peak_rss_mb"] for size in ("steps", "steps_small") for m in (f.get(size) or {}).values()]
    held[f"peak RSS < {MAX_RSS_MB} MB"] = max(peaks) < MAX_RSS_MB
    if f.get("steps_small"):
        held[f"peak RSS flat (full scale <= {MAX_RSS_GROWTH}x a tenth)"] = all(
            m["peak_rss_mb"] <= MAX_RSS_GROWTH * f["steps_small"][step]["peak_rss_mb"] for step, m in f["steps"].items()
        )
    if f.get("registry"):
        held[f"{REGISTRY_SIZE}-connector registry: DAG file parses < {MAX_REGISTRY_PARSE_SECONDS:g} s"] = (
            f["registry"]["parse"] < MAX_REGISTRY_PARSE_SECONDS
        )
    return held


def registry_parse(size: int = REGISTRY_SIZE) -> dict[str, Any]:
    """Parse the DAG file with a registry of ``size`` connectors in a fresh process: imports, YAML and
    building every DAG, as the DAG processor does (no database or network at parse time)."""
    home = Path(tempfile.mkdtemp(prefix="lms-bench-registry-"))
    entry = yaml.safe_load((PROJECT_ROOT / "include" / "connectors.yaml").read_text())["connectors"][0]
    registry = home / "connectors.yaml"
    registry.write_text(
        yaml.safe_dump({"connectors": [{**entry, "id": f"c{i:03d}", "tags": ["lms"]} for i in range(size)]})
    )
    code = f"""
import json, time
t0 = time.perf_counter()
from airflow.dag_processing.dagbag import DagBag
t1 = time.perf_counter()
bag = DagBag(dag_folder={str(PROJECT_ROOT / "dags" / "lms_connectors.py")!r})
t2 = time.perf_counter()
print("PARSE", json.dumps({{"imports": t1 - t0, "parse": t2 - t1, "dags": len(bag.dags), "errors": len(bag.import_errors)}}))
"""
    env = {
        **os.environ,
        "LMS_CONNECTORS_REGISTRY": str(registry),
        "AIRFLOW_HOME": str(home),
        # A metadata database that is not there: parsing needs none.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres.metadata_url(str(home), "none", "none", "none"),
    }
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("PARSE ")), None)
    if line is None:
        raise RuntimeError(f"registry parse failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    result = json.loads(line[6:])
    if result["errors"] or result["dags"] < 2 * size:
        raise RuntimeError(f"registry parse: {result}")
    return {"connectors": size, "seconds": seconds, **result}


def report(f: dict[str, Any]) -> None:
    floor = f["both_targets"]["seconds"]
    lines = [f"scenario: {f['scenario']}, progress rows: {f['rows']:,}", ""]
    lines.append(f"{'measure':<38}{'median s':>10}{'x floor':>9}{'rows written':>14}")
    for key, label in (
        ("both_targets", "floor: COPY into both target tables"),
        ("floor", "COPY into the daily table alone"),
        ("initial", "project load, empty target"),
        ("no_change", "project load, no change"),
        ("changed_10pct", "project load, 10 % changed"),
        ("to_sql", "pandas to_sql (daily table alone)"),
    ):
        m = f[key]
        written = m.get("rows_written", m.get("rows", ""))
        lines.append(f"{label:<38}{m['seconds']:>10.2f}{m['seconds'] / floor:>9.2f}{written!s:>14}")
    if f.get("new_day"):
        day, day_floor = f["new_day"], f["new_day_floor"]["seconds"]
        lines.append(
            f"{'new day on time (its own floor: ' + format(day_floor, '.2f') + ' s)':<38}{day['seconds']:>10.2f}"
            f"{day['seconds'] / day_floor:>9.2f}{day['rows_written']!s:>14}  (current progress holds every learner)"
        )
        lines += [f"    {s['seconds']:6.3f} s  {s['statement'][:80]}" for s in day.get("statements", [])]

    def measured(label: str, seconds: float, what: str) -> None:
        lines.append(f"{label:<38}{seconds:>10.2f}   {what}")

    if f.get("registry"):
        r = f["registry"]
        measured(
            f"registry of {r['connectors']} connectors: DAG file",
            r["parse"],
            f"{r['dags']} DAGs (a fresh process: {r['seconds']:.1f} s with Airflow's import); "
            f"target < {MAX_REGISTRY_PARSE_SECONDS:g} s",
        )
    if f.get("end_to_end"):
        e = f["end_to_end"]
        measured(
            "whole DAG, one run",
            e["seconds"],
            f"{e['records']:,} records, {e['records_per_s']:,} records/s ({e['state']}); target < {MAX_DAG_SECONDS} s",
        )
    if f.get("fetch"):
        x = f["fetch"]
        measured(
            "extract, pre-rendered pages",
            x["extract_seconds"],
            f"{x['records']:,} records, {x['extract_records_per_s']:,.0f} records/s, {x['concurrent_requests']} "
            f"requests at once ({x['extract_one_at_a_time_seconds']:.2f} s one at a time); fetch floor "
            f"{x['fetch_floor_seconds']:.2f} s ({x['fetch_floor_one_at_a_time_seconds']:.2f} s one at a time; "
            f"{x['fetch_requests']} pages, {x['fetch_mb']:.0f} MB read, nothing decoded)",
        )
    large = f.get("large")
    if large:
        e, x = large["end_to_end"], large["fetch_floor"]
        measured(
            "large scenario: whole DAG, one run",
            e["seconds"],
            f"{e['records']:,} records, {e['records_per_s']:,} records/s ({e['state']}); fetch floor "
            f"{x['seconds']:.2f} s ({x['requests']} pages), COPY floor {large['both_targets']['seconds']:.2f} s; "
            f"the whole scenario {large['seconds'] / 60:.1f} min (target < 30)",
        )
    head = f"{'task':<22}{'s (1/10)':>10}{'RSS MB (1/10)':>15}{'s (full)':>10}{'RSS MB (full)':>15}"
    lines += ["", head + (f"{'s (large)':>11}{'RSS MB (large)':>16}" if large else "")]
    small = f.get("steps_small") or {}
    nan = {"seconds": float("nan"), "peak_rss_mb": float("nan")}
    for step, m in f["steps"].items():
        s = small.get(step, nan)
        line = f"{step:<22}{s['seconds']:>10.2f}{s['peak_rss_mb']:>15.0f}{m['seconds']:>10.2f}{m['peak_rss_mb']:>15.0f}"
        if large:
            g = large["steps"].get(step, nan)
            line += f"{g['seconds']:>11.2f}{g['peak_rss_mb']:>16.0f}"
        lines.append(line)
    lines += ["", "targets (this run):"]
    lines += [f"  {'holds ' if ok else 'MISSED'}  {name}" for name, ok in targets_held(f).items()]
    lines += ["", f"{'target':<40}{'value':>10}{'limit':>8}  holds"]
    for name, t in targets(f).items():
        shown = "-" if t["value"] is None else f"{t['value']:.2f}"
        verdict = t.get("why", "") if t["holds"] is None else ("yes" if t["holds"] else "NO")
        lines.append(f"{name:<40}{shown:>10}{t['limit']:>8g}  {verdict}")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
