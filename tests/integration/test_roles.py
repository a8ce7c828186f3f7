"""Least privilege: each role created by the migrations tries what it must not do."""

from __future__ import annotations

import psycopg
import pytest

pytestmark = pytest.mark.integration

FORBIDDEN = {
    "lms_sync": [
        "INSERT INTO lms.course_tags (lms_course_id, tag) VALUES (1, 'x')",
        "DELETE FROM lms.course_tags",
        "INSERT INTO lms.paths VALUES ('p', 'grp-openclassrooms', 'n')",
        "DROP TABLE lms.courses",
        "CREATE TABLE lms.sneaky (x int)",
    ],
    "lms_app": [
        "UPDATE lms.courses SET title = 'x'",
        "UPDATE lms.courses SET description = 'x'",
        "UPDATE lms.courses SET archive_reasons = '{}'",
        "INSERT INTO lms.courses (connector_id, provider_course_id, group_id, author_email, title, language, provider_status, duration_minutes, launch_url, last_synced_at) VALUES ('c', 'p', 'grp-openclassrooms', 'a@b.c', 't', 'fr', 'active', 1, 'u', now())",
        "DELETE FROM lms.courses",
        "SELECT * FROM ops.sync_runs",
        "SELECT * FROM staging.raw_activity",
        "SELECT * FROM stats.course_progress",
    ],
    "lms_analyst": [
        "SELECT * FROM lms.users",
        "SELECT * FROM lms.courses",
        "SELECT * FROM ops.rejected_records",
        "SELECT * FROM ops.hash_keys",
        "SELECT * FROM staging.progress",
        "SELECT * FROM staging.run_day_records('r')",
        "DELETE FROM stats.course_progress",
        "UPDATE stats.course_progress_daily SET progress_pct = 0",
    ],
}
ALLOWED = {
    "lms_sync": [
        "SELECT count(*) FROM lms.course_tags",
        "SELECT count(*) FROM lms.users",
        "DELETE FROM staging.raw_courses WHERE run_id = 'none'",
        "UPDATE lms.courses SET title = title WHERE false",
        "DELETE FROM stats.course_progress WHERE false",
        # The progress merge reads the run's records through this function.
        "SELECT count(*) FROM staging.run_day_records('none')",
        "INSERT INTO ops.rejected_records (run_id, connector_id, entity, reason, record) VALUES ('r', 'c', 'e', 'x', '{}')",
    ],
    "lms_app": [
        "SELECT count(*) FROM lms.courses",
        "UPDATE lms.courses SET author_email = author_email WHERE false",
        "DELETE FROM lms.course_tags WHERE false",
        "SELECT * FROM lms.search_courses('python')",
    ],
    "lms_analyst": [
        "SELECT count(*) FROM stats.course_progress",
        "SELECT count(*) FROM stats.v_course_engagement",
        "SELECT count(*) FROM stats.v_daily_activity",
        "SELECT count(*) FROM stats.v_learner_summary",
        "SELECT count(*) FROM stats.v_path_progress",
    ],
}


@pytest.mark.parametrize(("role", "statement"), [(r, s) for r, ss in FORBIDDEN.items() for s in ss])
def test_role_cannot(module_warehouse, role, statement):
    with module_warehouse.connect() as conn:
        conn.execute(f"SET ROLE {role}")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)


@pytest.mark.parametrize(("role", "statement"), [(r, s) for r, ss in ALLOWED.items() for s in ss])
def test_role_can(module_warehouse, role, statement):
    with module_warehouse.connect() as conn:
        conn.execute(f"SET ROLE {role}")
        conn.execute(statement)
        conn.rollback()  # the module shares one database
