"""How fast the simulator serves learning activity to one client.

Run: ``.venv/bin/python -m bench.simulator_throughput`` (or ``make bench-sim``).
Starts a simulator at the scale of the performance issue, then reads every
activity record through the production client (page size 500) and prints
start-up time, records and records/s. The pipeline benchmarks rely on this
being well above the pipeline's own rate.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time

import requests

from bench.scenario import SCENARIO_START, scenario_args
from lms_connectors.providers.openclassrooms.client import OpenClassroomsClient
from simulator import launch


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--courses", type=int, default=5000)
    p.add_argument("--learners", type=int, default=200_000)
    p.add_argument("--days", type=int, default=30)
    args = p.parse_args(argv)
    start = SCENARIO_START
    sim_args = scenario_args(args.courses, args.learners, args.days)
    t0 = time.perf_counter()
    with launch.running(sim_args) as sim:
        startup = time.perf_counter() - t0
        state = requests.get(f"{sim.url}/_sim/state", timeout=30).json()
        client = OpenClassroomsClient(sim.url, sim.client_id, sim.client_secret, sim.organization_id, page_size=500)
        since = dt.datetime.combine(start, dt.time(), dt.UTC)
        until = since + dt.timedelta(days=args.days)
        t1 = time.perf_counter()
        records = sum(len(page) for page in client.iter_activity_pages(since, until))
        elapsed = time.perf_counter() - t1
    result = {
        "courses": args.courses,
        "learners": args.learners,
        "activity_records": state["activity_records"],
        "records_read": records,
        "startup_s": round(startup, 2),
        "read_s": round(elapsed, 2),
        "records_per_s": round(records / elapsed),
    }
    print(json.dumps(result, indent=2))
    return 0 if records == state["activity_records"] else 1


if __name__ == "__main__":
    sys.exit(main())
