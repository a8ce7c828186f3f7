"""The record guard: every provider record passes here before anything reaches Postgres.

A provider declares, per entity, the fields it may send (a :class:`RecordSchema`):
an allow-list with each field's JSON kind and a cap. :func:`screen` turns one
decoded record into either a clean record (allow-listed fields only; strings
without NUL, lone surrogates or control characters and within their cap;
finite numbers of sane magnitude) or a quarantine reason with a detail. The
typed conversion that follows (the transform steps) then only meets values
of known shape, and bounds them to the columns' ranges
(:data:`TIMESTAMP_MIN`/:data:`TIMESTAMP_MAX`, the duration and progress
rules); a value it cannot type is a reason too, never an exception.

A quarantined record is stored in ``ops.rejected_records`` as
:func:`envelope` renders it: the allow-listed fields only, each shown safely
(escaped, truncated), so neither a hostile value nor a field outside the
allow-list (a new personal field, say) reaches the warehouse in clear.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import math
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from lms_connectors.rules.jsonpage import UndecodableRecord

# Provider timestamps outside this window are not plausible for e-learning
# records and would not all fit the warehouse's types: quarantined.
TIMESTAMP_MIN = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)
TIMESTAMP_MAX = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
# No field of any provider needs a number this large; beyond it a JSON number
# is not even safely an integer in a double.
MAX_NUMBER = 1e15
# Characters shown per value of a quarantined record.
ENVELOPE_CHARS = 200

# Reasons the guard gives (the transform and the quality rules add their own).
UNDECODABLE = "undecodable_record"
NOT_AN_OBJECT = "not_an_object"
WRONG_TYPE = "wrong_type"
INVALID_TEXT = "invalid_text"
TEXT_TOO_LONG = "text_too_long"
INVALID_NUMBER = "invalid_number"


class Kind(enum.Enum):
    LINE = "line"  # one line of text: ids, codes, URLs, timestamps, emails
    TEXT = "text"  # free text: tabs and line breaks allowed
    NUMBER = "number"  # a JSON number


# NUL cannot be stored by Postgres; lone surrogates cannot be encoded as UTF-8;
# other control characters have no place in provider text.
_BAD_CHARS = {
    Kind.LINE: re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]"),
    Kind.TEXT: re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]"),
}


# A step of a field's path: a member name, an array index (0: the first element),
# or the first element of an array whose members have these values
# (e.g. {"engagementType": "SECONDS_VIEWED"}).
Step = str | int | tuple[tuple[str, str], ...]


def where(**members: str) -> Step:
    """A path step that picks the first array element with these member values."""
    return tuple(sorted(members.items()))


@dataclasses.dataclass(frozen=True)
class Field:
    """One allow-listed field: ``name`` in the screened record, found at ``path`` in the provider's."""

    name: str
    kind: Kind = Kind.LINE
    cap: int = 255  # characters, for text kinds
    secret: bool = False  # personal data: never shown in a quarantined record
    path: tuple[Step, ...] = ()

    def __post_init__(self) -> None:
        if not self.path:
            object.__setattr__(self, "path", (self.name,))
        # Looked up once: check() runs for every field of every record, and an Enum key's hash is
        # computed in Python (about 7 % of the screening's time in a profile at 100,000 records).
        object.__setattr__(self, "_bad_chars", _BAD_CHARS.get(self.kind))


@dataclasses.dataclass(frozen=True)
class RecordSchema:
    """The allow-list of one entity of one provider."""

    entity: str
    fields: tuple[Field, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {f.name: f for f in self.fields})
        flat = all(len(f.path) == 1 and isinstance(f.path[0], str) for f in self.fields)
        # Flat records are screened member by member; nested ones field by field, along each path.
        object.__setattr__(self, "_by_key", {f.path[0]: f for f in self.fields} if flat else None)

    def field(self, name: str) -> Field | None:
        return self._by_name.get(name)  # type: ignore[attr-defined]

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._by_name)  # type: ignore[attr-defined]


class Screened(NamedTuple):
    """A record after the guard: ``record`` holds allow-listed fields only.

    A named tuple, not a frozen dataclass: one is built for every record, and a frozen
    dataclass's ``__init__`` cost 0.5 us of the guard's ~5 us a record."""

    record: dict[str, Any]
    reason: str | None = None
    detail: str | None = None


def screen(raw: Any, schema: RecordSchema) -> Screened:
    """The guard for one record: a clean record, or a reason and a detail (never an exception)."""
    by_key = schema._by_key  # type: ignore[attr-defined]
    if by_key is not None and type(raw) is dict:
        # A flat record, in one pass over its members; the first field that does not fit sends it
        # to the field-by-field pass below, which names the schema's first failing field.
        record = {}
        for key, value in raw.items():
            spec = by_key.get(key)
            if spec is None or value is None:
                continue
            if check(value, spec) is not None:
                return _screen_fields(raw, schema)
            record[spec.name] = value
        return Screened(record)
    return _screen_fields(raw, schema)


def _screen_fields(raw: Any, schema: RecordSchema) -> Screened:
    if isinstance(raw, UndecodableRecord):
        return Screened(
            {"_undecodable": {"bytes": raw.size, "sha256": raw.sha256}},
            UNDECODABLE,
            f"no JSON decoder accepts this {raw.size}-byte record ({raw.error})",
        )
    if not isinstance(raw, dict):
        # Its type and size only: a bare string may be an email or any personal text.
        size = len(raw) if isinstance(raw, str | list) else None
        return Screened(
            {"_not_an_object": {"json_type": kind_of(raw), "length": size}},
            NOT_AN_OBJECT,
            f"a record must be a JSON object, got {kind_of(raw)}",
        )
    values = _extract(raw, schema)
    for spec in schema.fields:
        value = values.get(spec.name)
        problem = value.problem if isinstance(value, _Shape) else check(value, spec)
        if problem is not None:
            return Screened(envelope(values, schema), problem[0], f"field {spec.name!r}: {problem[1]}")
    return Screened({k: v for k, v in values.items() if v is not None})


@dataclasses.dataclass(frozen=True)
class _Shape:
    """A path that could not be followed: the record is not shaped as its schema says."""

    found: Any
    problem: tuple[str, str]


def _extract(raw: dict[str, Any], schema: RecordSchema) -> dict[str, Any]:
    """Each allow-listed field's value (None when absent); a field off the allow-list is never read."""
    by_key = schema._by_key  # type: ignore[attr-defined]
    if by_key is not None:
        return {by_key[key].name: value for key, value in raw.items() if key in by_key}
    return {spec.name: _follow(raw, spec.path) for spec in schema.fields}


def lookup(raw: Any, path: tuple[Step, ...]) -> Any:
    """The value at ``path`` in a decoded record, or None (never an exception, whatever the record)."""
    value = _follow(raw, path) if isinstance(raw, dict) else None
    return None if isinstance(value, _Shape) else value


def _follow(node: Any, path: tuple[Step, ...]) -> Any:
    walked: list[str] = []
    for step in path:
        if node is None:
            return None
        if isinstance(step, str):
            if not isinstance(node, dict):
                return _Shape(
                    node, (WRONG_TYPE, f"expected an object at {'.'.join(walked) or 'the top'}, got {kind_of(node)}")
                )
            node = node.get(step)
            walked.append(step)
        elif isinstance(step, int):
            if not isinstance(node, list):
                return _Shape(node, (WRONG_TYPE, f"expected an array at {'.'.join(walked)}, got {kind_of(node)}"))
            node = node[step] if -len(node) <= step < len(node) else None
            walked.append(f"[{step}]")
        else:
            if not isinstance(node, list):
                return _Shape(node, (WRONG_TYPE, f"expected an array at {'.'.join(walked)}, got {kind_of(node)}"))
            wanted = dict(step)
            node = next(
                (e for e in node if isinstance(e, dict) and all(e.get(k) == v for k, v in wanted.items())), None
            )
            walked.append(f"[{','.join(f'{k}={v}' for k, v in step)}]")
    return node


def check(value: Any, spec: Field) -> tuple[str, str] | None:
    """The (reason, detail) that ``value`` breaks as field ``spec``, or None when it fits."""
    if value is None:
        return None
    bad_chars = spec._bad_chars  # type: ignore[attr-defined]
    if bad_chars is None:  # Kind.NUMBER
        if type(value) not in (int, float):  # bool is an int subclass: refused here
            return WRONG_TYPE, f"expected a number, got {kind_of(value)}"
        if isinstance(value, float) and not math.isfinite(value):
            return INVALID_NUMBER, f"{value} is not a finite number"
        if abs(value) > MAX_NUMBER:
            return INVALID_NUMBER, f"magnitude above {MAX_NUMBER:g}"
        return None
    if type(value) is not str:
        return WRONG_TYPE, f"expected a string, got {kind_of(value)}"
    bad = bad_chars.search(value)
    if bad is not None:
        char = bad.group()
        what = "a lone surrogate" if "\ud800" <= char <= "\udfff" else f"control character U+{ord(char):04X}"
        return INVALID_TEXT, f"holds {what} at position {bad.start()}"
    if len(value) > spec.cap:
        return TEXT_TOO_LONG, f"{len(value):,} characters, over the cap of {spec.cap:,}"
    return None


def envelope(values: Mapping[str, Any], schema: RecordSchema) -> dict[str, Any]:
    """A quarantined record as it may be stored: allow-listed, non-secret fields, each shown safely."""
    return {
        name: _safe(value.found if isinstance(value, _Shape) else value)
        for name, value in values.items()
        if value is not None and (spec := schema.field(name)) is not None and not spec.secret
    }


def kind_of(value: Any) -> str:
    """How a message names a JSON value's type: "an object", "a string", "null"..."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "null" if value is None else type(value).__name__


def _safe(value: Any) -> Any:
    """A JSON value Postgres can store whatever ``value`` held: escaped, truncated, summarised."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) <= MAX_NUMBER else f"<integer of {value.bit_length()} bits>"
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        text = value[: ENVELOPE_CHARS * 2].encode("utf-8", "backslashreplace").decode("utf-8")
        text = text.replace("\x00", "\\u0000")
        if len(value) > ENVELOPE_CHARS:
            return f"{text[:ENVELOPE_CHARS]}... ({len(value):,} characters)"
        return text[:ENVELOPE_CHARS]
    if isinstance(value, list):
        return f"<array of {len(value)} items>"
    if isinstance(value, dict):
        return f"<object of {len(value)} members>"
    return f"<{type(value).__name__}>"


def in_window(value: dt.datetime) -> bool:
    return TIMESTAMP_MIN <= value < TIMESTAMP_MAX
