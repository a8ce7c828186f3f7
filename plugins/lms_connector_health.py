"""The connector health page's Airflow plugin, for an Airflow that reads this repository's plugins
folder; an Airflow with the wheel installed finds the same plugin through its entry point."""

from lms_connectors.health.plugin import LmsConnectorHealthPlugin

__all__ = ["LmsConnectorHealthPlugin"]
