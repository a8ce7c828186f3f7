"""The batch rules of the validate steps: unique ids, and the share of rejected records."""

from __future__ import annotations

import pandas as pd
import pytest

from lms_connectors.rules.quality import batch_failures


@pytest.mark.parametrize("total", [1, 2, 3, 20, 1000])
def test_a_single_rejected_record_never_fails_a_batch(total):
    assert batch_failures(pd.Series([], dtype=object), 1, total, 0.05, "course") == []


@pytest.mark.parametrize(
    ("rejected", "total", "fails"), [(2, 3, True), (2, 40, False), (3, 40, True), (50, 1000, False)]
)
def test_two_or_more_rejected_records_fail_above_the_share(rejected, total, fails):
    failures = batch_failures(pd.Series([], dtype=object), rejected, total, 0.05, "learning-activity")
    assert bool(failures) is fails
    if fails:
        assert f"{rejected} of {total} learning-activity records" in failures[0]


def test_duplicate_ids_fail_the_batch_whatever_the_share():
    failures = batch_failures(pd.Series(["a", "b", "a"]), 0, 3, 1.0, "course")
    assert failures == ["the provider listed course ids more than once: a"]
