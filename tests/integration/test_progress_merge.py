"""The progress merge on a real Postgres: which rows a run writes, keeps and deletes.

Staging rows are written directly, so each case states exactly what the
transform handed over; the merge is ``lms_connectors.pipeline.progress.load_progress``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import psycopg
import pytest

from lms_connectors.pipeline import progress

pytestmark = pytest.mark.integration
CONNECTOR = "openclassrooms"
DAY = dt.date(2026, 11, 4)
START = dt.datetime.combine(DAY, dt.time(), dt.UTC)


@dataclasses.dataclass(frozen=True)
class Rec:
    course: int | None
    user: str
    pct: float
    hour: int
    day: dt.date = DAY
    outcome: str = "ok"
    # Minutes viewed that day, for a provider whose time-spent rule is "measured".
    viewed: float | None = None

    @property
    def updated_at(self) -> dt.datetime:
        return dt.datetime.combine(self.day, dt.time(self.hour), dt.UTC)


def load(
    warehouse,
    run_id: str,
    records: list[Rec],
    days: int = 1,
    connector: str = CONNECTOR,
    delete: bool = False,
    max_share: float = 0.1,
    measured: bool = False,
    start: dt.datetime = START,
) -> dict:
    with psycopg.connect(warehouse.sync_dsn) as conn:
        with conn.transaction():
            conn.execute("DELETE FROM staging.progress WHERE run_id = %s", (run_id,))
            for seq, r in enumerate(records):
                conn.execute(
                    """INSERT INTO staging.progress (run_id, seq, lms_course_id, user_id, progress_pct,
                           time_spent_minutes, time_viewed_minutes, started_at, provider_updated_at, learner_hash,
                           outcome)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                    (
                        run_id,
                        seq,
                        r.course,
                        r.user,
                        r.pct,
                        None if measured else r.pct * 6,
                        r.viewed if measured else None,
                        START,
                        r.updated_at,
                        f"h-{r.user}",
                        r.outcome,
                    ),
                )
        return progress.load_progress(
            conn,
            run_id,
            connector,
            start,
            start + dt.timedelta(days=days),
            delete_unreported=delete,
            max_replay_delete_share=max_share,
            measured=measured,
        )


def current(warehouse) -> dict[tuple[int, str], float]:
    rows = warehouse.rows("SELECT lms_course_id, user_id, progress_pct FROM stats.course_progress")
    return {(c, u): float(p) for c, u, p in rows}


def daily(warehouse) -> dict[tuple[dt.date, int, str], float]:
    rows = warehouse.rows("SELECT activity_date, lms_course_id, user_id, progress_pct FROM stats.course_progress_daily")
    return {(d, c, u): float(p) for d, c, u, p in rows}


def written(result: dict) -> int:
    return result["progress_rows"] + result["daily_rows"]


def test_first_load_keeps_the_newest_record_of_each_day(warehouse):
    result = load(warehouse, "r1", [Rec(1, "u1", 20, 9), Rec(1, "u1", 40, 15), Rec(2, "u1", 10, 10)])
    assert daily(warehouse) == {(DAY, 1, "u1"): 40, (DAY, 2, "u1"): 10}
    assert current(warehouse) == {(1, "u1"): 40, (2, "u1"): 10}
    assert result["daily_rows"] == 2 and result["progress_rows"] == 2


def test_a_rerun_with_the_same_records_writes_nothing(warehouse):
    records = [Rec(1, "u1", 40, 15), Rec(2, "u2", 10, 10), Rec(2, "u1", 100, 11)]
    load(warehouse, "r1", records)
    before = (current(warehouse), daily(warehouse))
    again = load(warehouse, "r2", records)
    assert written(again) == 0
    # Nothing new or changed: nothing reaches the batch, nothing is sorted.
    assert again["batch_rows"] == 0
    assert (current(warehouse), daily(warehouse)) == before


def test_an_older_duplicate_that_changed_does_not_overwrite_the_newest(warehouse):
    load(warehouse, "r1", [Rec(1, "u1", 20, 9), Rec(1, "u1", 40, 15)])
    # The 9 o'clock record differs from the stored row, but the day's newest is unchanged.
    again = load(warehouse, "r2", [Rec(1, "u1", 25, 9), Rec(1, "u1", 40, 15)])
    assert written(again) == 0
    assert daily(warehouse) == {(DAY, 1, "u1"): 40}
    assert current(warehouse) == {(1, "u1"): 40}


def test_a_changed_record_updates_its_day_and_current_progress(warehouse):
    load(warehouse, "r1", [Rec(1, "u1", 20, 9), Rec(2, "u2", 10, 10)])
    again = load(warehouse, "r2", [Rec(1, "u1", 60, 11), Rec(2, "u2", 10, 10)])
    assert daily(warehouse) == {(DAY, 1, "u1"): 60, (DAY, 2, "u2"): 10}
    assert current(warehouse) == {(1, "u1"): 60, (2, "u2"): 10}
    assert again["daily_rows"] == 1 and again["progress_rows"] == 1


def test_a_replay_keeps_the_day_rows_the_provider_no_longer_reports(warehouse):
    load(warehouse, "r1", [Rec(1, "u1", 20, 9), Rec(2, "u2", 10, 10)])
    again = load(warehouse, "r2", [Rec(1, "u1", 20, 9)])
    # A latest-state provider reports fewer records for an old day: that is not a deletion.
    assert daily(warehouse) == {(DAY, 1, "u1"): 20, (DAY, 2, "u2"): 10}
    assert current(warehouse) == {(1, "u1"): 20, (2, "u2"): 10}
    assert again["daily_rows_unreported"] == 1
    assert again["daily_rows_deleted"] == 0 and written(again) == 0


def test_a_replay_asked_to_delete_removes_unreported_rows_within_the_threshold(warehouse):
    rows = [Rec(c, f"u{c}", 20, 9) for c in range(1, 21)]
    load(warehouse, "r1", rows)
    again = load(warehouse, "r2", rows[1:], delete=True, max_share=0.1)
    assert (DAY, 1, "u1") not in daily(warehouse) and len(daily(warehouse)) == 19
    assert again["daily_rows_deleted"] == 1 and again["unreported_deletion"] == "deleted 1"
    # Current progress is what the learner reached; a day replay does not erase it.
    assert current(warehouse)[(1, "u1")] == 20


def test_a_deleting_replay_above_the_threshold_changes_nothing_and_says_why(warehouse):
    rows = [Rec(c, f"u{c}", 20, 9) for c in range(1, 21)]
    load(warehouse, "r1", rows)
    before = daily(warehouse), current(warehouse)
    with pytest.raises(progress.ReplayDeleteBlocked, match=r"2026-11-04: 5 of 20 \(25%\).*nothing was changed"):
        load(warehouse, "r2", rows[5:], delete=True, max_share=0.2)
    assert (daily(warehouse), current(warehouse)) == before


def test_the_key_of_a_rejected_record_is_never_unreported(warehouse):
    load(warehouse, "r1", [Rec(1, "u1", 20, 9), Rec(2, "u2", 10, 10)])
    again = load(
        warehouse,
        "r2",
        [Rec(1, "u1", 20, 9), Rec(2, "u2", 10, 10, outcome="invalid_started_at")],
        delete=True,
        max_share=1,
    )
    assert daily(warehouse) == {(DAY, 1, "u1"): 20, (DAY, 2, "u2"): 10}
    assert again["daily_rows_deleted"] == 0


def test_a_rejected_record_without_a_key_stops_any_deletion(warehouse):
    load(warehouse, "r1", [Rec(1, "u1", 20, 9), Rec(2, "u2", 10, 10)])
    again = load(
        warehouse,
        "r2",
        [Rec(1, "u1", 20, 9), Rec(None, "u3", 10, 10, outcome="unknown_course")],
        delete=True,
        max_share=1,
    )
    assert daily(warehouse) == {(DAY, 1, "u1"): 20, (DAY, 2, "u2"): 10}
    assert again["unreported_deletion"].startswith("skipped: 1 rejected records have no course")


def test_replaying_an_older_day_never_moves_current_progress_back(warehouse):
    next_day = DAY + dt.timedelta(days=1)
    load(warehouse, "r1", [Rec(1, "u1", 20, 9), Rec(1, "u1", 50, 9, day=next_day)], days=2)
    again = load(warehouse, "r2", [Rec(1, "u1", 30, 9)])
    assert daily(warehouse) == {(DAY, 1, "u1"): 30, (next_day, 1, "u1"): 50}
    assert current(warehouse) == {(1, "u1"): 50}
    assert again["daily_rows"] == 1 and again["progress_rows"] == 0


def test_rejected_and_unmatched_records_are_not_loaded(warehouse):
    load(
        warehouse,
        "r1",
        [
            Rec(1, "u1", 20, 9),
            Rec(2, "u1", 30, 9, outcome="unmatched"),
            Rec(3, "u1", 5, 9, outcome="progress_out_of_range"),
        ],
    )
    assert daily(warehouse) == {(DAY, 1, "u1"): 20}


def test_a_replay_leaves_another_connectors_rows_of_the_same_day_alone(warehouse):
    load(warehouse, "r1", [Rec(1, "u1", 20, 9)])
    load(warehouse, "other-1", [Rec(900, "u1", 70, 9)], connector="other")
    load(warehouse, "r2", [Rec(1, "u1", 25, 9)])
    assert daily(warehouse) == {(DAY, 1, "u1"): 25, (DAY, 900, "u1"): 70}


# --- measured time: the time viewed per day, summed --------------------------------

D2 = DAY + dt.timedelta(days=1)
D3 = DAY + dt.timedelta(days=2)


def times(warehouse) -> tuple[dict, dict]:
    daily_rows = warehouse.rows(
        "SELECT activity_date, lms_course_id, user_id, time_viewed_minutes, time_spent_minutes "
        "FROM stats.course_progress_daily"
    )
    current_rows = warehouse.rows("SELECT lms_course_id, user_id, time_spent_minutes FROM stats.course_progress")
    return (
        {(d, c, u): (float(v), float(t)) for d, c, u, v, t in daily_rows},
        {(c, u): float(t) for c, u, t in current_rows},
    )


def measured_day(day: dt.date, viewed: float, pct: float) -> list[Rec]:
    return [Rec(1, "u1", pct, 10, day=day, viewed=viewed), Rec(2, "u1", 5, 11, day=day, viewed=3)]


def load_days(warehouse, days: list[tuple[dt.date, float, float]], run: str) -> list[dict]:
    """Each day in its own run, as daily runs load them."""
    return [
        load_on(warehouse, f"{run}-{i}", measured_day(day, viewed, pct), day)
        for i, (day, viewed, pct) in enumerate(days)
    ]


def load_on(warehouse, run_id: str, records: list[Rec], day: dt.date) -> dict:
    return load(warehouse, run_id, records, measured=True, start=dt.datetime.combine(day, dt.time(), dt.UTC))


def test_measured_time_spent_is_the_sum_of_the_days_whatever_their_order(make_warehouse):
    in_order, shuffled = make_warehouse(), make_warehouse()
    days = [(DAY, 10.0, 20), (D2, 5.0, 30), (D3, 7.5, 45)]
    load_days(in_order, days, "a")
    load_days(shuffled, [days[2], days[0], days[1]], "b")
    daily_rows, current_rows = times(in_order)
    assert daily_rows[(DAY, 1, "u1")] == (10.0, 10.0)
    assert daily_rows[(D2, 1, "u1")] == (5.0, 15.0)
    assert daily_rows[(D3, 1, "u1")] == (7.5, 22.5)
    assert current_rows[(1, "u1")] == 22.5 and current_rows[(2, "u1")] == 9.0
    assert times(shuffled) == (daily_rows, current_rows)


def test_a_replayed_day_with_more_time_viewed_moves_the_later_sums_and_a_rerun_writes_nothing(warehouse):
    load_days(warehouse, [(DAY, 10.0, 20), (D2, 5.0, 30)], "a")
    again = load_on(warehouse, "a-again", measured_day(DAY, 10.0, 20), DAY)
    assert written(again) == 0 and again["time_sums_updated"] == 0
    load_on(warehouse, "a-fix", measured_day(DAY, 12.0, 20), DAY)
    daily_rows, current_rows = times(warehouse)
    assert daily_rows[(DAY, 1, "u1")] == (12.0, 12.0)
    assert daily_rows[(D2, 1, "u1")] == (5.0, 17.0)
    assert current_rows[(1, "u1")] == 17.0
