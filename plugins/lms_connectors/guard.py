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
from typing import Any

from lms_connectors.jsonpage import UndecodableRecord

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


@dataclasses.dataclass(frozen=True)
class Field:
    name: str
    kind: Kind = Kind.LINE
    cap: int = 255  # characters, for text kinds
    secret: bool = False  # personal data: never shown in a quarantined record


@dataclasses.dataclass(frozen=True)
class RecordSchema:
    """The allow-list of one entity of one provider."""

    entity: str
    fields: tuple[Field, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {f.name: f for f in self.fields})

    def field(self, name: str) -> Field | None:
        return self._by_name.get(name)  # type: ignore[attr-defined]

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._by_name)  # type: ignore[attr-defined]


@dataclasses.dataclass(frozen=True)
class Screened:
    """A record after the guard: ``record`` holds allow-listed fields only."""

    record: dict[str, Any]
    reason: str | None = None
    detail: str | None = None


def screen(raw: Any, schema: RecordSchema) -> Screened:
    """The guard for one record: a clean record, or a reason and a detail (never an exception)."""
    if isinstance(raw, UndecodableRecord):
        return Screened(
            {"_undecodable": {"bytes": raw.size, "sha256": raw.sha256}},
            UNDECODABLE,
            f"no JSON decoder accepts this {raw.size}-byte record ({raw.error})",
        )
    if not isinstance(raw, dict):
        return Screened({"_value": _safe(raw)}, NOT_AN_OBJECT, f"a record must be a JSON object, got {_kind(raw)}")
    clean: dict[str, Any] = {}
    for name, value in raw.items():
        spec = schema.field(name)
        if spec is None:
            continue  # not on the allow-list: never stored
        problem = check(value, spec)
        if problem is not None:
            return Screened(envelope(raw, schema), problem[0], f"field {name!r}: {problem[1]}")
        clean[name] = value
    return Screened(clean)


def check(value: Any, spec: Field) -> tuple[str, str] | None:
    """The (reason, detail) that ``value`` breaks as field ``spec``, or None when it fits."""
    if value is None:
        return None
    if spec.kind is Kind.NUMBER:
        if type(value) not in (int, float):  # bool is an int subclass: refused here
            return WRONG_TYPE, f"expected a number, got {_kind(value)}"
        if isinstance(value, float) and not math.isfinite(value):
            return INVALID_NUMBER, f"{value} is not a finite number"
        if abs(value) > MAX_NUMBER:
            return INVALID_NUMBER, f"magnitude above {MAX_NUMBER:g}"
        return None
    if type(value) is not str:
        return WRONG_TYPE, f"expected a string, got {_kind(value)}"
    bad = _BAD_CHARS[spec.kind].search(value)
    if bad is not None:
        char = bad.group()
        what = "a lone surrogate" if "\ud800" <= char <= "\udfff" else f"control character U+{ord(char):04X}"
        return INVALID_TEXT, f"holds {what} at position {bad.start()}"
    if len(value) > spec.cap:
        return TEXT_TOO_LONG, f"{len(value):,} characters, over the cap of {spec.cap:,}"
    return None


def envelope(raw: Mapping[str, Any], schema: RecordSchema) -> dict[str, Any]:
    """A quarantined record as it may be stored: allow-listed, non-secret fields, each shown safely."""
    return {
        name: _safe(value)
        for name, value in raw.items()
        if (spec := schema.field(name)) is not None and not spec.secret
    }


def _kind(value: Any) -> str:
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
