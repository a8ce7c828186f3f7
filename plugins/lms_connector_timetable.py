"""Airflow plugin: registers the connectors' timetable (lms_connectors.timetable) so that the
scheduler, the API server and the DAG processor can deserialize the DAGs that use it."""

from __future__ import annotations

from typing import ClassVar

from airflow.plugins_manager import AirflowPlugin

from lms_connectors.timetable import DayIntervalTimetable


class LmsConnectorTimetablePlugin(AirflowPlugin):
    name = "lms_connector_timetable"
    timetables: ClassVar[list[type]] = [DayIntervalTimetable]
