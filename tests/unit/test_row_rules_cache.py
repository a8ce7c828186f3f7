"""Row rules give the same verdicts whether a validation builds each expectation's configuration once
(``quality._configurations_built_once``) or great-expectations rebuilds it on every read."""

from __future__ import annotations

import contextlib

import pandas as pd

from lms_connectors.rules import quality


def frame() -> pd.DataFrame:
    rows = range(40)
    return pd.DataFrame(
        {
            "learner_hash": [f"{n:064x}" for n in rows],
            "provider_course_id": [str(n % 7) for n in rows],
            # Each rule broken by some rows, and some rows breaking two: the first one is their reason.
            "lms_course_id": [None if n % 9 == 4 else str(n % 7) for n in rows],
            "progress_pct": [140.0 if n % 6 == 1 else float(n) for n in rows],
            "provider_updated_at": "2026-11-03T12:00:00Z",
            "in_interval": [n % 11 != 5 for n in rows],
        }
    )


def test_the_verdicts_are_great_expectations_own(monkeypatch):
    df = frame()
    cached = quality.row_reasons(df, quality.PROGRESS_ROW_RULES, "cache_check")
    assert cached.notna().sum() >= 3 and cached.nunique() >= 2
    monkeypatch.setattr(quality, "_configurations_built_once", contextlib.nullcontext)
    rebuilt = quality.row_reasons(df, quality.PROGRESS_ROW_RULES, "cache_check")
    pd.testing.assert_series_equal(cached, rebuilt)


def test_the_property_is_great_expectations_again_after_a_validation():
    from great_expectations.expectations.expectation import Expectation

    before = Expectation.__dict__["configuration"]
    quality.row_reasons(frame(), quality.PROGRESS_ROW_RULES, "cache_check")
    assert Expectation.__dict__["configuration"] is before
