"""The strategies providers declare by name: timestamp encodings, time-spent rules, array-index paths."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from lms_connectors.rules import encodings, guard, records, time_rules


def test_each_timestamp_encoding_reads_its_values_and_flags_the_others():
    cases = {
        "rfc3339": (["2026-11-03T10:15:00+01:00", "yesterday", None, "2300-01-01T00:00:00Z"]),
        "epoch_ms": (["1793664000000", "soon", None, "9999999999999999"]),
    }
    for name, values in cases.items():
        parsed, bad = encodings.timestamp_encoding(name).parse_series(pd.Series(values, dtype=object))
        assert bad.tolist() == [False, True, False, True], name
        assert parsed.notna().tolist() == [True, False, False, False], name
    assert encodings.parse_rfc3339("2026-11-03T10:15:00+01:00") == dt.datetime(2026, 11, 3, 9, 15, tzinfo=dt.UTC)
    assert encodings.parse_epoch_ms(1_793_664_000_000) == dt.datetime(2026, 11, 3, tzinfo=dt.UTC)


def test_an_unknown_strategy_is_refused_naming_the_known_ones():
    with pytest.raises(ValueError, match="known: rfc3339, epoch_ms"):
        encodings.timestamp_encoding("unix_seconds")
    with pytest.raises(ValueError, match="known: theoretical, measured, reported_total"):
        time_rules.time_rule("guessed")


def test_time_rules_give_minutes_and_say_whether_the_warehouse_sums_days():
    duration, progress, seconds = np.array([120.0]), np.array([50.0]), np.array([900.0])
    got = {
        name: (float(rule.minutes(duration, progress, seconds)[0]), rule.summed_by_day)
        for name, rule in time_rules.RULES.items()
    }
    assert got == {"theoretical": (60.0, False), "measured": (15.0, True), "reported_total": (15.0, False)}


def test_iso8601_durations_with_seconds_round_half_up():
    assert encodings.iso8601_minutes("PT52M30S") == 53
    assert encodings.iso8601_minutes("PT52M29S") == 52
    assert encodings.course_minutes("PT0M") == (None, "'PT0M' is 0, minutes, outside 1 minute to 60 days")


def test_a_path_may_index_an_array():
    schema = guard.RecordSchema(
        "course",
        (
            guard.Field("title", guard.Kind.TEXT, 100, path=("meta", 0, "title")),
            guard.Field("locale", guard.Kind.LINE, 10, path=("locales", 0)),
        ),
    )
    ok = guard.screen({"meta": [{"title": "A"}, {"title": "B"}], "locales": ["fr-FR", "en-US"]}, schema)
    assert ok.reason is None and ok.record == {"title": "A", "locale": "fr-FR"}
    empty = guard.screen({"meta": [], "locales": []}, schema)
    assert empty.reason is None and empty.record == {}
    wrong = guard.screen({"meta": {"title": "A"}, "locales": ["fr-FR"]}, schema)
    assert wrong.reason == guard.WRONG_TYPE and "expected an array at meta" in wrong.detail
    bad = guard.screen({"meta": [{"title": "A\x00"}], "locales": ["fr"]}, schema)
    assert bad.reason == guard.INVALID_TEXT


def test_the_course_row_skeleton_normalises_and_keeps_the_first_problem():
    row = records.course_row(
        provider_course_id="  c1 ",
        title="T",
        description=None,
        language=" FR ",
        provider_status=" Active",
        launch_url="https://x.example/c1",
        image_url=None,
        duration_minutes=(None, "not an ISO 8601 duration: 'soon'"),
        updated_at=(None, "timestamp out of range"),
    )
    assert (row["provider_course_id"], row["language"], row["provider_status"], row["description"]) == (
        "c1",
        "fr",
        "active",
        "",
    )
    assert (row["reject_reason"], row["reject_detail"]) == ("invalid_duration", "not an ISO 8601 duration: 'soon'")
    assert set(row) == set(records.COURSE_COLUMNS)
