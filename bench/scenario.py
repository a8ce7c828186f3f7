"""The scale scenario both benchmarks serve from the simulator."""

from __future__ import annotations

import datetime as dt

SCENARIO_START = dt.date(2026, 10, 1)
SEED = 42


def scenario_args(courses: int, learners: int, days: int) -> list[str]:
    """Simulator arguments: ``courses`` and ``learners`` with ``days`` of activity from SCENARIO_START."""
    return [
        "--seed",
        str(SEED),
        "--courses",
        str(courses),
        "--learners",
        str(learners),
        "--start-date",
        SCENARIO_START.isoformat(),
        "--days",
        str(days),
    ]
