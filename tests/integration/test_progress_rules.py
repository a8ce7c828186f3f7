"""Activity row rules on a real Postgres with great-expectations: what validate_progress quarantines."""

from __future__ import annotations

import datetime as dt
import itertools

import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lms_connectors.pipeline import progress
from lms_connectors.rules.settings import ConnectorSettings

pytestmark = pytest.mark.integration
START = dt.datetime(2026, 11, 4, tzinfo=dt.UTC)
END = START + dt.timedelta(days=1)
SETTINGS = ConnectorSettings.model_validate(
    {"enabled": True, "target_group_id": "g-1", "author_email": "a@example.com", "max_reject_share": 1.0}
)


def stage(warehouse, run_id: str, updated: list[dt.datetime | None]) -> None:
    with psycopg.connect(warehouse.dsn) as conn:
        for seq, at in enumerate(updated):
            conn.execute(
                "INSERT INTO staging.raw_activity (run_id, seq, learner_hash, record) VALUES (%s, %s, %s, %s)",
                (run_id, seq, f"h-{seq}", '{"course_id": "c-1"}'),
            )
            conn.execute(
                """INSERT INTO staging.progress (run_id, seq, provider_course_id, lms_course_id, user_id,
                       progress_pct, time_spent_minutes, provider_updated_at, learner_hash, outcome)
                   VALUES (%s, %s, 'c-1', 1, %s, 50, 30, %s, %s, 'ok')""",
                (run_id, seq, f"u{seq}", at, f"h-{seq}"),
            )


# The rules read in the database list at most DATABASE_REJECTS_MAX failing rows a rule; with 1, two
# records outside the interval send the run to the chunked check, which must name the same rows.
@pytest.mark.parametrize("listed_at_most", [progress.DATABASE_REJECTS_MAX, 1], ids=["in the database", "chunked"])
def test_records_outside_the_run_interval_are_quarantined(warehouse, monkeypatch, listed_at_most):
    monkeypatch.setattr(progress, "DATABASE_REJECTS_MAX", listed_at_most)
    updated = [START, END - dt.timedelta(microseconds=1), END, START - dt.timedelta(seconds=1), None]
    stage(warehouse, "r1", updated)
    # Another run's rows, outside this run's interval, are not this run's to check.
    stage(warehouse, "r0", [END + dt.timedelta(days=3), None])
    with psycopg.connect(warehouse.sync_dsn) as conn:
        result = progress.validate_progress(conn, "r1", "openclassrooms", SETTINGS, START, END)
    outcomes = dict(warehouse.rows("SELECT seq, outcome FROM staging.progress WHERE run_id = 'r1'"))
    assert outcomes == {0: "ok", 1: "ok", 2: "outside_interval", 3: "outside_interval", 4: "invalid_updated_at"}
    assert warehouse.rows("SELECT DISTINCT outcome FROM staging.progress WHERE run_id = 'r0'") == [("ok",)]
    assert result["rejected_by_reason"] == {"outside_interval": 2, "invalid_updated_at": 1}
    assert (
        warehouse.scalar(
            "SELECT count(*) FROM ops.rejected_records WHERE run_id = 'r1' AND reason = 'outside_interval'"
        )
        == 2
    )


_runs = itertools.count()
_row = st.tuples(
    st.sampled_from([None, "h-1", "h-2"]),
    st.sampled_from([None, "c-1", "c-2"]),
    st.sampled_from([None, 1, 2]),
    st.one_of(st.none(), st.decimals(min_value=-5, max_value=105, places=2), st.sampled_from([0, 100, -1, 101])),
    st.sampled_from([None, START - dt.timedelta(seconds=1), START, START + dt.timedelta(hours=1), END]),
    st.sampled_from(["ok", "unmatched", "ok", "invalid_started_at"]),
)
_EVERY_RULE = [
    (None, "c-1", 1, 50, START, "ok"),
    ("h-1", None, 1, 50, START, "ok"),
    ("h-1", "c-1", 1, 50, None, "unmatched"),
    ("h-1", "c-1", 1, 50, END, "ok"),
    ("h-1", "c-1", 1, None, START, "ok"),
    ("h-1", "c-1", 1, 101, START, "ok"),
    ("h-1", "c-1", None, 50, START, "ok"),
    ("h-1", "c-1", 1, 50, START, "invalid_started_at"),
    ("h-1", "c-1", 1, 50, START, "ok"),
]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@example(rows=_EVERY_RULE)
@given(rows=st.lists(_row, min_size=1, max_size=8))
def test_the_database_check_and_the_chunked_check_name_the_same_rows(warehouse, monkeypatch, rows):
    """Any staged rows: the rules read in the database and the pandas chunks they fall back to
    give every row the same outcome and detail, and the step the same counts."""
    n = next(_runs)
    seen = []
    for run_id, listed_at_most in ((f"db-{n}", progress.DATABASE_REJECTS_MAX), (f"chunked-{n}", 0)):
        monkeypatch.setattr(progress, "DATABASE_REJECTS_MAX", listed_at_most)
        with psycopg.connect(warehouse.dsn) as conn:
            for seq, (learner, course, lms_course, pct, at, outcome) in enumerate(rows):
                conn.execute(
                    "INSERT INTO staging.raw_activity (run_id, seq, learner_hash, record) VALUES (%s, %s, %s, '{}')",
                    (run_id, seq, learner),
                )
                conn.execute(
                    """INSERT INTO staging.progress (run_id, seq, provider_course_id, lms_course_id, progress_pct,
                           provider_updated_at, learner_hash, outcome, reject_detail)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                    (
                        run_id,
                        seq,
                        course,
                        lms_course,
                        pct,
                        at,
                        learner,
                        outcome,
                        None if outcome == "ok" else "earlier",
                    ),
                )
        with psycopg.connect(warehouse.sync_dsn) as conn:
            result = progress.validate_progress(conn, run_id, "openclassrooms", SETTINGS, START, END)
        marked = warehouse.rows(
            "SELECT seq, outcome, reject_detail FROM staging.progress WHERE run_id = %s ORDER BY seq", (run_id,)
        )
        recorded = warehouse.scalar(
            "SELECT count(*) FROM ops.rejected_records WHERE run_id = %s AND entity = 'progress'", (run_id,)
        )
        seen.append((marked, result, recorded))
    assert seen[0] == seen[1]
    # Not two checks that do nothing: a row updated at the interval's end is never accepted.
    outcomes = [outcome for _, outcome, _ in seen[0][0]]
    assert all(outcomes[seq] not in ("ok", "unmatched") for seq, row in enumerate(rows) if row[4] == END)
