"""Hostile records the simulator can serve (fault ``hostile_share``).

Each variant takes a clean record of the listing and returns the raw JSON
text of a copy that breaks it in one way the connector must quarantine: a
value Postgres cannot store (NUL), text that is not valid Unicode (a lone
surrogate), numbers beyond any column (``1e400``, ``NaN``, ``10**30``),
timestamps out of the calendar, text over the caps, wrong JSON types, a
record that is not an object, nesting no decoder accepts, an unsafe URL.
Raw text, because several of them cannot be produced by a JSON encoder.

A hostile record is served *beside* the clean one it was made from (its id
is changed where the id is not the hostile part), so a connector that
quarantines every hostile record ends exactly as after a clean run.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import Any

import orjson


@dataclasses.dataclass(frozen=True)
class Raw:
    """A record the simulator serves as these exact bytes."""

    body: bytes
    variant: str


def _with(record: dict[str, Any], **changes: Any) -> bytes:
    return orjson.dumps({**record, **changes})


def _splice(record: dict[str, Any], field: str, raw_value: bytes) -> bytes:
    """The record's JSON with ``field`` set to raw JSON text (for values no encoder writes)."""
    marker = "\x01hostile\x01"
    return orjson.dumps({**record, field: marker}).replace(orjson.dumps(marker), raw_value)


def deep(levels: int) -> bytes:
    """An array nested ``levels`` deep (past every parser's limit at a few thousand)."""
    return b"[" * levels + b"]" * levels


COURSE_VARIANTS: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "nul_in_title": lambda r: _with(r, title="Python\x00 for all"),
    "lone_surrogate_in_description": lambda r: _splice(r, "description", b'"broken \\ud800 text"'),
    "control_character_in_status": lambda r: _with(r, status="act\x07ive"),
    "duration_of_millions_of_days": lambda r: _with(r, duration="P9999999D"),
    "duration_of_400_digits": lambda r: _with(r, duration="PT" + "9" * 400 + "H"),
    "updated_at_beyond_year_9999": lambda r: _with(r, updated_at="9999-12-31T23:59:59-01:00"),
    "description_of_1_5_mb": lambda r: _with(r, description="lorem ipsum " * 131_072),
    "id_of_3000_characters": lambda r: _with(r, id="9" * 3000),
    "language_not_iso_639_1": lambda r: _with(r, language="xx"),
    "javascript_launch_url": lambda r: _with(r, url="javascript:alert(1)"),
    "foreign_launch_url": lambda r: _with(r, url="https://openclassrooms.com.evil.example/courses/1"),
    "title_is_an_array": lambda r: _with(r, title=["Python", "for", "all"]),
    "record_is_a_string": lambda r: orjson.dumps("not a course"),
    "nesting_2000_levels_deep": lambda r: _splice(r, "title", deep(2000)),
}

ACTIVITY_VARIANTS: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "progress_1000": lambda r: _with(r, progress=1000),
    "progress_1e400": lambda r: _splice(r, "progress", b"1e400"),
    "progress_nan": lambda r: _splice(r, "progress", b"NaN"),
    "progress_10_pow_30": lambda r: _splice(r, "progress", b"1" + b"0" * 30),
    "progress_is_a_string": lambda r: _with(r, progress="50"),
    "progress_is_a_boolean": lambda r: _with(r, progress=True),
    "started_at_unparseable": lambda r: _with(r, started_at="yesterday morning"),
    "completed_at_unparseable": lambda r: _with(r, completed_at="2026-13-45T99:99:99Z"),
    "nul_in_course_id": lambda r: _with(r, course_id=f"{r['course_id']}\x00"),
    "lone_surrogate_in_email": lambda r: _splice(r, "learner_email", b'"learner\\udc00@example.com"'),
    "course_id_of_3000_characters": lambda r: _with(r, course_id="9" * 3000),
    "record_is_an_array": lambda r: orjson.dumps([r]),
    "nesting_2000_levels_deep": lambda r: _splice(r, "course_id", deep(2000)),
}


def course_variant(record: dict[str, Any], n: int) -> Raw:
    """The ``n``-th hostile variant (cycling) of a clean course, under another id."""
    name = list(COURSE_VARIANTS)[n % len(COURSE_VARIANTS)]
    twin = {**record, "id": f"{record['id']}-hostile-{n}"}
    return Raw(COURSE_VARIANTS[name](twin), name)


def activity_variant(record: dict[str, Any], n: int) -> Raw:
    name = list(ACTIVITY_VARIANTS)[n % len(ACTIVITY_VARIANTS)]
    return Raw(ACTIVITY_VARIANTS[name](record), name)


# --- nested shapes (any provider) ------------------------------------------------


def nested(record: dict[str, Any], path: tuple[Any, ...], value: Any) -> bytes:
    """The record's JSON with the value at ``path`` replaced: member names, list indices, and on a
    list the first element holding a text step among its values (e.g. a metric by its engagementType)."""
    twin = copy.deepcopy(record)
    node: Any = twin
    for step in path[:-1]:
        if isinstance(node, list) and not isinstance(step, int):
            node = next(a for a in node if step in a.values())
        else:
            node = node[step]
    node[path[-1]] = value
    return orjson.dumps(twin)


def nested_raw(record: dict[str, Any], path: tuple[Any, ...], raw_value: bytes) -> bytes:
    """Like :func:`nested`, with raw JSON bytes at ``path`` (values no encoder writes)."""
    marker = "\x01hostile\x01"
    return nested(record, path, marker).replace(orjson.dumps(marker), raw_value)
