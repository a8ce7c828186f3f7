"""When the progress merge refreshes its targets' statistics (pipeline.progress.stale_statistics)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lms_connectors.pipeline.progress import ANALYZE_AFTER_ROWS, FIRST_LOAD_ANALYZE_ROWS, stale_statistics

TABLES = ("course_progress", "course_progress_daily")


def test_a_first_load_refreshes_them():
    never = dict.fromkeys(TABLES, -1.0)
    assert stale_statistics({"course_progress": 390_000, "course_progress_daily": 906_000}, never)
    assert stale_statistics({"course_progress": 390_000, "course_progress_daily": 906_000}, dict.fromkeys(TABLES, 0.0))


def test_a_daily_run_on_a_large_warehouse_leaves_them_to_autovacuum():
    known = {"course_progress": 390_000.0, "course_progress_daily": 906_000.0}
    assert not stale_statistics({"course_progress": 65_000, "course_progress_daily": 65_000}, known)


def test_a_connectors_first_load_refreshes_them_however_large_the_targets():
    """The statistics know no row of a new connector: its next day's joins would plan for none."""
    known = {"course_progress": 38_000.0, "course_progress_daily": 45_000.0}
    written = {"course_progress": 10_835, "course_progress_daily": 24_829}
    assert not stale_statistics(written, known)
    assert stale_statistics(written, known, first_load=True)
    small = dict.fromkeys(TABLES, FIRST_LOAD_ANALYZE_ROWS)
    assert not stale_statistics(small, known, first_load=True)


def test_small_writes_never_refresh_them():
    assert not stale_statistics({"course_progress": ANALYZE_AFTER_ROWS, "course_progress_daily": 0}, {})


@given(
    written=st.tuples(st.integers(0, 10**7), st.integers(0, 10**7)),
    known=st.tuples(st.floats(-1, 10**7), st.floats(-1, 10**7)),
)
def test_either_target_outgrowing_what_its_statistics_know_refreshes_them(written, known):
    w, k = dict(zip(TABLES, written, strict=True)), dict(zip(TABLES, known, strict=True))
    expected = any(w[t] > ANALYZE_AFTER_ROWS and w[t] > k[t] for t in TABLES)
    assert stale_statistics(w, k) is expected
