"""The connector registry (include/connectors.yaml)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import yaml

from lms_connectors import providers
from lms_connectors.rules.paths import REGISTRY_FILE


@dataclasses.dataclass(frozen=True)
class ConnectorSpec:
    id: str
    provider: str
    provider_conn_id: str
    warehouse_conn_id: str
    schedule: str
    start_date: dt.date
    tags: tuple[str, ...] = ()
    retries: int = 2
    retry_delay_seconds: float = 60.0
    # A task running longer than this is failed (and retried): nothing may hang a DAG run.
    execution_timeout_minutes: float = 60.0
    # The health page reads the warehouse with a read-only login of its own.
    readonly_conn_id: str = "lms_warehouse_readonly"
    # Its password is the key that pseudonymises learner emails (lms_connectors.privacy.pseudonym).
    pseudonymisation_conn_id: str = "lms_pseudonymisation_key"
    # Failures and missed deadlines are sent through this Connection (none: alerts off).
    alerts_conn_id: str = "lms_alerts"
    # The day's sync must have succeeded this many hours after its interval ends, or an alert goes out.
    deadline_hours: float = 6.0
    # Providers that publish activity late (Provider.freshness "reported"): how often the run asks
    # whether the day's data is complete, and how long it waits from its first check before failing.
    freshness_poke_seconds: float = 1800.0
    data_wait_hours: float = 48.0

    @property
    def dag_id(self) -> str:
        return f"lms_connector_{self.id}"

    @property
    def admin_dag_id(self) -> str:
        """The form DAG that applies settings at once."""
        return f"{self.dag_id}_apply_settings"

    @property
    def variable(self) -> str:
        return f"lms_connector_{self.id}"


_DAILY_PRESETS = frozenset({"@daily", "@midnight"})


def daily_utc_problem(schedule: str) -> str | None:
    """Why ``schedule`` does not give one run per UTC day, midnight to midnight (None when it does).

    Each run loads the activity of its interval and a replay works on whole
    days: an interval that is not exactly one UTC day would split days
    between runs. Checked on the cron fields (no iteration: parse time stays flat).
    """
    text = " ".join(str(schedule).split())
    if text in _DAILY_PRESETS:
        return None
    fields = text.split(" ")
    if (
        len(fields) == 5
        and [f.lstrip("0") or "0" for f in fields[:2]] == ["0", "0"]
        and fields[2:]
        in (
            ["*", "*", "*"],
            ["*", "*", "?"],
        )
    ):
        return None
    return (
        f"schedule {schedule!r} does not run once a day at 00:00 UTC; each run must cover one UTC day, "
        "midnight to midnight: use '0 0 * * *' (or '@daily')"
    )


def load_registry(path: Path = REGISTRY_FILE) -> list[ConnectorSpec]:
    doc = yaml.safe_load(path.read_text()) or {}
    specs = []
    for entry in doc.get("connectors", []):
        spec = ConnectorSpec(
            id=entry["id"],
            provider=entry["provider"],
            provider_conn_id=entry["provider_conn_id"],
            warehouse_conn_id=entry.get("warehouse_conn_id", "lms_warehouse"),
            schedule=entry.get("schedule", "0 0 * * *"),
            start_date=dt.date.fromisoformat(str(entry["start_date"])),
            tags=tuple(entry.get("tags", ())),
            retries=int(entry.get("retries", 2)),
            retry_delay_seconds=float(entry.get("retry_delay_seconds", 60)),
            execution_timeout_minutes=float(entry.get("execution_timeout_minutes", 60)),
            readonly_conn_id=entry.get("readonly_conn_id", "lms_warehouse_readonly"),
            pseudonymisation_conn_id=entry.get("pseudonymisation_conn_id", "lms_pseudonymisation_key"),
            alerts_conn_id=entry.get("alerts_conn_id", "lms_alerts"),
            deadline_hours=float(entry.get("deadline_hours", 6)),
            freshness_poke_seconds=float(entry.get("freshness_poke_seconds", 1800)),
            data_wait_hours=float(entry.get("data_wait_hours", 48)),
        )
        if not providers.exists(spec.provider):
            raise ValueError(
                f"{path}: connector {spec.id!r} has unknown provider {spec.provider!r} "
                f"(no package lms_connectors.providers.{spec.provider})"
            )
        problem = daily_utc_problem(spec.schedule)
        if problem:
            raise ValueError(f"{path}: connector {spec.id!r}: {problem}")
        if not 0 < spec.deadline_hours <= 24 * 7:
            raise ValueError(f"{path}: connector {spec.id!r}: deadline_hours must be in (0, 168]")
        if not 0 < spec.data_wait_hours <= 24 * 14 or spec.freshness_poke_seconds <= 0:
            raise ValueError(
                f"{path}: connector {spec.id!r}: data_wait_hours must be in (0, 336] and "
                "freshness_poke_seconds positive"
            )
        if spec.execution_timeout_minutes <= 0:
            raise ValueError(f"{path}: connector {spec.id!r}: execution_timeout_minutes must be positive")
        specs.append(spec)
    ids = [s.id for s in specs]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: duplicate connector ids")
    return specs
