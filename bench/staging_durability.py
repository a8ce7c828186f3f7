"""Unlogged or logged staging: what durability would cost the extract, and what detecting a loss costs.

A step hands the next one its rows through run-keyed staging tables. Unlogged, they skip the
write-ahead log: a crash or a failover empties them, and the next step finds fewer rows than were
staged and extracts the day again (``lms_connectors.pipeline.run``). Logged, they would survive a
crash but not come for free. On the embedded Postgres, for N activity-shaped rows (a 64-character
hash, a JSON record of about 200 bytes), in tables shaped as ``staging.raw_activity``:

- ``copy_seconds`` and ``wal_mb``: the COPY of the run's rows, into the unlogged and into the logged
  table (each committed; the WAL written between the two LSNs);
- ``count_seconds``: the check a later step makes, counting the run's rows among ``--other-runs``
  runs of the same size (the tables hold a week of runs by default).

    python -m bench.staging_durability [--rows 1000000 --other-runs 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from devstack import postgres
from devstack.postgres import Cluster

TABLE = """CREATE {kind} TABLE {name} (
    run_id text NOT NULL, seq integer NOT NULL, learner_hash text, record jsonb NOT NULL,
    reject_reason text, reject_detail text, loaded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, seq))"""


def rows(run_id: str, n: int) -> Any:
    for i in range(n):
        record = (
            f'{{"course_id": "{1_000_000 + i % 5000}", "progress": {i % 101}, '
            f'"started_at": "2026-11-0{1 + i % 9}T08:00:00Z", "completed_at": null, '
            f'"updated_at": "2026-11-04T{i % 24:02d}:{i % 60:02d}:00Z"}}'
        )
        yield (run_id, i, f"{i * 2654435761 % 2**64:064x}", record, None, None)


def copy_into(conn: Any, table: str, run_id: str, n: int) -> tuple[float, float]:
    before = conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]
    t0 = time.perf_counter()
    with (
        conn.cursor() as cur,
        cur.copy(f"COPY {table} (run_id, seq, learner_hash, record, reject_reason, reject_detail) FROM STDIN") as copy,
    ):
        for row in rows(run_id, n):
            copy.write_row(row)
    seconds = time.perf_counter() - t0
    wal = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s)", (before,)).fetchone()[0]
    return seconds, float(wal) / 1e6


def measure(n: int, other_runs: int) -> dict[str, Any]:
    parent = Path(tempfile.mkdtemp(prefix="lms-bench-staging-"))
    data_dir = parent / "data"
    try:
        cluster = Cluster(postgres.start(data_dir), postgres.new_secrets())
        out: dict[str, Any] = {"rows": n, "other_runs": other_runs}
        with cluster.connect(autocommit=True) as conn:
            for kind in ("unlogged", "logged"):
                name = f"raw_{kind}"
                conn.execute(TABLE.format(kind="UNLOGGED" if kind == "unlogged" else "", name=name))
                for k in range(other_runs):
                    copy_into(conn, name, f"other/{k}", n)
                conn.execute("CHECKPOINT")
                seconds, wal = copy_into(conn, name, "the/run", n)
                conn.execute(f"VACUUM ANALYZE {name}")
                t0 = time.perf_counter()
                found = conn.execute(f"SELECT count(*) FROM {name} WHERE run_id = %s", ("the/run",)).fetchone()[0]
                count_seconds = time.perf_counter() - t0
                assert found == n
                out[kind] = {
                    "copy_seconds": round(seconds, 2),
                    "wal_mb": round(wal, 1),
                    "count_seconds": round(count_seconds, 3),
                }
        out["logged_over_unlogged_copy"] = round(out["logged"]["copy_seconds"] / out["unlogged"]["copy_seconds"], 2)
        return out
    finally:
        postgres.stop(data_dir)
        shutil.rmtree(parent, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--other-runs", type=int, default=2)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.rows, args.other_runs), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
