"""The page decoder and the record guard, on hostile input (pure: no database, no HTTP)."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lms_connectors.providers.openclassrooms.contract import ACTIVITY_SCHEMA, COURSE_SCHEMA
from lms_connectors.rules import guard
from lms_connectors.rules.jsonpage import PageDecodeError, UndecodableRecord, decode_array

CLEAN = {
    "id": "1000001",
    "title": "Learn SQL",
    "description": "Tabs\tand\nnew lines are fine here",
    "language": "en",
    "status": "active",
    "duration": "PT2H",
    "url": "https://example.org/c/1",
    "image_url": None,
    "updated_at": "2026-11-01T10:00:00Z",
}


def page(*elements: bytes) -> bytes:
    return b"[" + b",".join(elements) + b"]"


# --- decoding -------------------------------------------------------------------


def test_a_clean_page_takes_the_fast_path():
    assert decode_array(orjson.dumps([CLEAN, CLEAN])) == ([CLEAN, CLEAN], {})


@pytest.mark.parametrize(
    "hostile",
    [
        b'{"id": "x", "title": "\\ud800"}',  # a lone surrogate: orjson refuses the whole document
        b'{"id": "x", "progress": 1e400}',
        b'{"id": "x", "progress": NaN}',
        b'{"id": "x", "title": ' + b"[" * 3000 + b"]" * 3000 + b"}",
        b'{"id": "x", "title": "unterminated escape \\u12"}',
    ],
)
def test_one_hostile_element_does_not_refuse_its_neighbours(hostile):
    body = page(orjson.dumps(CLEAN), hostile, b' { "id" : "y, with ] and } inside" } ')
    records, others = decode_array(body)
    assert others == {}
    assert len(records) == 3
    assert records[0] == CLEAN
    assert records[2] == {"id": "y, with ] and } inside"}


def test_what_no_decoder_accepts_becomes_an_undecodable_record():
    deep = b'{"title": ' + b"[" * 3000 + b"]" * 3000 + b"}"
    records, _ = decode_array(page(deep, orjson.dumps(CLEAN)))
    assert isinstance(records[0], UndecodableRecord)
    assert records[0].size == len(deep)
    assert records[1] == CLEAN


def test_values_only_the_standard_decoder_reads_come_through_for_the_guard():
    records, _ = decode_array(page(b'{"progress": 1e400}', b'{"title": "\\udc00"}', b'{"progress": NaN}'))
    assert records[0]["progress"] == float("inf")
    assert records[1]["title"] == "\udc00"
    assert records[2]["progress"] != records[2]["progress"]  # NaN


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b'{"items": []}',
        page(orjson.dumps(CLEAN), b'{"id": "x", "title": "cut in the mi'),  # truncated
        orjson.dumps([CLEAN, CLEAN])[:-1],  # the array never closes
        page(b'{"id": "\\ud800"}') + b"trailing",
    ],
)
def test_a_body_whose_outer_structure_is_broken_is_a_page_fault(body):
    with pytest.raises(PageDecodeError):
        decode_array(body)


def test_an_object_body_gives_its_elements_and_the_rest():
    body = b'{"paging": {"start": 0, "count": 2, "total": 5}, "elements": [' + orjson.dumps(CLEAN) + b', {"p": NaN}]}'
    records, others = decode_array(body, "elements")
    assert records[0] == CLEAN
    assert records[1]["p"] != records[1]["p"]
    assert others == {"paging": {"start": 0, "count": 2, "total": 5}}


# --- the guard ------------------------------------------------------------------


def test_a_clean_record_passes_with_only_allow_listed_fields():
    out = guard.screen({**CLEAN, "internal_rank": 3, "nested": {"a": [1]}}, COURSE_SCHEMA)
    assert out.reason is None
    # Null fields are not stored either: a missing value and a null read back the same.
    assert out.record == {k: v for k, v in CLEAN.items() if v is not None}


@pytest.mark.parametrize(
    ("changes", "reason", "field"),
    [
        ({"title": "a\x00b"}, "invalid_text", "title"),
        ({"description": "broken \ud800 text"}, "invalid_text", "description"),
        ({"status": "act\x07ive"}, "invalid_text", "status"),
        ({"id": "one\ttab"}, "invalid_text", "id"),
        ({"id": "9" * 3000}, "text_too_long", "id"),
        ({"description": "x" * 100_001}, "text_too_long", "description"),
        ({"title": ["a", "list"]}, "wrong_type", "title"),
        ({"duration": 90}, "wrong_type", "duration"),
        ({"url": {"href": "https://x"}}, "wrong_type", "url"),
    ],
)
def test_a_course_field_that_breaks_the_guard_quarantines_the_record(changes, reason, field):
    out = guard.screen({**CLEAN, **changes}, COURSE_SCHEMA)
    assert out.reason == reason
    assert f"field {field!r}" in out.detail
    # What would be stored is safe for Postgres and JSON, whatever the record held.
    stored = orjson.dumps(out.record).decode()
    assert all("\x00" not in str(v) for v in json.loads(stored).values())
    stored.encode("utf-8")


ACTIVITY = {
    "learner_email": "Jane@Example.com",
    "course_id": "1000001",
    "progress": 40.5,
    "started_at": None,
    "completed_at": None,
    "updated_at": "2026-11-02T10:00:00Z",
}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"progress": float("inf")}, "invalid_number"),
        ({"progress": float("nan")}, "invalid_number"),
        ({"progress": 10**30}, "invalid_number"),
        ({"progress": True}, "wrong_type"),
        ({"progress": "50"}, "wrong_type"),
        ({"learner_email": "x\udc00@example.com"}, "invalid_text"),
        ({"course_id": "1\x00"}, "invalid_text"),
    ],
)
def test_an_activity_field_that_breaks_the_guard_quarantines_the_record(changes, reason):
    out = guard.screen({**ACTIVITY, **changes}, ACTIVITY_SCHEMA)
    assert out.reason == reason
    assert "learner_email" not in out.record  # personal data is never shown in a quarantined record
    orjson.dumps(out.record)


def test_records_that_are_not_objects_or_not_decodable_are_quarantined():
    assert guard.screen(["a"], COURSE_SCHEMA).reason == "not_an_object"
    assert guard.screen("text", COURSE_SCHEMA).reason == "not_an_object"
    assert guard.screen(None, COURSE_SCHEMA).reason == "not_an_object"


@pytest.mark.parametrize("raw", ["alice@example.com", ["alice@example.com", "Alice Martin"], 4242])
def test_a_record_that_is_not_an_object_is_kept_as_its_type_and_length_never_its_value(raw):
    screened = guard.screen(raw, COURSE_SCHEMA)
    assert screened.reason == "not_an_object"
    kept = json.dumps(screened.record)
    assert "alice" not in kept and "Alice" not in kept and "4242" not in kept
    assert screened.record["_not_an_object"]["json_type"] in ("a string", "an array", "a number")
    out = guard.screen(UndecodableRecord(10, "ab" * 32, "depth"), COURSE_SCHEMA)
    assert out.reason == "undecodable_record"
    assert out.record == {"_undecodable": {"bytes": 10, "sha256": "ab" * 32}}


def test_the_envelope_of_a_hostile_record_is_truncated_escaped_and_summarised():
    out = guard.screen(
        {**CLEAN, "title": "t\x00" * 1000, "description": ["deep"], "url": 10**40, "extra": "dropped"}, COURSE_SCHEMA
    )
    assert out.reason == "invalid_text"
    assert out.record["title"].startswith("t\\u0000t")
    assert len(out.record["title"]) < 300
    assert out.record["description"] == "<array of 1 items>"
    assert out.record["url"] == "<integer of 133 bits>"
    assert "extra" not in out.record
    json.loads(orjson.dumps(out.record))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=300),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=5,
)


@pytest.mark.parametrize("schema", [COURSE_SCHEMA, ACTIVITY_SCHEMA], ids=["course", "activity"])
# Under CI's two busy workers one draw of the recursive values took 1.9 s: not a slow strategy.
@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data())
def test_a_record_is_refused_for_its_schemas_first_failing_field_whatever_its_member_order(schema, data):
    """Any flat record, its members in any order: clean when every allow-listed field fits (and
    then only those, nulls dropped), else refused for the first field of the schema that does not."""
    keys = [f.path[0] for f in schema.fields]
    members = data.draw(st.lists(st.sampled_from([*keys, "other"]), unique=True))
    raw = {key: data.draw(JSON_VALUES, label=key) for key in members}
    out = guard.screen(raw, schema)
    problems = [(f.name, guard.check(raw.get(f.path[0]), f)) for f in schema.fields]
    failing = [(name, problem) for name, problem in problems if problem is not None]
    if not failing:
        assert out.reason is None
        assert out.record == {f.name: raw[f.path[0]] for f in schema.fields if raw.get(f.path[0]) is not None}
    else:
        name, (reason, detail) = failing[0]
        assert (out.reason, out.detail) == (reason, f"field {name!r}: {detail}")
