"""The connectors' schedule: daily data intervals where a run's logical date names the day it covers.

Airflow's ``CronDataIntervalTimetable`` gives a scheduled or backfill run with logical date D
the interval [D, D+1), but a manual run with logical date D the interval [D-1, D). Two runs
for the same day then had different logical dates, so demo runs, backfills and the scheduler
collided on the unique (dag_id, logical_date): a backfill reused the wrong run and the scheduler
looped on "run already exists". Here a manual run whose logical date falls on a schedule
boundary covers the interval that starts there, exactly like a scheduled run; any other
logical date (the UI's default "now") covers the last complete interval before it, as before.

Run ids name that day too (``scheduled__2026-11-29``), not the time the run was created (Airflow
3's default: a scheduled run for 29 November was ``scheduled__2026-11-30T00:00:00+00:00``).

Registered by the ``lms_connector_timetable`` plugin so that the scheduler, the API server and
the DAG processor can deserialize it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.timetables.base import DataInterval
from airflow.timetables.interval import CronDataIntervalTimetable
from airflow.utils.types import DagRunType
from pendulum import DateTime

# One run per interval for these types (the logical date is unique): the day alone is unique.
ONE_PER_DAY = (DagRunType.SCHEDULED, DagRunType.BACKFILL_JOB)


class DayIntervalTimetable(CronDataIntervalTimetable):
    """``CronDataIntervalTimetable`` whose manual runs on a boundary cover the interval starting there."""

    description = "daily intervals; a run's logical date is the start of the day it covers"

    def infer_manual_data_interval(self, *, run_after: DateTime) -> DataInterval:
        start = self._align_to_prev(run_after)
        if start == run_after:
            return DataInterval(start=start, end=self._get_next(start))
        return DataInterval(start=self._get_prev(start), end=start)

    def generate_run_id(
        self, *, run_type: DagRunType, run_after: DateTime, data_interval: DataInterval | None, **extra: Any
    ) -> str:
        if data_interval is None:
            return super().generate_run_id(run_type=run_type, run_after=run_after, data_interval=data_interval, **extra)
        return run_id_for(DagRunType(run_type), data_interval.start, run_after)


def run_id_for(run_type: DagRunType, start: DateTime, run_after: DateTime) -> str:
    """``scheduled__2026-11-29``; a manual run adds when it was triggered (two may cover one day)."""
    day = start.date().isoformat() if start.time() == dt.time() else start.isoformat()
    if run_type in ONE_PER_DAY:
        return run_type.generate_run_id(suffix=day)
    return run_type.generate_run_id(suffix=f"{day}__triggered_{run_after.isoformat()}")


# A serialized DAG version in the metadata database names its timetable by the import path the class
# had when the version was written, and Airflow reads old versions again (clearing or re-running an
# old run). Paths the class had before are registered too, so an upgrade never strands a run.
PERSISTED_NAMES = ("lms_connectors.timetable.DayIntervalTimetable",)
PERSISTED_ALIASES: tuple[type[DayIntervalTimetable], ...] = tuple(
    type(name.rsplit(".", 1)[1], (DayIntervalTimetable,), {"__module__": name.rsplit(".", 1)[0]})
    for name in PERSISTED_NAMES
)
