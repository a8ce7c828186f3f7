"""The run context: what every step of a connector run needs, typed, derived once.

The ``config`` task derives a :class:`RunRequest` once from Airflow's context (the run's key, its
interval, the overrides it was started with), records it, validates the settings and hands the
:class:`RunContext` (the request with those settings) to the other tasks through XCom as a small
dict of JSON values: the same code works when tasks run on different workers. The benchmark and
the tests build the same objects without Airflow.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from lms_connectors.rules.settings import ConnectorSettings

# The author email as XCom carries it: a placeholder (RFC 2606's reserved .invalid domain).
AUTHOR_IN_RUN_RECORD = "author@see-the-run-record.invalid"


@dataclasses.dataclass(frozen=True)
class RunRequest:
    """A run as it was asked for, before its settings are read."""

    run_key: str
    connector_id: str
    interval_start: dt.datetime
    interval_end: dt.datetime
    override_mass_archive: bool = False
    delete_unreported: bool = False
    # Heal learners the LMS now knows whatever the settings' bounds (lms_connectors.pipeline.healing).
    approve_healing: bool = False

    def with_settings(self, settings: ConnectorSettings) -> RunContext:
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(RunRequest)}
        return RunContext(**fields, settings=settings)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunContext(RunRequest):
    """A run with its validated settings: what the pipeline's steps work with."""

    settings: ConnectorSettings

    def to_xcom(self) -> dict[str, Any]:
        """The run as XCom keeps it: no email (the author's is in the run's ``ops.sync_runs.settings``,
        where the load reads it; here a placeholder of the right form)."""
        return {
            "run_key": self.run_key,
            "connector_id": self.connector_id,
            "interval_start": self.interval_start.isoformat(),
            "interval_end": self.interval_end.isoformat(),
            "settings": {**self.settings.model_dump(mode="json"), "author_email": AUTHOR_IN_RUN_RECORD},
            "override_mass_archive": self.override_mass_archive,
            "delete_unreported": self.delete_unreported,
            "approve_healing": self.approve_healing,
        }

    @classmethod
    def from_xcom(cls, value: dict[str, Any]) -> RunContext:
        return cls(
            run_key=value["run_key"],
            connector_id=value["connector_id"],
            interval_start=dt.datetime.fromisoformat(value["interval_start"]),
            interval_end=dt.datetime.fromisoformat(value["interval_end"]),
            settings=ConnectorSettings.model_validate(value["settings"]),
            override_mass_archive=bool(value.get("override_mass_archive")),
            delete_unreported=bool(value.get("delete_unreported")),
            approve_healing=bool(value.get("approve_healing")),
        )
