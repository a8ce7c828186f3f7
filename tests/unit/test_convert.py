from __future__ import annotations

import datetime as dt

import pytest

from lms_connectors.privacy.pseudonym import normalise_email
from lms_connectors.providers.openclassrooms import PROVIDER
from lms_connectors.providers.paging import ContentRange, parse_content_range
from lms_connectors.rules.encodings import format_rfc3339 as format_timestamp
from lms_connectors.rules.encodings import iso8601_minutes as duration_minutes
from lms_connectors.rules.encodings import parse_rfc3339 as parse_timestamp
from lms_connectors.rules.errors import ProviderPagingError


@pytest.mark.parametrize(
    ("value", "minutes"),
    [
        ("PT1H", 60),
        ("PT12H30M", 750),
        ("PT45M", 45),
        ("P1DT6H", 1800),
        ("PT60H", 3600),
        ("PT1H0M30S", 61),  # half a minute rounds up
        ("PT1H0M29S", 60),
        ("PT1.5H", 90),
        ("pt2h", 120),
        ("P1W", 7 * 24 * 60),
    ],
)
def test_duration_minutes(value, minutes):
    assert duration_minutes(value) == minutes


@pytest.mark.parametrize("value", ["", "P", "PT", "12h", "about two hours", "P1M", "P1Y", "PT1H2", None, 90])
def test_duration_minutes_refuses_garbage(value):
    with pytest.raises(ValueError, match="duration"):
        duration_minutes(value)


def test_timestamps_round_trip_in_utc():
    parsed = parse_timestamp("2026-11-03T10:15:00+01:00")
    assert parsed == dt.datetime(2026, 11, 3, 9, 15, tzinfo=dt.UTC)
    assert format_timestamp(parsed) == "2026-11-03T09:15:00Z"
    with pytest.raises(ValueError, match="time zone"):
        parse_timestamp("2026-11-03T10:15:00")


def test_normalise_email():
    assert normalise_email("  Jane.DOE@Example.COM ") == "jane.doe@example.com"


@pytest.mark.parametrize(
    ("duration", "progress", "expected"),
    [(750, 0, 0.0), (750, 100, 750.0), (750, 40, 300.0), (45, 50, 22.5), (90, 33.3, 29.97)],
)
def test_time_spent_is_duration_times_progress(duration, progress, expected):
    # The one rule the pipeline calls (progress.transform_chunk), on scalars here.
    assert round(PROVIDER.time_spent_minutes(duration, progress, None), 2) == expected


def test_parse_content_range():
    assert parse_content_range("items 0-9/120") == ContentRange(0, 9, 120)
    assert parse_content_range("items */0") == ContentRange(None, None, 0)
    assert parse_content_range(None) is None
    with pytest.raises(ProviderPagingError, match="malformed"):
        parse_content_range("bytes 0-9/120")


def test_progress_transform_matches_the_staging_columns():
    import pandas as pd

    from lms_connectors.pipeline.progress import PROGRESS_COLUMNS, transform_chunk

    records = pd.DataFrame(
        [
            {
                "seq": 0,
                "learner_hash": "h1",
                "user_id": "u1",
                "course_id": "c1",
                "progress": 40,
                "started_at": None,
                "completed_at": None,
                "updated_at": "2026-11-02T12:00:00Z",
            },
            {
                "seq": 1,
                "learner_hash": "h2",
                "user_id": None,
                "course_id": "c1",
                "progress": 100,
                "started_at": None,
                "completed_at": "2026-11-02T13:00:00Z",
                "updated_at": "2026-11-02T13:00:00Z",
            },
        ]
    )
    courses = pd.DataFrame({"course_id": ["c1"], "lms_course_id": [5], "duration_minutes": [750]})
    out = transform_chunk(records, courses, PROVIDER)
    assert list(out.columns) == ["seq", *PROGRESS_COLUMNS]
    assert out["time_spent_minutes"].tolist() == [300.0, 750.0]
    assert out["outcome"].tolist() == ["ok", "unmatched"]


def test_completion_is_completed_at_or_exactly_100_and_progress_never_rounds_up_to_100():
    import pandas as pd

    from lms_connectors.pipeline.progress import transform_chunk

    def record(seq: int, progress: float, completed_at: str | None) -> dict:
        return {
            "seq": seq,
            "learner_hash": "h1",
            "user_id": "u1",
            "course_id": "c1",
            "progress": str(progress),
            "started_at": None,
            "completed_at": completed_at,
            "updated_at": "2026-11-02T12:00:00Z",
        }

    records = pd.DataFrame(
        [
            record(0, 99.999, None),  # rounds to 100.00 at two decimals, yet is not a completion
            record(1, 100, None),  # exactly 100: completed when the record was updated
            record(2, 80, "2026-11-02T11:00:00Z"),  # the provider says completed
            record(3, 99.994, None),
        ]
    )
    courses = pd.DataFrame({"course_id": ["c1"], "lms_course_id": [5], "duration_minutes": [600]})
    out = transform_chunk(records, courses, PROVIDER)
    assert out["progress_pct"].tolist() == [99.99, 100.0, 80.0, 99.99]
    completed = [None if pd.isna(t) else t.isoformat() for t in out["completed_at"]]
    assert completed == [None, "2026-11-02T12:00:00+00:00", "2026-11-02T11:00:00+00:00", None]
    assert out["outcome"].tolist() == ["ok"] * 4


@pytest.mark.parametrize(
    ("field", "reason"),
    [
        ("updated_at", "invalid_updated_at"),
        ("started_at", "invalid_started_at"),
        ("completed_at", "invalid_completed_at"),
    ],
)
@pytest.mark.parametrize("value", ["yesterday morning", "2026-13-45T99:99:99Z", "9999-12-31T23:59:59-01:00"])
def test_an_unreadable_timestamp_is_quarantined_with_its_reason_not_stored_as_null(field, reason, value):
    import pandas as pd

    from lms_connectors.pipeline.progress import transform_chunk

    clean = {
        "seq": 0,
        "learner_hash": "h1",
        "user_id": "u1",
        "course_id": "c1",
        "progress": "40",
        "started_at": "2026-11-01T09:00:00Z",
        "completed_at": None,
        "updated_at": "2026-11-02T12:00:00Z",
    }
    records = pd.DataFrame([clean, {**clean, "seq": 1, field: value}])
    courses = pd.DataFrame({"course_id": ["c1"], "lms_course_id": [5], "duration_minutes": [600]})
    out = transform_chunk(records, courses, PROVIDER)
    assert out["outcome"].tolist() == ["ok", reason]
    assert field in out["reject_detail"].iloc[1]
    assert out["progress_pct"].isna().tolist() == [False, True]
