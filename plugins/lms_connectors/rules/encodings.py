"""How providers write times and durations: the strategies a provider declares by name.

A provider says which timestamp encoding its activity records use (``Provider.activity_timestamps``)
and which duration encoding its courses use; the core reads values through the entry of these
registries, and its messages name the provider's own format. Adding an encoding is adding an
entry here, not a branch in the pipeline.

Pure rules: no I/O, no Airflow; pandas is imported by the series parsers only (the DAG file's parse
reads the registry).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lms_connectors.rules import guard

if TYPE_CHECKING:
    import pandas as pd


@dataclasses.dataclass(frozen=True)
class TimestampEncoding:
    """``parse``: one value to an aware UTC datetime (ValueError otherwise); ``parse_series``: a
    pandas Series of values to (parsed UTC timestamps within the guard's window, where a value was
    given but is not such a timestamp); ``described``: how messages name it."""

    name: str
    described: str
    parse: Callable[[Any], dt.datetime]
    parse_series: Callable[[pd.Series], tuple[pd.Series, pd.Series]]


def parse_rfc3339(value: Any) -> dt.datetime:
    """An RFC 3339 timestamp as an aware UTC datetime; naive input is refused.

    Every failure is a ValueError, including dates that leave the calendar
    once moved to UTC (``9999-12-31T23:59:59-01:00``).
    """
    if not isinstance(value, str):
        raise ValueError(f"timestamp must be a string, got {type(value).__name__}")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        if parsed.tzinfo is None:
            raise ValueError(f"timestamp without a time zone: {value[:40]!r}")
        return parsed.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError(f"timestamp out of range: {value[:40]!r}") from None


def _rfc3339_series(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    import pandas as pd

    parsed = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
    parsed = parsed.where((parsed >= guard.TIMESTAMP_MIN) & (parsed < guard.TIMESTAMP_MAX))
    return parsed, values.notna() & parsed.isna()


def parse_epoch_ms(value: Any) -> dt.datetime:
    """Epoch milliseconds as an aware UTC datetime, within the guard's window."""
    if type(value) not in (int, float) or not math.isfinite(value):
        raise ValueError(f"epoch milliseconds must be a finite number, got {value!r:.40}")
    moment = dt.datetime.fromtimestamp(value / 1000, dt.UTC) if abs(value) < 10**14 else None
    if moment is None or not guard.in_window(moment):
        raise ValueError(f"{value:.0f} ms is outside {guard.TIMESTAMP_MIN:%Y}-{guard.TIMESTAMP_MAX:%Y}")
    return moment


_MS_MIN = guard.TIMESTAMP_MIN.timestamp() * 1000
_MS_MAX = guard.TIMESTAMP_MAX.timestamp() * 1000


def _epoch_ms_series(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    import pandas as pd

    # Read back from JSON as text by the transform's query.
    ms = pd.to_numeric(values, errors="coerce")
    parsed = pd.to_datetime(ms.where((ms >= _MS_MIN) & (ms < _MS_MAX)), unit="ms", utc=True)
    return parsed, values.notna() & parsed.isna()


TIMESTAMPS: dict[str, TimestampEncoding] = {
    e.name: e
    for e in (
        TimestampEncoding("rfc3339", "an RFC 3339 timestamp", parse_rfc3339, _rfc3339_series),
        TimestampEncoding("epoch_ms", "a time in epoch milliseconds", parse_epoch_ms, _epoch_ms_series),
    )
}


def timestamp_encoding(name: str) -> TimestampEncoding:
    try:
        return TIMESTAMPS[name]
    except KeyError:
        raise ValueError(f"no timestamp encoding {name!r}; known: {', '.join(TIMESTAMPS)}") from None


def format_rfc3339(value: dt.datetime) -> str:
    """RFC 3339 in UTC with a Z, as query parameters expect."""
    if value.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; pass an aware one")
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- durations ---------------------------------------------------------------------

# The quality rule's bounds of a course duration: one minute to 60 days.
MIN_DURATION_MINUTES = 1
MAX_DURATION_MINUTES = 60 * 24 * 60
# Far beyond any course (the quality rule stops at 60 days), yet small enough
# that every figure below stays an exact, finite float.
_MAX_MINUTES = 10**9

_ISO_DURATION_RE = re.compile(
    r"^P(?:(?P<weeks>\d+(?:[.,]\d+)?)W)?(?:(?P<days>\d+(?:[.,]\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:[.,]\d+)?)H)?(?:(?P<minutes>\d+(?:[.,]\d+)?)M)?(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?$"
)
_MINUTES_PER = {"weeks": 7 * 24 * 60, "days": 24 * 60, "hours": 60, "minutes": 1, "seconds": 1 / 60}


def iso8601_minutes(value: Any) -> int:
    """Minutes in an ISO 8601 duration (``PT12H30M`` -> 750, ``PT52M30S`` -> 53), rounded half up.

    A day counts as 24 h: these are amounts of study time, not calendar spans.
    Years and months have no fixed length and are refused.
    """
    if not isinstance(value, str):
        raise ValueError(f"duration must be a string, got {type(value).__name__}")
    text = value.strip().upper()
    match = _ISO_DURATION_RE.match(text)
    if not match or text in ("P", "PT") or text.endswith("T"):
        raise ValueError(f"not an ISO 8601 duration: {value!r}")
    parts = {k: v for k, v in match.groupdict().items() if v}
    if any(len(v) > 12 for v in parts.values()):
        raise ValueError(f"duration out of range: {value[:40]!r}")
    total = sum(float(v.replace(",", ".")) * _MINUTES_PER[k] for k, v in parts.items())
    if not math.isfinite(total) or total > _MAX_MINUTES:
        raise ValueError(f"duration out of range: {value[:40]!r}")
    return math.floor(total + 0.5)


def bounded(
    raw: Any, parse: Callable[[Any], Any], accept: Callable[[Any], bool], bounds: str
) -> tuple[Any, str | None]:
    """(the parsed value, None), or (None, why) when ``raw`` does not parse or falls outside ``bounds``."""
    if raw is None:
        return None, None
    try:
        value = parse(raw)
    except (ValueError, OverflowError, OSError) as exc:
        return None, str(exc)
    if not accept(value):
        return None, f"{raw!r} is {value}, {bounds}"
    return value, None


def course_minutes(raw: Any, parse: Callable[[Any], int] = iso8601_minutes) -> tuple[int | None, str | None]:
    """A course duration within the quality rule's bounds, or (None, why)."""
    return bounded(
        raw,
        parse,
        lambda minutes: MIN_DURATION_MINUTES <= minutes <= MAX_DURATION_MINUTES,
        "minutes, outside 1 minute to 60 days",
    )


def course_timestamp(raw: Any, encoding: str) -> tuple[dt.datetime | None, str | None]:
    """A course's timestamp in the provider's encoding within the guard's window, or (None, why)."""
    return bounded(
        raw,
        timestamp_encoding(encoding).parse,
        guard.in_window,
        f"outside {guard.TIMESTAMP_MIN:%Y}-{guard.TIMESTAMP_MAX:%Y}",
    )
