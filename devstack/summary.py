"""What ``make demo`` prints: the runs, the catalogue and the statistics of each connector."""

from __future__ import annotations

import datetime as dt

import psycopg


def _table(headers: tuple[str, ...], rows: list[tuple]) -> str:
    cells = [tuple("" if v is None else str(v) for v in row) for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += [
        "  ".join(v.rjust(w) if v.replace(".", "").isdigit() else v.ljust(w) for v, w in zip(r, widths, strict=True))
        for r in cells
    ]
    return "\n".join(out)


def demo_summary(
    conn: psycopg.Connection,
    connector_id: str,
    group_id: str,
    results: list[tuple[dt.date, str, float]],
    time_rule: str = "theoretical",
) -> str:
    parts = ["== Airflow runs of this demo =="]
    parts.append(_table(("day", "state", "seconds"), [(d.isoformat(), s, f"{t:.1f}") for d, s, t in results]))

    runs = conn.execute(
        """SELECT interval_start::date, status, courses_seen, courses_created, courses_updated, courses_archived,
                  courses_unarchived, activity_records, progress_rows, matched_learners, unmatched_learners, rejected,
                  round(extract(epoch FROM finished_at - started_at)::numeric, 1)
           FROM ops.sync_runs WHERE connector_id = %s ORDER BY started_at DESC LIMIT %s""",
        (connector_id, len(results)),
    ).fetchall()
    parts += ["", "== ops.sync_runs of this demo (latest first) =="]
    parts.append(
        _table(
            (
                "day",
                "status",
                "seen",
                "created",
                "updated",
                "archived",
                "unarchived",
                "activity",
                "progress rows",
                "matched",
                "unmatched",
                "rejected",
                "seconds",
            ),
            runs,
        )
    )

    total, active = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE is_active) FROM lms.courses WHERE connector_id = %s", (connector_id,)
    ).fetchone()
    parts += ["", f"== Courses: {total} in lms.courses, {active} active, {total - active} archived =="]
    reasons = conn.execute(
        """SELECT r, count(*) FROM lms.courses, unnest(archive_reasons) r
           WHERE connector_id = %s GROUP BY r ORDER BY 2 DESC""",
        (connector_id,),
    ).fetchall()
    parts.append(_table(("archive reason", "courses"), reasons))
    langs = conn.execute(
        """SELECT language, count(*) FILTER (WHERE is_active), count(*) FROM lms.courses
           WHERE connector_id = %s GROUP BY language ORDER BY 3 DESC""",
        (connector_id,),
    ).fetchall()
    parts += ["", _table(("language", "active", "total"), langs)]
    size, visible = conn.execute(
        """SELECT count(*), count(*) FILTER (WHERE c.is_active) FROM lms.group_catalogue g
           JOIN lms.courses c USING (lms_course_id) WHERE g.group_id = %s""",
        (group_id,),
    ).fetchone()
    parts += ["", f"== Group {group_id}: {size} courses in its catalogue and library, {visible} visible (active) =="]

    learners, rows, completed, minutes = conn.execute(
        """SELECT count(DISTINCT user_id), count(*),
                  count(*) FILTER (WHERE completed_at IS NOT NULL OR progress_pct = 100),
                  coalesce(round(sum(time_spent_minutes) / 60), 0)
           FROM stats.course_progress WHERE connector_id = %s""",
        (connector_id,),
    ).fetchone()
    unmatched = conn.execute(
        "SELECT count(*) FROM ops.unmatched_learners WHERE connector_id = %s", (connector_id,)
    ).fetchone()[0]
    parts += [
        "",
        f"== Learning statistics: {rows} progress rows for {learners} LMS learners, {completed} completions, "
        f"{minutes:.0f} h of {time_rule} time; {unmatched} provider learners are not LMS users (their activity is not loaded; a keyed hash of each is kept, see docs/PRIVACY.md) ==",
    ]
    daily = conn.execute(
        """SELECT activity_date, active_learners, completions, round(time_spent_minutes / 60, 1)
           FROM stats.v_daily_activity
           WHERE connector_id = %s ORDER BY activity_date DESC LIMIT 3""",
        (connector_id,),
    ).fetchall()
    parts.append(_table(("day", "active learners", "completions", "hours"), daily))
    top = conn.execute(
        """SELECT left(title, 45), language, learners_started, learners_completed, avg_progress_pct
           FROM stats.v_course_engagement WHERE connector_id = %s
           ORDER BY learners_started DESC, lms_course_id LIMIT 5""",
        (connector_id,),
    ).fetchall()
    parts += ["", "Top courses", _table(("course", "lang", "started", "completed", "avg %"), top)]
    steps = conn.execute(
        """SELECT path_name, step_no, left(course_title, 45), count(*) FILTER (WHERE may_continue),
                  count(*) FILTER (WHERE step_completed)
           FROM stats.v_path_progress WHERE connector_id = %s
           GROUP BY path_name, step_no, course_title ORDER BY path_name, step_no""",
        (connector_id,),
    ).fetchall()
    parts += [
        "",
        "LMS paths (stats.v_path_progress: learners who may continue past each step, who completed it)",
        _table(("path", "step", "course", "may continue", "completed"), steps),
    ]
    return "\n".join(parts)


def admin_help(dag_id: str, variable: str, settings: dict, conf: dict, report: dict) -> str:
    """What the demo's dry run found, and commands that apply a filter as written (tested verbatim)."""
    langs = ", ".join(settings.get("languages") or []) or "all"
    admin_dag = f"{dag_id}_apply_settings"
    return "\n".join(
        [
            "== Admin: language filter and deactivation ==",
            f"Current Variable {variable}: languages = {langs}, enabled = {settings.get('enabled')}",
            f"Dry run of {admin_dag} with languages {conf['languages']}:",
            f"  would archive {report.get('archived')} courses, e.g. {report.get('archived_titles')}",
            f"  would unarchive {report.get('unarchived')} courses; {report.get('active_after')} would stay active",
            f"To apply a filter now (no provider call): Airflow UI > DAG {admin_dag} > Trigger, pick the",
            "languages (none picked = keep the Variable's; 'All languages' = no filter), untick Dry run.",
            "Or from a shell (the run happens in that shell; under `make airflow`, with the DAG paused):",
            f'  eval "$(make -s env)"; airflow dags test {admin_dag} -c \'{{"languages": ["fr", "en"], "dry_run": false}}\'',
            'Deactivate: the same with {"enabled": false, "dry_run": false} (every course archived, statistics kept);',
            'reactivate with {"enabled": true, "dry_run": false}. An edited Variable takes effect at the next daily run.',
        ]
    )


def analyst_help() -> str:
    return "\n".join(
        [
            "== Analysts: the stats schema, read-only ==",
            'eval "$(make -s analyst-login)"   # LMS_ANALYST_DSN for login lms_reader (lms_analyst), psql on the PATH',
            'psql "$LMS_ANALYST_DSN" -c "SELECT * FROM stats.mv_daily_summary ORDER BY activity_date DESC LIMIT 6"',
            "Tables, views and example queries: docs/ANALYSTS.md",
        ]
    )


def across_connectors(conn: psycopg.Connection) -> str:
    """What learners' figures add up to over every connector (stats.v_learner_totals)."""
    learners, both, started, minutes = conn.execute(
        """SELECT count(*), count(*) FILTER (WHERE connectors > 1), coalesce(sum(courses_started), 0),
                  coalesce(round(sum(time_spent_minutes) / 60), 0)
           FROM stats.v_learner_totals"""
    ).fetchone()
    top = conn.execute(
        """SELECT user_id, connectors, courses_started, courses_completed, round(time_spent_minutes / 60, 1)
           FROM stats.v_learner_totals WHERE connectors > 1
           ORDER BY time_spent_minutes DESC, user_id LIMIT 5"""
    ).fetchall()
    return "\n".join(
        [
            f"== Across connectors (stats.v_learner_totals): {learners} learners, {both} on more than one, "
            f"{started} courses started, {minutes:.0f} h ==",
            _table(("user", "connectors", "started", "completed", "hours"), top),
        ]
    )
