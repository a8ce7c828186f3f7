"""Time-spent rules: the strategies a provider declares by name (``Provider.time_spent_rule``).

Each rule gives the minutes of one activity record from the course's duration, the progress and the
seconds the provider reports, says whether the warehouse sums those minutes over the days it holds
(a provider that reports each day's viewing) or stores them as they come (a figure that already
covers the learner's whole history), and how the docs and the DAG's page describe it. Adding a rule
is adding an entry here.

Pure rules: they work on scalars and numpy arrays alike; no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class TimeRule:
    name: str
    described: str
    minutes: Callable[[Any, Any, Any], Any]
    # True: the record's minutes are that day's; the merge sums them over the days it holds.
    summed_by_day: bool


RULES: dict[str, TimeRule] = {
    r.name: r
    for r in (
        TimeRule(
            "theoretical",
            "theoretical time spent: the course's duration x progress (the provider does not measure time)",
            lambda duration_minutes, progress, seconds: duration_minutes * progress / 100,
            summed_by_day=False,
        ),
        TimeRule(
            "measured",
            "measured time spent: the seconds the provider reports as viewed each day, summed over the days loaded",
            lambda duration_minutes, progress, seconds: seconds / 60,
            summed_by_day=True,
        ),
        TimeRule(
            "reported_total",
            "reported time spent: the learner's total time on the course as the provider last reported it",
            lambda duration_minutes, progress, seconds: seconds / 60,
            summed_by_day=False,
        ),
    )
}


def time_rule(name: str) -> TimeRule:
    try:
        return RULES[name]
    except KeyError:
        raise ValueError(f"no time-spent rule {name!r}; known: {', '.join(RULES)}") from None
