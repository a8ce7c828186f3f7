"""Decode a provider's JSON page so that one hostile record cannot refuse the whole page.

The fast path is one ``orjson.loads`` of the body. orjson refuses a whole
document for things that live inside a single record: a lone surrogate
escape (``"\\ud800"``), ``NaN``/``Infinity`` or a number beyond a double
(``1e400``), nesting deeper than 1024 levels. When it does, the page is split
into its top-level elements by a scanner that tracks strings and brackets
without recursion, and each element is decoded on its own: with orjson, else
with the standard library's decoder (which accepts those values, so that the
record guard can quarantine them with a reason), else it becomes an
:class:`UndecodableRecord` that the guard quarantines.

Only a body whose outer structure is broken (not JSON at all, truncated,
brackets that do not close) raises :class:`PageDecodeError`: that is a
provider fault, retried by the client like any transient error.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from typing import Any

import orjson

_WS = frozenset(b" \t\r\n")
# The standard library's decoder recurses: a value nested deeper than this is
# never handed to it, so the outcome does not depend on the interpreter's
# recursion limit. (orjson stops at 1024 levels on its own.)
MAX_FALLBACK_DEPTH = 512
# What the bracket scanner stops at: a string opens, or nesting changes.
_TOKEN = re.compile(rb'["\[\]{}]')
_SCALAR_END = re.compile(rb"[,\]}\s]")


class PageDecodeError(ValueError):
    """The body is not a JSON document of the expected shape (truncated, not JSON, wrong type)."""


@dataclasses.dataclass(frozen=True)
class UndecodableRecord:
    """A top-level element of a page that no JSON decoder accepts; only its size and digest are kept."""

    size: int
    sha256: str
    error: str


def decode_array(body: bytes, key: str | None = None) -> tuple[list[Any], dict[str, Any]]:
    """The records of a page and, for an object body, its other top-level members.

    ``key`` None: the body is a JSON array of records. ``key`` "elements": the
    body is an object whose ``elements`` member is that array (the rest, such
    as paging metadata, is returned beside it and must decode normally).
    """
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _decode_slowly(body, key)
    return _split(doc, key)


def _split(doc: Any, key: str | None) -> tuple[list[Any], dict[str, Any]]:
    if key is None:
        if not isinstance(doc, list):
            raise PageDecodeError(f"expected a JSON array, got {_json_type(doc)}")
        return doc, {}
    if not isinstance(doc, dict):
        raise PageDecodeError(f"expected a JSON object, got {_json_type(doc)}")
    records = doc.get(key, [])
    if not isinstance(records, list):
        raise PageDecodeError(f"expected {key!r} to be a JSON array, got {_json_type(records)}")
    return records, {k: v for k, v in doc.items() if k != key}


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def decode_value(span: bytes, depth: int) -> Any:
    """One JSON value (``depth`` levels of nesting), by whichever decoder accepts it;
    an UndecodableRecord when none does."""
    try:
        return orjson.loads(span)
    except orjson.JSONDecodeError as first:
        error = str(first)[:200]
        if depth <= MAX_FALLBACK_DEPTH:
            try:
                return json.loads(span.decode("utf-8"))
            except (ValueError, RecursionError, UnicodeDecodeError):
                pass
        return UndecodableRecord(len(span), hashlib.sha256(span).hexdigest(), error)


def _decode_slowly(body: bytes, key: str | None) -> tuple[list[Any], dict[str, Any]]:
    start = _skip_ws(body, 0)
    if start >= len(body):
        raise PageDecodeError("empty body")
    if key is None:
        if body[start] != 0x5B:  # [
            raise PageDecodeError("expected a JSON array")
        records, end = _array_elements(body, start)
        others: dict[str, Any] = {}
    else:
        if body[start] != 0x7B:  # {
            raise PageDecodeError("expected a JSON object")
        records, others, end = _object_members(body, start, key)
    if _skip_ws(body, end) != len(body):
        raise PageDecodeError("trailing data after the JSON document")
    return records, others


def _array_elements(body: bytes, i: int) -> tuple[list[Any], int]:
    """Decode each element of the array opening at ``body[i]``; return them and the index past ``]``."""
    out: list[Any] = []
    i = _skip_ws(body, i + 1)
    if i < len(body) and body[i] == 0x5D:  # ]
        return out, i + 1
    while True:
        end, depth = _value_end(body, i)
        out.append(decode_value(body[i:end], depth))
        i = _skip_ws(body, end)
        if i >= len(body):
            raise PageDecodeError("the array is not closed (truncated body?)")
        if body[i] == 0x5D:
            return out, i + 1
        if body[i] != 0x2C:  # ,
            raise PageDecodeError(f"expected ',' or ']' at byte {i}")
        i = _skip_ws(body, i + 1)


def _object_members(body: bytes, i: int, key: str) -> tuple[list[Any], dict[str, Any], int]:
    records: list[Any] = []
    others: dict[str, Any] = {}
    i = _skip_ws(body, i + 1)
    if i < len(body) and body[i] == 0x7D:  # }
        return records, others, i + 1
    while True:
        if i >= len(body) or body[i] != 0x22:
            raise PageDecodeError(f"expected a member name at byte {i}")
        name_end = _string_end(body, i)
        try:
            name = orjson.loads(body[i:name_end])
        except orjson.JSONDecodeError as exc:
            raise PageDecodeError(f"unreadable member name at byte {i}") from exc
        i = _skip_ws(body, name_end)
        if i >= len(body) or body[i] != 0x3A:  # :
            raise PageDecodeError(f"expected ':' at byte {i}")
        i = _skip_ws(body, i + 1)
        if name == key:
            if i >= len(body) or body[i] != 0x5B:
                raise PageDecodeError(f"expected {key!r} to be a JSON array")
            records, end = _array_elements(body, i)
        else:
            end, _ = _value_end(body, i)
            try:
                others[name] = orjson.loads(body[i:end])
            except orjson.JSONDecodeError as exc:
                raise PageDecodeError(f"member {name!r} is not valid JSON") from exc
        i = _skip_ws(body, end)
        if i >= len(body):
            raise PageDecodeError("the object is not closed (truncated body?)")
        if body[i] == 0x7D:
            return records, others, i + 1
        if body[i] != 0x2C:
            raise PageDecodeError(f"expected ',' or '}}' at byte {i}")
        i = _skip_ws(body, i + 1)


def _skip_ws(body: bytes, i: int) -> int:
    n = len(body)
    while i < n and body[i] in _WS:
        i += 1
    return i


def _string_end(body: bytes, i: int) -> int:
    """Index past the string opening at ``body[i]`` (a quote counts unless an odd run of backslashes precedes it)."""
    j = i + 1
    while True:
        j = body.find(b'"', j)
        if j < 0:
            raise PageDecodeError("a string is not closed (truncated body?)")
        k = j - 1
        while body[k] == 0x5C:  # backslash
            k -= 1
        if (j - 1 - k) % 2 == 0:
            return j + 1
        j += 1


def _value_end(body: bytes, i: int) -> tuple[int, int]:
    """Index past the JSON value starting at ``body[i]`` and its nesting depth, found without recursion."""
    if i >= len(body):
        raise PageDecodeError("a value is missing (truncated body?)")
    first = body[i]
    if first == 0x22:
        return _string_end(body, i), 0
    if first not in (0x5B, 0x7B):
        m = _SCALAR_END.search(body, i)
        return (m.start() if m else len(body)), 0
    depth = deepest = 0
    pos = i
    while True:
        m = _TOKEN.search(body, pos)
        if m is None:
            raise PageDecodeError("brackets are not closed (truncated body?)")
        c = body[m.start()]
        if c == 0x22:
            pos = _string_end(body, m.start())
            continue
        depth += 1 if c in (0x5B, 0x7B) else -1
        deepest = max(deepest, depth)
        pos = m.end()
        if depth == 0:
            return pos, deepest
