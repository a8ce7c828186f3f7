"""A burst of xAPI statements against the endpoint: statements/s, answer times, nothing lost.

Run: ``.venv/bin/python -m bench.xapi_burst`` (or ``make bench-xapi``). Starts a secured Postgres
and the endpoint (``python -m lms_connectors.xapi serve``, login lms_xapi, as deployed), then pushes
``--statements`` statements (default 10,000) in POSTs of ``--batch`` statements from ``--clients``
concurrent clients, the way a provider's feed catches up after an outage; a share are resent
(``--resend``), as providers retry. Prints the statements stored per second, the answer times (p50,
p99, max) and checks that every statement is stored exactly once.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import statistics
import sys
import time
import uuid
from typing import Any

import requests

from bench.pipeline import embedded_postgres
from devstack import postgres, xapi
from lms_connectors.warehouse import statements

KEY = "bench-pseudonymisation-key-0123456789abcdef"


def statement(n: int) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "mbox": f"mailto:learner{n % 2000:05d}@example.org"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/progressed"},
        "object": {"objectType": "Activity", "id": f"https://www.linkedin.com/learning/course-{n % 300}"},
        "result": {"extensions": {"https://w3id.org/xapi/cmi5/result/extensions/progress": n % 100}},
        "timestamp": "2026-12-07T10:00:00Z",
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--statements", type=int, default=10_000)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--resend", type=float, default=0.1, help="share of batches sent twice")
    args = p.parse_args(argv)
    with embedded_postgres() as cluster:
        db = "lms_bench_xapi"
        postgres.ensure_database(cluster, db)
        postgres.deploy(cluster, db)
        with cluster.connect(postgres.SYNC_LOGIN, db) as conn:
            creds = statements.create_credentials(conn, "linkedin_learning")
        proc, base = xapi.start(cluster.conninfo(postgres.XAPI_LOGIN, db), KEY)
        try:
            url = f"{base}/statements"
            sent = [statement(n) for n in range(args.statements)]
            batches = [sent[i : i + args.batch] for i in range(0, len(sent), args.batch)]
            every = max(1, round(1 / args.resend)) if args.resend else 0
            work = batches + ([b for i, b in enumerate(batches) if every and i % every == 0])
            session = requests.Session()
            headers = {"X-Experience-API-Version": "1.0.3"}

            def post(batch: list[dict[str, Any]]) -> tuple[float, int]:
                t = time.perf_counter()
                r = session.post(url, json=batch, auth=creds, headers=headers, timeout=60)
                return time.perf_counter() - t, r.status_code

            t0 = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(args.clients) as pool:
                answers = list(pool.map(post, work))
            elapsed = time.perf_counter() - t0
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        with cluster.connect(postgres.SUPERUSER, db) as conn:
            stored = conn.execute("SELECT count(*), count(DISTINCT statement_id) FROM xapi.statements").fetchone()
    times = sorted(t for t, _ in answers)
    statuses = sorted({s for _, s in answers})
    result = {
        "statements": args.statements,
        "requests": len(work),
        "batch": args.batch,
        "clients": args.clients,
        "seconds": round(elapsed, 2),
        "statements_per_s": round(args.statements / elapsed),
        "answer_p50_ms": round(1000 * statistics.median(times), 1),
        "answer_p99_ms": round(1000 * times[min(len(times) - 1, int(0.99 * len(times)))], 1),
        "answer_max_ms": round(1000 * times[-1], 1),
        "statuses": statuses,
        "stored": stored[0],
        "lost": args.statements - stored[1],
    }
    print(json.dumps(result, indent=2))
    return 0 if statuses == [200] and stored == (args.statements, args.statements) else 1


if __name__ == "__main__":
    sys.exit(main())
