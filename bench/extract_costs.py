"""Where the extract's time goes, stage by stage, beside the floor of fetching its pages.

``bench/fetch_floor.py`` says how far the extract step is from fetching its bytes; this says why.
One day range of activity is fetched once through the recording proxy (so the pages are served
from memory, as there), then each stage of the per-record work is timed alone, in this process,
on the same records (best of ``--reps``):

- ``fetch floor``: the same GETs, one at a time, each body read, nothing decoded;
- ``client``: the provider client reading the same listing (requests, retries, paging checks,
  decoding), one request at a time;
- ``decode``: the page bodies decoded (``jsonpage.decode_array``, as the client does);
- ``screen``: the record guard on every record (allow-list, kinds, caps, characters);
- ``hash``: the learner's keyed hash (HMAC-SHA256 of the normalised email);
- ``serialise``: the screened record to JSON text, as it is staged;
- ``copy``: the staged rows, already built, written by COPY into a table shaped as staging;
- ``extract loop``: the pipeline's own staging loop (``progress.extract_activity``: suppression
  check, screen, hash, serialise, COPY) over the decoded pages, nothing fetched.

Every figure is also given per record and as a multiple of the fetch floor: the client plus the
extract loop is what the extract step costs (its threads reading ahead aside).

    python -m bench.extract_costs [--courses 5000 --learners 200000 --days 30 --reps 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

import orjson

from bench import fetch_floor
from bench.steps import begin, connector, run_context
from lms_connectors.privacy.pseudonym import learner_hash
from lms_connectors.rules import guard
from lms_connectors.rules import records as r
from lms_connectors.rules.jsonpage import decode_array

STAGING_COPY = "COPY costs_staging (run_id, seq, learner_hash, record, reject_reason, reject_detail) FROM STDIN"


def best_of(reps: int, fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def recorded_pages(params: dict[str, Any], proxy: fetch_floor.RecordingProxy) -> tuple[list[tuple[bytes, Any]], float]:
    """The listing's page bodies as the client decoded them (body, array key), read through the proxy
    one request at a time; then, replaying, the seconds the client takes to read them again."""
    step = fetch_floor.proxied(params, proxy.url, 1)
    ctx = run_context(step)
    bodies: list[tuple[bytes, Any]] = []

    def read(keep: bool) -> None:
        client = connector(step).client()
        if keep:
            original = client.decode_page

            def decode_page(resp: Any, body: bytes, what: str, array_key: str | None = None) -> Any:
                bodies.append((body, array_key))
                return original(resp, body, what, array_key)

            client.decode_page = decode_page
        for _ in client.iter_activity_pages(ctx.interval_start, ctx.interval_end):
            pass

    read(keep=True)
    proxy.replay()
    return bodies, best_of(params["reps"], lambda: read(keep=False))


def measure(params: dict[str, Any]) -> dict[str, Any]:
    import psycopg

    from lms_connectors import providers
    from lms_connectors.pipeline import progress

    provider = providers.get(params["provider"])
    schema = provider.activity_schema
    email_path = schema.field(r.LEARNER).path
    key = hashlib.sha256(b"bench extract costs").digest()
    reps = params["reps"]
    proxy = fetch_floor.RecordingProxy(params["sim"]["url"])
    try:
        bodies, client_seconds = recorded_pages(params, proxy)
        keys = [k for k in proxy.replay() if "activity" in k[1]]
        floor = min(fetch_floor.fetch_floor(proxy.url, keys)["seconds"] for _ in range(reps))
    finally:
        proxy.close()

    def decode() -> list[list[Any]]:
        return [decode_array(body, array_key)[0] if array_key else decode_array(body)[0] for body, array_key in bodies]

    pages = decode()
    raws = [raw for page in pages for raw in page]
    screened = [guard.screen(raw, schema) for raw in raws]
    emails = [guard.lookup(raw, email_path) for raw in raws]
    # As staged: the email leaves the record (only its hash is kept).
    records = [{k: v for k, v in s.record.items() if k != r.LEARNER} for s in screened]
    rows = [
        ("costs", seq, learner_hash(key, email), orjson.dumps(rec).decode(), s.reason, s.detail)
        for seq, (email, rec, s) in enumerate(zip(emails, records, screened, strict=True))
    ]
    stages: dict[str, float] = {"fetch floor": floor, "client": client_seconds}
    stages["decode"] = best_of(reps, decode)
    stages["screen"] = best_of(reps, lambda: [guard.screen(raw, schema) for raw in raws])
    stages["hash"] = best_of(reps, lambda: [learner_hash(key, e) for e in emails])
    stages["serialise"] = best_of(reps, lambda: [orjson.dumps(rec).decode() for rec in records])

    begin(params)
    with psycopg.connect(params["dsn"]) as conn:

        def copy() -> None:
            with conn.transaction():
                conn.execute(
                    "CREATE TEMP TABLE costs_staging (LIKE staging.raw_activity INCLUDING DEFAULTS) ON COMMIT DROP"
                )
                with conn.cursor() as cur, cur.copy(STAGING_COPY) as out:
                    for row in rows:
                        out.write_row(row)

        stages["copy"] = best_of(reps, copy)
        stages["extract loop"] = best_of(
            reps, lambda: progress.extract_activity(conn, pages, params["run_id"], key, provider)
        )
        conn.commit()
    n = len(raws)
    return {
        "records": n,
        "pages": len(bodies),
        "mb": sum(len(b) for b, _ in bodies) / 1e6,
        "stages": {
            name: {"seconds": s, "us_per_record": s / n * 1e6, "over_fetch_floor": s / floor}
            for name, s in stages.items()
        },
        "extract_over_fetch_floor": (stages["client"] + stages["extract loop"]) / floor,
    }


def report(out: dict[str, Any]) -> None:
    print(f"\n{out['records']:,} records in {out['pages']} pages ({out['mb']:.1f} MB), best of the reps")
    print(f"{'stage':<14}{'seconds':>9}{'us/record':>11}{'x floor':>9}")
    for name, s in out["stages"].items():
        print(f"{name:<14}{s['seconds']:>9.2f}{s['us_per_record']:>11.2f}{s['over_fetch_floor']:>9.2f}")
    print(f"client + extract loop over the fetch floor: {out['extract_over_fetch_floor']:.2f}x")


def main(argv: list[str] | None = None) -> int:
    from bench.pipeline import build, embedded_postgres, step_params
    from bench.scenario import scenario_args
    from simulator import launch

    p = argparse.ArgumentParser(prog="python -m bench.extract_costs", description=__doc__)
    p.add_argument("--courses", type=int, default=5000)
    p.add_argument("--learners", type=int, default=200_000)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args(argv)
    with embedded_postgres() as cluster, launch.running(scenario_args(args.courses, args.learners, args.days)) as sim:
        _, settings = build(cluster, sim, "bench_costs")
        params = {**step_params(cluster, "bench_costs", settings, sim, args.days, "costs"), "reps": args.reps}
        out = measure(params)
    print(json.dumps(out, indent=2))
    report(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
