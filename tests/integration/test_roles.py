"""Least privilege: each role and each runtime login tries what it must not do."""

from __future__ import annotations

import psycopg
import pytest

from devstack.postgres import HEALTH_LOGIN, OWNER, SYNC_LOGIN, XAPI_LOGIN

pytestmark = pytest.mark.integration

FORBIDDEN = {
    "lms_sync": [
        "INSERT INTO lms.course_tags (lms_course_id, tag) VALUES (1, 'x')",
        "DELETE FROM lms.course_tags",
        "SELECT count(*) FROM lms.course_tags",
        "INSERT INTO lms.paths VALUES ('p', 'grp-openclassrooms', 'n')",
        "INSERT INTO lms.users (user_id, email) VALUES ('u-x', 'x@example.com')",
        "UPDATE lms.users SET email = email",
        "INSERT INTO lms.user_emails (user_id, email) VALUES ('u-x', 'x@example.com')",
        "UPDATE lms.user_emails SET email = email",
        "DELETE FROM lms.user_emails",
        "INSERT INTO lms.user_identities (user_id, kind, value) VALUES ('u-x', 'sso_subject', 'x')",
        "UPDATE lms.user_identities SET value = value",
        "DELETE FROM lms.user_identities",
        "INSERT INTO lms.user_merges (retired_user_id, into_user_id) VALUES ('u-x', 'u-y')",
        "DELETE FROM lms.user_merges",
        "DELETE FROM lms.group_members",
        "UPDATE lms.groups SET name = name",
        "DELETE FROM lms.courses",
        "INSERT INTO ops.schema_migrations (version, name, checksum) VALUES (999, 'x', 'x')",
        "DELETE FROM ops.schema_migrations",
        "DROP TABLE lms.courses",
        "REFRESH MATERIALIZED VIEW stats.mv_daily_summary",
        "ALTER TABLE stats.course_progress ADD COLUMN x int",
        "CREATE TABLE lms.sneaky (x int)",
        "CREATE TABLE staging.sneaky (x int)",
        "CREATE TABLE public.sneaky (x int)",
        "CREATE SCHEMA sneaky",
        "CREATE ROLE sneaky",
        "SELECT * FROM stats.v_learner_summary",
        # Of lms.users the sync reads what matches learners, never their names.
        "SELECT name FROM lms.users",
        "SELECT * FROM lms.users",
        # Of lms.courses it updates what it syncs, never the keys.
        "UPDATE lms.courses SET provider_course_id = provider_course_id",
        "UPDATE lms.courses SET connector_id = connector_id",
        # The audit log and the suppression list are append-only for it.
        "UPDATE ops.audit_log SET actor = actor",
        "DELETE FROM ops.audit_log",
        "DELETE FROM ops.suppressed_learners",
        "UPDATE ops.suppressed_learners SET reason = reason",
    ],
    "lms_app": [
        "UPDATE lms.courses SET title = 'x'",
        "UPDATE lms.courses SET description = 'x'",
        "UPDATE lms.courses SET archive_reasons = '{}'",
        "INSERT INTO lms.courses (connector_id, provider_course_id, group_id, author_email, title, language, provider_status, duration_minutes, launch_url, last_synced_at) VALUES ('c', 'p', 'grp-openclassrooms', 'a@b.c', 't', 'fr', 'active', 1, 'u', now())",
        "DELETE FROM lms.courses",
        "SELECT * FROM ops.sync_runs",
        "SELECT * FROM staging.raw_activity",
        "SELECT * FROM staging.progress_checked",
        "SELECT * FROM stats.course_progress",
    ],
    "lms_analyst": [
        "SELECT * FROM lms.users",
        "SELECT * FROM lms.user_emails",
        "SELECT * FROM lms.courses",
        "SELECT * FROM ops.rejected_records",
        "SELECT * FROM staging.progress",
        "SELECT * FROM staging.progress_checked",
        "SELECT * FROM staging.run_day_records('r')",
        "SELECT stats.analyze_progress()",
        "SELECT stats.refresh_daily_summary()",
        "DELETE FROM stats.course_progress",
        "UPDATE stats.course_progress_daily SET progress_pct = 0",
        "SELECT * FROM ops.audit_log",
        "SELECT * FROM ops.suppressed_learners",
        "SELECT lms.attach_email('u-x', 'x@example.com')",
        "SELECT * FROM lms.user_identities",
        "SELECT lms.attach_identity('u-x', 'sso_subject', '', 'x')",
    ],
    # The xAPI endpoint adds statements and reads credentials and key versions: nothing else.
    "lms_xapi_writer": [
        "SELECT count(*) FROM lms.users",
        "SELECT count(*) FROM lms.user_identities",
        "SELECT count(*) FROM stats.course_progress",
        "SELECT count(*) FROM ops.suppressed_learners",
        "SELECT count(*) FROM ops.unmatched_learners",
        "SELECT count(*) FROM xapi.rejected_statements",
        "UPDATE xapi.statements SET verb = verb",
        "DELETE FROM xapi.statements",
        "INSERT INTO xapi.credentials (username, connector_id, secret_sha256) VALUES ('u', 'c', 'x')",
        "UPDATE xapi.credentials SET revoked_at = NULL",
        "DELETE FROM xapi.credentials",
        "INSERT INTO ops.pseudonym_keys VALUES ('c', 2, now(), 'r')",
        "CREATE TABLE xapi.sneaky (x int)",
    ],
    "lms_monitor": [
        "SELECT * FROM lms.users",
        "SELECT * FROM lms.user_emails",
        "SELECT * FROM lms.user_identities",
        "SELECT * FROM staging.raw_activity",
        "SELECT * FROM staging.progress_checked",
        "SELECT * FROM stats.course_progress",
        "UPDATE ops.sync_runs SET status = status",
        "DELETE FROM ops.rejected_records",
        "INSERT INTO ops.unmatched_learners VALUES ('c', 'h', 'r', current_date)",
        "UPDATE lms.courses SET title = title",
        "SELECT stats.analyze_progress()",
        "SELECT stats.refresh_daily_summary()",
        # The health page shows aggregates: no learner's row, payload or hash is its to read.
        "SELECT * FROM xapi.statements",
        "SELECT * FROM xapi.rejected_statements",
        "SELECT * FROM stats.course_progress_daily",
        "SELECT * FROM ops.rejected_records",
        "SELECT * FROM ops.unmatched_learners",
        "SELECT * FROM ops.suppressed_learners",
        "SELECT * FROM ops.pseudonym_keys",
        "SELECT lms.attach_email('u-x', 'x@example.com')",
        "SELECT lms.attach_identity('u-x', 'sso_subject', '', 'x')",
    ],
}
ALLOWED = {
    "lms_sync": [
        "SELECT count(*) FROM lms.users",
        "SELECT count(*) FROM lms.group_members",
        "SELECT count(*) FROM ops.schema_migrations",
        "DELETE FROM staging.raw_courses WHERE run_id = 'none'",
        "UPDATE lms.courses SET title = title WHERE false",
        "DELETE FROM stats.course_progress WHERE false",
        # The progress merge reads the run's records through this function and refreshes statistics through that one.
        "SELECT count(*) FROM staging.run_day_records('none')",
        "SELECT stats.analyze_progress()",
        "SELECT stats.refresh_daily_summary()",
        # Validation reads the run's rows to check through this view (its session sets the run).
        "SELECT count(*) FROM staging.progress_checked",
        "INSERT INTO ops.rejected_records (run_id, connector_id, entity, reason, record) VALUES ('r', 'c', 'e', 'x', '{}')",
        "CREATE TEMP TABLE scratch (x int)",
        "SELECT user_id, email FROM lms.users",
        "SELECT user_id, email, kind FROM lms.user_emails",
        "SELECT user_id, kind, issuer, value FROM lms.user_identities",
        "SELECT retired_user_id, into_user_id FROM lms.user_merges",
        "INSERT INTO ops.audit_log (actor, action) VALUES ('a', 'b')",
        "DELETE FROM ops.unmatched_learners WHERE false",
        "UPDATE ops.rejected_records SET record = record WHERE false",
    ],
    "lms_app": [
        "SELECT count(*) FROM lms.courses",
        "UPDATE lms.courses SET author_email = author_email WHERE false",
        "DELETE FROM lms.course_tags WHERE false",
        "SELECT * FROM lms.search_courses('python')",
        "DELETE FROM lms.user_emails WHERE false",
        "DELETE FROM lms.user_identities WHERE false",
        "DELETE FROM lms.user_merges WHERE false",
    ],
    "lms_analyst": [
        "SELECT count(*) FROM stats.course_progress",
        "SELECT count(*) FROM stats.v_course_engagement",
        "SELECT count(*) FROM stats.v_daily_activity",
        "SELECT count(*) FROM stats.mv_daily_summary",
        "SELECT count(*) FROM stats.v_learner_summary",
        "SELECT count(*) FROM stats.v_path_progress",
    ],
    "lms_xapi_writer": [
        "SELECT count(*) FROM xapi.credentials",
        "SELECT max(version) FROM ops.pseudonym_keys",
        "SELECT count(*) FROM xapi.statements",
        "INSERT INTO xapi.rejected_statements (connector_id, reason, detail) VALUES ('c', 'r', 'd')",
    ],
    "lms_monitor": [
        "SELECT count(*) FROM ops.sync_runs",
        "SELECT count(*) FROM lms.courses",
        "SELECT count(*) FROM ops.audit_log",
        "SELECT count(*) FROM ops.v_health_daily",
        "SELECT count(*) FROM ops.v_health_rejects",
        "SELECT count(*) FROM ops.v_health_unmatched",
        "SELECT count(*) FROM ops.v_health_xapi",
        "SELECT count(*) FROM ops.v_health_xapi_refused",
    ],
}
# The runtime logins are members of exactly these roles.
LOGIN_OF = {"lms_sync": SYNC_LOGIN, "lms_monitor": HEALTH_LOGIN, "lms_xapi_writer": XAPI_LOGIN}


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


@pytest.mark.parametrize(
    ("role", "statement"),
    [(r, s) for r, ss in FORBIDDEN.items() if r in LOGIN_OF for s in ss],
)
def test_runtime_login_cannot(module_warehouse, role, statement):
    """The logins the DAG and the health page really use, with their passwords."""
    with module_warehouse.connect(LOGIN_OF[role]) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(statement)


def test_runtime_logins_are_plain_members_of_their_role(module_warehouse):
    rows = module_warehouse.rows(
        """SELECT r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls,
                  -- Roles whose rights it holds (PostgreSQL 16 gives a CREATEROLE owner ADMIN OPTION on
                  -- the roles it creates, to administer them, without INHERIT or SET).
                  array(SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                        WHERE m.member = r.oid AND (m.inherit_option OR m.set_option) ORDER BY 1)
           FROM pg_roles r WHERE r.rolname IN (%s, %s, %s, %s) ORDER BY 1""",
        (SYNC_LOGIN, HEALTH_LOGIN, XAPI_LOGIN, OWNER),
    )
    assert rows == [
        (SYNC_LOGIN, False, False, False, False, ["lms_sync"]),
        (HEALTH_LOGIN, False, False, False, False, ["lms_monitor"]),
        (OWNER, False, True, False, False, []),
        (XAPI_LOGIN, False, False, False, False, ["lms_xapi_writer"]),
    ]


def test_every_login_needs_its_password(module_warehouse):
    cluster = module_warehouse.cluster
    for login in (SYNC_LOGIN, HEALTH_LOGIN, XAPI_LOGIN, OWNER, "postgres"):
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(host=cluster.socket_dir, dbname=module_warehouse.dbname, user=login, password="wrong")


def test_no_table_of_the_warehouse_holds_a_key(module_warehouse):
    assert module_warehouse.scalar("SELECT to_regclass('ops.hash_keys')") is None
    columns = module_warehouse.rows(
        """SELECT table_schema || '.' || table_name || '.' || column_name FROM information_schema.columns
           WHERE table_schema IN ('lms', 'stats', 'ops', 'staging', 'xapi') AND column_name ILIKE '%%key%%'"""
    )
    assert columns == []


def test_analysts_can_read_no_email_column(module_warehouse):
    """Analysts see learners by user_id: no column an analyst may select, in any table or view, holds emails."""
    readable = module_warehouse.rows(
        """SELECT n.nspname || '.' || c.relname || '.' || a.attname
           FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
           WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
             AND has_schema_privilege('lms_analyst', n.oid, 'USAGE')
             AND has_column_privilege('lms_analyst', c.oid, a.attnum, 'SELECT')"""
    )
    # The check sees what analysts read (a vacuous pass would hide a broken query).
    assert "stats.v_learner_summary.user_id" in {r[0] for r in readable}
    assert [r[0] for r in readable if "email" in r[0].rsplit(".", 1)[1].lower()] == []


def test_no_default_privilege_hands_analysts_future_tables(module_warehouse):
    """Analysts read what is granted to them by name: a table added later is not theirs."""
    assert (
        module_warehouse.rows("SELECT defaclacl::text FROM pg_default_acl WHERE defaclacl::text LIKE '%lms_analyst%'")
        == []
    )
    with module_warehouse.connect(OWNER) as conn:
        conn.execute("CREATE TABLE stats.added_later (user_id text)")
    try:
        with module_warehouse.connect() as conn:
            conn.execute("SET ROLE lms_analyst")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT * FROM stats.added_later")
    finally:
        with module_warehouse.connect(OWNER) as conn:
            conn.execute("DROP TABLE stats.added_later")


def test_the_deploy_step_revokes_what_it_did_not_grant_a_runtime_login(make_warehouse, pg_server):
    from devstack import postgres

    wh = make_warehouse()
    with wh.connect(OWNER) as conn:
        conn.execute(f"GRANT lms_analyst TO {SYNC_LOGIN}")
        conn.execute(f"GRANT SELECT ON lms.users TO {SYNC_LOGIN}")
        conn.execute(f"GRANT INSERT ON ops.schema_migrations TO {HEALTH_LOGIN}")
    postgres.deploy(pg_server, wh.dbname)
    memberships = wh.rows(
        """SELECT r.rolname, m.rolname FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid
           JOIN pg_roles m ON m.oid = a.member WHERE m.rolname IN (%s, %s) ORDER BY 2""",
        (SYNC_LOGIN, HEALTH_LOGIN),
    )
    assert sorted(memberships) == [("lms_monitor", HEALTH_LOGIN), ("lms_sync", SYNC_LOGIN)]
    direct = wh.rows(
        "SELECT grantee, table_name FROM information_schema.role_table_grants WHERE grantee IN (%s, %s)",
        (SYNC_LOGIN, HEALTH_LOGIN),
    )
    assert direct == []


def test_the_deploy_step_stops_on_a_membership_it_cannot_revoke(make_warehouse, pg_server):
    from devstack import postgres

    wh = make_warehouse()
    with wh.connect() as conn:  # the superuser: the owner cannot revoke what it granted
        conn.execute(f"GRANT lms_app TO {SYNC_LOGIN}")
    try:
        with pytest.raises(PermissionError, match=f"REVOKE lms_app FROM {SYNC_LOGIN}"):
            postgres.deploy(pg_server, wh.dbname)
    finally:
        with wh.connect() as conn:
            conn.execute(f"REVOKE lms_app FROM {SYNC_LOGIN}")


def test_the_warehouse_database_admits_no_one_through_public(make_warehouse, pg_server):
    from devstack import postgres

    wh = make_warehouse()
    postgres.deploy(pg_server, wh.dbname)  # a clone does not inherit its template's database privileges
    acl = wh.scalar("SELECT datacl::text FROM pg_database WHERE datname = current_database()")
    entries = acl.strip("{}").split(",")
    assert not [e for e in entries if e.startswith("=")], acl  # "=Tc/...": PUBLIC's CONNECT and TEMP
    assert any(e.startswith("lms_sync=Tc/") for e in entries), acl
    assert any(e.startswith("lms_analyst=c/") for e in entries), acl
    # The runtime logins still work: the sync creates a temporary table, the health login reads.
    with wh.connect(SYNC_LOGIN) as conn:
        conn.execute("CREATE TEMP TABLE scratch (x int)")
    with wh.connect(HEALTH_LOGIN) as conn:
        conn.execute("SELECT count(*) FROM ops.sync_runs")
