"""``python -m simulator``: serve a seeded organization through a provider's API.

``--provider openclassrooms`` (the default) or ``linkedin_learning``: the same
seeded world of courses, learners and learning activity, in that API's shapes.
Prints ``url=``, ``client_id=``, ``client_secret=`` and one ``extra.<name>=``
line per Connection extra the provider's client needs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import socket
import sys
import time

import uvicorn

from simulator.app import PROVIDERS, create_app, provider_module
from simulator.data import SimConfig
from simulator.state import SimState


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = SimConfig()
    p = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    p.add_argument("--provider", choices=PROVIDERS, default=defaults.provider, help="whose API to serve")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument(
        "--catalogue-seed",
        type=int,
        default=None,
        help="the courses' and the activity's own seed (default: --seed); the learners follow --seed",
    )
    p.add_argument("--courses", type=int, default=defaults.courses)
    p.add_argument("--learners", type=int, default=defaults.learners)
    p.add_argument(
        "--start-date",
        type=dt.date.fromisoformat,
        default=defaults.start_date,
        help="first day of learning activity (YYYY-MM-DD)",
    )
    p.add_argument("--days", type=int, default=defaults.days, help="days of learning activity")
    p.add_argument(
        "--activity-per-learner",
        type=float,
        default=defaults.activity_per_learner,
        help="about how many activity records a learner has (over a month's range; more over longer ones)",
    )
    p.add_argument("--client-id", default=defaults.client_id)
    p.add_argument("--client-secret", default=defaults.client_secret)
    p.add_argument("--organization-id", default=defaults.organization_id)
    p.add_argument(
        "--activity-history",
        choices=("snapshots", "latest"),
        default=defaults.activity_history,
        help="serve every update of learning activity (snapshots) or each learner and course's latest state only",
    )
    p.add_argument("--log-level", default="warning")
    args = p.parse_args(argv)
    for name in ("courses", "learners", "days", "activity_per_learner"):
        if getattr(args, name) < 0:
            p.error(f"--{name.replace('_', '-')} must be >= 0")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    t0 = time.perf_counter()
    cfg = SimConfig(
        seed=args.seed,
        courses=args.courses,
        learners=args.learners,
        start_date=args.start_date,
        days=args.days,
        organization_id=args.organization_id,
        client_id=args.client_id,
        client_secret=args.client_secret,
        activity_history=args.activity_history,
        provider=args.provider,
        activity_per_learner=args.activity_per_learner,
        catalogue_seed=args.catalogue_seed,
    )
    state = SimState(cfg)
    # Bind first so --port 0 can report the port the OS picked.
    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(2048)
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"url=http://{host}:{port}", flush=True)
    print(f"provider={cfg.provider}")
    print(f"client_id={cfg.client_id}")
    print(f"client_secret={cfg.client_secret}")
    for name, value in provider_module(cfg.provider).printed_extras(state).items():
        print(f"extra.{name}={value}")
    print(f"activity_records={len(state.activity)}")
    print(f"ready_in={time.perf_counter() - t0:.2f}s", flush=True)
    logging.basicConfig(level=args.log_level.upper())
    config = uvicorn.Config(create_app(state), log_level=args.log_level, access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    sys.exit(main())
