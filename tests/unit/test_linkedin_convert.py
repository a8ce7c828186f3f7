"""LinkedIn Learning's pure conversions: durations, epoch milliseconds, course rows, measured time."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lms_connectors.providers.linkedin_learning import PROVIDER
from lms_connectors.providers.linkedin_learning.contract import COURSE_SCHEMA, DURATION_UNITS
from lms_connectors.providers.linkedin_learning.convert import course_row, duration_minutes
from lms_connectors.rules import guard
from lms_connectors.rules.encodings import parse_epoch_ms as from_epoch_ms
from tests.builders import ROOT


@pytest.mark.parametrize(
    ("value", "unit", "minutes"),
    [
        (45_000, "SECOND", 750),
        (90, "SECOND", 2),  # 1.5 minutes rounds half up
        (89, "SECOND", 1),
        (45, "MINUTE", 45),
        (1.5, "HOUR", 90),
        (2, "DAY", 2880),
        (1, "WEEK", 10_080),
        (0, "MINUTE", 0),
    ],
)
def test_duration_minutes(value, unit, minutes):
    assert duration_minutes(value, unit) == minutes


@pytest.mark.parametrize(
    ("value", "unit", "match"),
    [
        (90, "FORTNIGHT", "unknown duration unit"),
        (90, "second", "unknown duration unit"),
        (90, "", "without a unit"),
        (-1, "MINUTE", "out of range"),
        (float("inf"), "SECOND", "out of range"),
        (1e15, "WEEK", "out of range"),
    ],
)
def test_duration_minutes_refuses_what_it_cannot_read(value, unit, match):
    with pytest.raises(ValueError, match=match):
        duration_minutes(value, unit)


def test_epoch_milliseconds_are_utc_within_the_guard_window():
    assert from_epoch_ms(1_793_664_000_000) == dt.datetime(2026, 11, 3, tzinfo=dt.UTC)
    assert from_epoch_ms(1_793_664_000_999.0) == dt.datetime(2026, 11, 3, 0, 0, 0, 999_000, tzinfo=dt.UTC)
    for outside in (0, -1, 4_102_444_800_000, 10**14, 10**15):
        with pytest.raises(ValueError, match="outside 1990-2100"):
            from_epoch_ms(outside)


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15))
def test_epoch_milliseconds_either_convert_inside_the_window_or_refuse(value):
    try:
        moment = from_epoch_ms(value)
    except (ValueError, OverflowError, OSError):
        return
    assert guard.TIMESTAMP_MIN <= moment < guard.TIMESTAMP_MAX


def screened_course(**changes) -> dict:
    asset = {
        "urn": "urn:li:lyndaCourse:1000084",
        "title": {"value": "Einstieg in Java", "locale": {"language": "DE", "country": "DE"}},
        "details": {
            "description": {"value": "Grundlagen", "locale": {"language": "de"}},
            "availability": "AVAILABLE",
            "timeToComplete": {"duration": 30_600, "unit": "SECOND"},
            "urls": {"webLaunch": "https://www.linkedin.com/learning/einstieg-in-java"},
            "images": {"primary": None},
            "lastUpdatedAt": 1_785_274_702_000,
        },
    }
    for path, value in changes.items():
        node = asset
        *parents, last = path.split("__")
        for step in parents:
            node = node[step]
        node[last] = value
    screened = guard.screen(asset, COURSE_SCHEMA)
    assert screened.reason is None, screened.detail
    return screened.record


def test_course_row_of_an_available_asset():
    row = course_row(screened_course())
    assert row["provider_course_id"] == "urn:li:lyndaCourse:1000084"
    assert row["language"] == "de"
    assert row["provider_status"] == "available"
    assert row["duration_minutes"] == 510
    assert row["provider_updated_at"] == dt.datetime(2026, 7, 28, 21, 38, 22, tzinfo=dt.UTC)
    assert row["reject_reason"] is None
    assert PROVIDER.kept_statuses == frozenset({"available"})
    assert course_row(screened_course(details__availability="RETIRED"))["provider_status"] == "retired"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"details__timeToComplete": {"duration": 61, "unit": "DAY"}}, "invalid_duration"),
        ({"details__timeToComplete": {"duration": 20, "unit": "SECOND"}}, "invalid_duration"),
        ({"details__timeToComplete": {"duration": 90}}, "invalid_duration"),
        ({"details__lastUpdatedAt": 10**14}, "invalid_updated_at"),
    ],
)
def test_course_row_rejects_what_it_cannot_type_with_a_reason(changes, reason):
    row = course_row(screened_course(**changes))
    assert row["reject_reason"] == reason and row["reject_detail"]


def test_every_duration_unit_is_minutes_of_something():
    assert DURATION_UNITS["MINUTE"] == 1 and DURATION_UNITS["SECOND"] == pytest.approx(1 / 60)


@pytest.mark.parametrize(("seconds", "minutes"), [(0, 0.0), (60, 1.0), (90, 1.5), (604_800, 10_080.0)])
def test_measured_time_is_the_seconds_viewed_whatever_the_duration_and_progress(seconds, minutes):
    assert PROVIDER.time_spent_rule == "measured"
    assert PROVIDER.time_spent_minutes(750, 40, seconds) == minutes
    series = PROVIDER.time_spent_minutes(pd.Series([750.0]), pd.Series([40.0]), pd.Series([float(seconds)]))
    assert series.tolist() == [minutes]


def test_a_live_shaped_assets_page_keeps_every_course_and_its_image():
    """Live pages serve images from cdn.lynda.com and launch URLs from www.linkedin.com: every course
    of such a page passes the course rules with its image kept."""
    from lms_connectors.rules import quality

    page = json.loads((ROOT / "tests" / "fixtures" / "live_shapes" / "linkedin_learning_assets.json").read_text())
    rows = []
    for element in page["elements"]:
        screened = guard.screen(element, COURSE_SCHEMA)
        assert screened.reason is None, screened.detail
        rows.append(course_row(screened.record))
    launch, images = PROVIDER.course_hosts(())
    frame = pd.DataFrame(rows)
    assert not quality.images_to_drop(frame["image_url"], images).any()
    assert frame["image_url"].str.startswith("https://cdn.lynda.com/").all()
    rules = quality.course_row_rules(launch)
    assert (
        quality.row_reasons(frame.drop(columns=["reject_reason", "reject_detail"]), rules, "live_linkedin").isna().all()
    )
    # An image elsewhere is dropped, never the course; a launch URL elsewhere still is a reason.
    assert quality.images_to_drop(pd.Series(["https://images.example/x.jpg"]), images).all()
    assert not quality.images_to_drop(pd.Series([None]), images).any()
