"""The connectors' schedule: daily data intervals where a run's logical date names the day it covers.

Airflow's ``CronDataIntervalTimetable`` gives a scheduled or backfill run with logical date D
the interval [D, D+1), but a manual run with logical date D the interval [D-1, D). Two runs
for the same day then had different logical dates, so demo runs, backfills and the scheduler
collided on the unique (dag_id, logical_date): a backfill reused the wrong run and the scheduler
looped on "run already exists". Here a manual run whose logical date falls on a schedule
boundary covers the interval that starts there, exactly like a scheduled run; any other
logical date (the UI's default "now") covers the last complete interval before it, as before.

Registered by the ``lms_connector_timetable`` plugin so that the scheduler, the API server and
the DAG processor can deserialize it.
"""

from __future__ import annotations

from airflow.timetables.base import DataInterval
from airflow.timetables.interval import CronDataIntervalTimetable
from pendulum import DateTime


class DayIntervalTimetable(CronDataIntervalTimetable):
    """``CronDataIntervalTimetable`` whose manual runs on a boundary cover the interval starting there."""

    description = "daily intervals; a run's logical date is the start of the day it covers"

    def infer_manual_data_interval(self, *, run_after: DateTime) -> DataInterval:
        start = self._align_to_prev(run_after)
        if start == run_after:
            return DataInterval(start=start, end=self._get_next(start))
        return DataInterval(start=self._get_prev(start), end=start)
