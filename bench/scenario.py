"""The scale scenario both benchmarks serve from the simulator."""

from __future__ import annotations

import datetime as dt

SCENARIO_START = dt.date(2026, 10, 1)
SEED = 42
# The large scenario: a year of daily activity for 20,000 learners on 5,000 courses, about
# 5,000,000 records (265 a learner over a month's range gives that over a year), ending the day
# the main scenario's 30 days end.
LARGE = {"courses": 5000, "learners": 20_000, "days": 365, "activity_per_learner": 265}
LARGE_START = SCENARIO_START + dt.timedelta(days=30 - 365)


def scenario_args(
    courses: int, learners: int, days: int, start: dt.date = SCENARIO_START, activity_per_learner: float | None = None
) -> list[str]:
    """Simulator arguments: ``courses`` and ``learners`` with ``days`` of activity from ``start``."""
    more = [] if activity_per_learner is None else ["--activity-per-learner", str(activity_per_learner)]
    return [
        *more,
        "--seed",
        str(SEED),
        "--courses",
        str(courses),
        "--learners",
        str(learners),
        "--start-date",
        start.isoformat(),
        "--days",
        str(days),
    ]
