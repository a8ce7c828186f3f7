"""Airflow plugin: registers the connectors' timetable (lms_connectors.orchestration.timetable) so that the
scheduler, the API server and the DAG processor can deserialize the DAGs that use it, under its
import path and the paths it had before (DAG versions written by an earlier release name those)."""

from __future__ import annotations

from typing import ClassVar

from airflow.plugins_manager import AirflowPlugin

from lms_connectors.orchestration.timetable import PERSISTED_ALIASES, DayIntervalTimetable


class LmsConnectorTimetablePlugin(AirflowPlugin):
    name = "lms_connector_timetable"
    timetables: ClassVar[list[type]] = [DayIntervalTimetable, *PERSISTED_ALIASES]
