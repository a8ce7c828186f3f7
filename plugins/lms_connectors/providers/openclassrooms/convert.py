"""Small pure converters from provider values to warehouse values."""

from __future__ import annotations

import datetime as dt
import math
import re

_DURATION_RE = re.compile(
    r"^P(?:(?P<weeks>\d+(?:[.,]\d+)?)W)?(?:(?P<days>\d+(?:[.,]\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:[.,]\d+)?)H)?(?:(?P<minutes>\d+(?:[.,]\d+)?)M)?(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?$"
)
_MINUTES_PER = {"weeks": 7 * 24 * 60, "days": 24 * 60, "hours": 60, "minutes": 1, "seconds": 1 / 60}
# Far beyond any course (the quality rule stops at 60 days), yet small enough
# that every figure below stays an exact, finite float.
_MAX_MINUTES = 10**9


def duration_minutes(value: str) -> int:
    """Minutes in an ISO 8601 duration (``PT12H30M`` -> 750), rounded half up.

    A day counts as 24 h: these are amounts of study time, not calendar spans.
    Years and months have no fixed length and are refused.
    """
    if not isinstance(value, str):
        raise ValueError(f"duration must be a string, got {type(value).__name__}")
    text = value.strip().upper()
    match = _DURATION_RE.match(text)
    if not match or text in ("P", "PT") or text.endswith("T"):
        raise ValueError(f"not an ISO 8601 duration: {value!r}")
    parts = {k: v for k, v in match.groupdict().items() if v}
    if any(len(v) > 12 for v in parts.values()):
        raise ValueError(f"duration out of range: {value[:40]!r}")
    total = sum(float(v.replace(",", ".")) * _MINUTES_PER[k] for k, v in parts.items())
    if not math.isfinite(total) or total > _MAX_MINUTES:
        raise ValueError(f"duration out of range: {value[:40]!r}")
    return math.floor(total + 0.5)


def parse_timestamp(value: str) -> dt.datetime:
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


def format_timestamp(value: dt.datetime) -> str:
    """RFC 3339 in UTC with a Z, as query parameters expect."""
    if value.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; pass an aware one")
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
