"""Skillsoft Percipio's pure conversions: locales, lifecycle, durations; its time rule."""

from __future__ import annotations

import datetime as dt

from lms_connectors.providers.skillsoft_percipio import PROVIDER
from lms_connectors.providers.skillsoft_percipio.contract import COURSE_SCHEMA
from lms_connectors.providers.skillsoft_percipio.convert import course_row
from lms_connectors.rules import guard

ITEM = {
    "id": "5b7e2c1d-9f4a-4e3b-8c6d-000001000084",
    "localeCodes": ["fr-FR", "en-US"],
    "localizedMetadata": [
        {"localeCode": "fr-FR", "title": "Python pour tous", "description": "Bases"},
        {"localeCode": "en-US", "title": "Python for all", "description": "Basics"},
    ],
    "lifecycle": {
        "status": "ACTIVE",
        "lastUpdatedDate": "2026-10-01T08:30:00.000Z",
        "plannedRetirementDate": "2027-06-30T00:00:00.000Z",
        "retiredDate": None,
    },
    "duration": "PT52M30S",
    "link": "https://share.percipio.com/cd/abc",
    "imageUrl": None,
    "by": ["an author's name: not read"],
}


def row_of(item: dict) -> dict:
    screened = guard.screen(item, COURSE_SCHEMA)
    assert screened.reason is None, screened
    return course_row(screened.record)


def test_a_course_takes_its_primary_locale_and_its_first_metadata():
    row = row_of(ITEM)
    assert (row["title"], row["language"], row["description"]) == ("Python pour tous", "fr", "Bases")
    assert row["duration_minutes"] == 53  # 52 min 30 s, half up
    assert row["provider_updated_at"] == dt.datetime(2026, 10, 1, 8, 30, tzinfo=dt.UTC)
    assert row["reject_reason"] is None


def test_a_planned_retirement_changes_nothing_until_percipio_retires_the_course():
    assert row_of(ITEM)["provider_status"] == "active"
    retired = {**ITEM, "lifecycle": {**ITEM["lifecycle"], "status": "RETIRED"}}
    assert row_of(retired)["provider_status"] == "retired"
    # A retiredDate retires it whatever the status says.
    dated = {**ITEM, "lifecycle": {**ITEM["lifecycle"], "retiredDate": "2026-11-02T00:00:00.000Z"}}
    assert row_of(dated)["provider_status"] == "retired"
    assert PROVIDER.kept_statuses == frozenset({"active"})


def test_values_that_do_not_type_are_reasons_never_exceptions():
    bad = {**ITEM, "duration": "about an hour", "lifecycle": {**ITEM["lifecycle"], "lastUpdatedDate": "soon"}}
    row = row_of(bad)
    assert (row["reject_reason"], row["duration_minutes"]) == ("invalid_duration", None)
    assert row_of({**ITEM, "localeCodes": []})["language"] is None


def test_time_spent_is_the_total_percipio_reports_as_it_is():
    assert PROVIDER.time_rule.name == "reported_total" and not PROVIDER.time_rule.summed_by_day
    assert PROVIDER.time_spent_minutes(750, 40, 5400) == 90
