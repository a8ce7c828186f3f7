"""The connector registry (include/connectors.yaml)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import yaml

from lms_connectors import providers
from lms_connectors.rules.errors import did_you_mean
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


class RegistryError(ValueError):
    """The registry has problems: one line each, naming the entry and the key."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{path}: " + f"\n{path}: ".join(problems))


@dataclasses.dataclass(frozen=True)
class Registry:
    """The registry as read: the connectors whose entries are sound, and the problems of the others
    (one line each; an entry with problems gives no connector, and takes no other down)."""

    specs: list[ConnectorSpec]
    problems: list[str]


# Keys ConnectorSpec requires that an entry may leave out, and their values.
_LOADER_DEFAULTS = {"warehouse_conn_id": "lms_warehouse", "schedule": "0 0 * * *"}


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date | str):
        raise ValueError
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def _as_number(kind: type) -> Any:
    def convert(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise ValueError
        if kind is int and value != int(value):
            raise ValueError
        return kind(value)

    return convert


def _as_text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError
    return value


def _as_tags(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise ValueError
    return tuple(value)


# The declared type of each key (the schema of an entry), from ConnectorSpec's annotations.
_KINDS = {"str": (_as_text, "a non-empty text"), "dt.date": (_as_date, "a date, YYYY-MM-DD"),
          "int": (_as_number(int), "a whole number"), "float": (_as_number(float), "a number"),
          "tuple[str, ...]": (_as_tags, "a list of texts")}  # fmt: skip
_SCHEMA = {f.name: _KINDS[str(f.type)] for f in dataclasses.fields(ConnectorSpec)}
# Keys an entry needs: ConnectorSpec's fields without a default of their own or of the loader.
_REQUIRED = tuple(
    f.name
    for f in dataclasses.fields(ConnectorSpec)
    if f.default is dataclasses.MISSING and f.name not in _LOADER_DEFAULTS
)


def entry_problems(entry: Any, position: int) -> tuple[ConnectorSpec | None, list[str]]:
    """An entry checked against the schema and the connectors' rules: its spec (None when it has
    problems) and one line per problem, naming the entry and the key."""
    name = f"entry {position}"
    if not isinstance(entry, dict):
        return None, [f"{name}: not a mapping of keys (got {type(entry).__name__})"]
    if isinstance(entry.get("id"), str):
        name = f"connector {entry['id']!r} ({name})"
    problems = [f"{name}: missing key {key!r}" for key in _REQUIRED if key not in entry]
    for key in entry:
        if key not in _SCHEMA:
            hint = did_you_mean(str(key), _SCHEMA) or f"; known keys: {', '.join(_SCHEMA)}"
            problems.append(f"{name}: unknown key {key!r}{hint}")
    values: dict[str, Any] = {}
    for key, (convert, kind) in _SCHEMA.items():
        if key not in entry:
            if key in _LOADER_DEFAULTS:
                values[key] = _LOADER_DEFAULTS[key]
            continue
        try:
            values[key] = convert(entry[key])
        except (ValueError, TypeError):
            problems.append(f"{name}: {key} must be {kind}, not {entry[key]!r}")
    if problems:
        return None, problems
    spec = ConnectorSpec(**values)
    problems = [f"{name}: {problem}" for problem in _rule_problems(spec)]
    return (None if problems else spec), problems


def _rule_problems(spec: ConnectorSpec) -> list[str]:
    problems = []
    if not providers.exists(spec.provider):
        problems.append(f"unknown provider {spec.provider!r} (no package lms_connectors.providers.{spec.provider})")
    if problem := daily_utc_problem(spec.schedule):
        problems.append(problem)
    if not 0 < spec.deadline_hours <= 24 * 7:
        problems.append("deadline_hours must be in (0, 168]")
    if not 0 < spec.data_wait_hours <= 24 * 14:
        problems.append("data_wait_hours must be in (0, 336]")
    if spec.freshness_poke_seconds <= 0:
        problems.append("freshness_poke_seconds must be positive")
    if spec.execution_timeout_minutes <= 0:
        problems.append("execution_timeout_minutes must be positive")
    if spec.retries < 0 or spec.retry_delay_seconds < 0:
        problems.append("retries and retry_delay_seconds must not be negative")
    return problems


def read_registry(path: Path = REGISTRY_FILE) -> Registry:
    """The registry's sound connectors and the problems of the other entries (see :class:`Registry`)."""
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        return Registry([], [f"not valid YAML: {' '.join(str(exc).split())}"])
    entries = doc.get("connectors", []) if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        return Registry([], ["'connectors' must be a list of entries"])
    specs: list[ConnectorSpec] = []
    problems: list[str] = []
    for position, entry in enumerate(entries, 1):
        spec, found = entry_problems(entry, position)
        if spec is not None and spec.id in {s.id for s in specs}:
            spec, found = None, [f"connector {spec.id!r} (entry {position}): id used by an earlier entry"]
        problems += found
        if spec is not None:
            specs.append(spec)
    return Registry(specs, problems)


def load_registry(path: Path = REGISTRY_FILE) -> list[ConnectorSpec]:
    """Every connector of the registry; :class:`RegistryError` listing every problem if it has any."""
    registry = read_registry(path)
    if registry.problems:
        raise RegistryError(path, registry.problems)
    return registry.specs
