"""The health page's pure rendering: escaping, chart geometry, empty states."""

from __future__ import annotations

import datetime as dt
import re

from lms_connectors.health import app as health
from tests.builders import health_spec

SPEC = health_spec()


def figures(**over):
    base = {
        "window": {"from": dt.date(2026, 10, 28), "to": dt.date(2026, 11, 26)},
        "last_runs": [],
        "courses": {"active": 0, "archived": 0, "archived_by_reason": {}},
        "rejected_by_rule": [],
        "unmatched_learners": {"total": 0, "seen_in_window": 0},
        "healed_learners": {"in_window": 0, "days_read": 0, "pending": 0},
        "xapi": {"newest": None, "age_minutes": None, "stored_in_window": 0, "refused_in_window": 0},
        "daily": [],
        "retention": {"last_run": dt.datetime(2026, 11, 26, 4, 31, tzinfo=dt.UTC), "overdue": False},
    }
    # The run that started last: here the first listed, unless a test says otherwise.
    latest = (over.get("last_runs") or [None])[0]
    return {**base, "latest_run": latest, **over}


def test_chart_has_one_point_per_day_scaled_to_the_largest_value():
    daily = [
        {"day": dt.date(2026, 11, d), "active_learners": a, "completions": c}
        for d, a, c in ((1, 10, 0), (2, 40, 4), (3, 20, 2))
    ]
    svg = health.daily_chart(daily)
    active = re.search(r'class="series-active"[^>]*points="([^"]+)"', svg).group(1).split()
    done = re.search(r'class="series-completions"[^>]*points="([^"]+)"', svg).group(1).split()
    assert len(active) == len(done) == 3
    ys = [float(p.split(",")[1]) for p in active]
    # SVG y grows downwards: the largest value (40) is at the top of the plot area.
    assert min(ys) == ys[1] == health.PAD
    assert float(done[0].split(",")[1]) == health.CHART_H - health.PAD
    assert ">40<" in svg and "2026-11-01" in svg and "2026-11-03" in svg


def test_provider_text_is_escaped():
    h = figures(
        courses={"active": 1, "archived": 1, "archived_by_reason": {"<script>alert(1)</script>": 1}},
        rejected_by_rule=[{"entity": "progress", "rule": "a&b", "records": 2, "runs": 1}],
    )
    out = health.render_connector(SPEC, h)
    assert "<script>" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert '<td data-field="rule">a&amp;b</td>' in out


def test_a_connector_that_never_ran_says_so():
    out = health.render_connector(SPEC, figures())
    assert 'data-figure="last_status">never run<' in out
    assert "No run recorded yet." in out and "No archived course." in out and "No rejected record." in out


def test_a_run_shows_the_day_it_covers_its_counts_and_no_duration_while_running():
    run = {
        "interval_start": dt.datetime(2026, 11, 25, tzinfo=dt.UTC),
        "status": "failed",
        "started_at": dt.datetime(2026, 11, 26, 0, 1, tzinfo=dt.UTC),
        "finished_at": None,
        "courses_seen": 1000,
        "courses_created": 0,
        "courses_updated": 3,
        "courses_archived": 1,
        "activity_records": 1800,
        "progress_rows": 900,
        "matched_learners": 700,
        "unmatched_learners": 12,
        "rejected": 5,
    }
    out = health.render_connector(SPEC, figures(last_runs=[run]))
    assert 'data-figure="last_status">failed<' in out
    # The day the run covers, as a date: the run's name may not say it (backfills: the day after).
    assert '<tr data-key="2026-11-25"><td data-field="day">2026-11-25</td>' in out
    assert '<td data-field="activity_records">1800</td>' in out
    assert '<td data-field="duration"></td>' in out  # not finished


def _run(day: int, seconds: float | None, status: str = "success", error: str | None = None) -> dict:
    return {
        "run_id": f"lms_connector_openclassrooms/scheduled__2026-11-{day:02d}T00:00:00+00:00",
        "interval_start": dt.datetime(2026, 11, day, tzinfo=dt.UTC),
        "status": status,
        "started_at": dt.datetime(2026, 11, day + 1, 0, 1, tzinfo=dt.UTC),
        "duration_seconds": seconds,
        "courses_seen": 1,
        "courses_created": 0,
        "courses_updated": 0,
        "courses_archived": 0,
        "activity_records": 10,
        "progress_rows": 8,
        "daily_rows": 9,
        "matched_learners": 7,
        "unmatched_learners": 1,
        "rejected": 0,
        "error": error,
    }


def test_each_run_has_a_duration_bar_on_one_scale_and_links_to_its_airflow_run_and_log():
    runs = [_run(25, 12.0), _run(24, 48.0), _run(23, 300.0, "failed", "sync_statistics: ReplayDeleteBlocked: ...")]
    out = health.render_connector(SPEC, figures(last_runs=runs))
    widths = [float(w) for w in re.findall(r'<rect width="([0-9.]+)"', out)]
    assert widths == [3.2, 12.8, 80.0]  # the slow day takes the whole bar
    assert 'data-seconds="300.0">5.0 min<' in out and 'data-seconds="12.0">12.0 s<' in out
    assert '<td data-field="progress_rows_written">8</td>' in out and '<td data-field="day_rows_written">9</td>' in out
    run = "../dags/lms_connector_openclassrooms/runs/scheduled__2026-11-25T00%3A00%3A00%2B00%3A00"
    assert f'href="{run}"' in out and f'href="{run}/tasks/sync_statistics"' in out
    assert 'runs/scheduled__2026-11-23T00%3A00%3A00%2B00%3A00/tasks/sync_statistics"' in out
    # The UI's sandboxed frame forbids target=_top: the page's script follows the links instead.
    assert "target=" not in out and out.count("data-link=") == 6


def test_retention_is_overdue_after_two_days_and_alerts_once_then_daily():
    from lms_connectors.warehouse.audit import retention_alert_due, retention_overdue

    last = dt.datetime(2026, 12, 1, 4, 31, tzinfo=dt.UTC)
    assert not retention_overdue(last, last + dt.timedelta(hours=47))
    assert retention_overdue(last, last + dt.timedelta(hours=48, minutes=1))
    assert retention_overdue(None, last)
    # The hourly checks: the one whose hour holds the 48th, then one a day.
    checks = [last + dt.timedelta(hours=h, minutes=29) for h in range(24, 24 * 5)]
    alerting = [c for c in checks if retention_alert_due(last, c)]
    assert [c - last for c in alerting] == [dt.timedelta(hours=48 + 24 * k, minutes=29) for k in range(3)]
    never = [c for c in checks if retention_alert_due(None, c)]
    assert len(never) == 4 and all(c.hour == 6 for c in never)


def test_the_page_shows_when_retention_last_ran_and_says_when_it_is_overdue():
    from lms_connectors.health.app import _retention_figure

    last = dt.datetime(2026, 12, 1, 4, 31, tzinfo=dt.UTC)
    fine = _retention_figure({"last_run": last, "overdue": False})
    assert "2026-12-01 04:31" in fine and "overdue" not in fine
    late = _retention_figure({"last_run": None, "overdue": True})
    assert 'class="figure overdue"' in late and "never" in late and "lms_connectors_retention" in late


def test_a_pushing_connector_shows_how_fresh_its_statements_are_and_another_shows_nothing():
    assert 'data-figure="xapi_newest"' not in health.render_connector(SPEC, figures())
    for age, shown in ((7, "7 min ago"), (185, "3 h ago"), (4 * 1440 + 5, "4 days ago")):
        pushed = {"newest": dt.datetime(2026, 12, 1, tzinfo=dt.UTC), "age_minutes": age}
        page = health.render_connector(SPEC, figures(xapi={**pushed, "stored_in_window": 12, "refused_in_window": 2}))
        assert re.search(rf'data-figure="xapi_newest">{shown}<', page), shown
        assert 'data-figure="xapi_stored">12<' in page and 'data-figure="xapi_refused">2<' in page
