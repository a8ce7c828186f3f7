"""Activity row rules on a real Postgres with great-expectations: what validate_progress quarantines."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

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
