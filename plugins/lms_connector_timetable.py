"""The connectors' timetable plugin, for an Airflow that reads this repository's plugins folder; an
Airflow with the wheel installed finds the same plugin through its entry point."""

from lms_connectors.orchestration.plugin import LmsConnectorTimetablePlugin

__all__ = ["LmsConnectorTimetablePlugin"]
