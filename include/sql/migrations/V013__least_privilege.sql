-- Least privilege. Migrations run as the warehouse owner at deploy time; at
-- run time the connector's tasks log in as a member of lms_sync and the
-- health page as a member of lms_monitor (logins are created by the deploy
-- step, lms_connectors.warehouse.deploy, not here: they carry passwords).

-- lms_sync had every right on every table of its schemas, present and future.
-- From here on it has exactly what the pipeline does, table by table: no DDL,
-- no write on LMS-owned tables, nothing on the migrations but reading them.
REVOKE ALL ON ALL TABLES IN SCHEMA staging, lms, stats, ops FROM lms_sync;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA lms, ops FROM lms_sync;
ALTER DEFAULT PRIVILEGES IN SCHEMA staging, lms, stats, ops REVOKE ALL ON TABLES FROM lms_sync;
ALTER DEFAULT PRIVILEGES IN SCHEMA lms, ops REVOKE ALL ON SEQUENCES FROM lms_sync;

GRANT SELECT, INSERT, UPDATE, DELETE
    ON staging.raw_courses, staging.courses, staging.raw_activity, staging.progress TO lms_sync;
-- The catalogue: created and updated, never deleted (archived instead).
GRANT SELECT, INSERT, UPDATE ON lms.courses TO lms_sync;
GRANT SELECT, INSERT ON lms.group_catalogue TO lms_sync;
-- LMS-owned: read to match learners and check the settings, never written.
GRANT SELECT ON lms.users, lms.groups, lms.group_members TO lms_sync;
GRANT SELECT, INSERT, UPDATE, DELETE ON stats.course_progress, stats.course_progress_daily TO lms_sync;
GRANT SELECT, INSERT, UPDATE ON ops.sync_runs, ops.unmatched_learners TO lms_sync;
GRANT SELECT, INSERT, DELETE ON ops.rejected_records TO lms_sync;
-- The config task checks that the schema is current; it never migrates.
GRANT SELECT ON ops.schema_migrations TO lms_sync;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA lms, ops TO lms_sync;

-- Functions are executable by PUBLIC by default: keep this one to the sync.
REVOKE EXECUTE ON FUNCTION staging.run_day_records(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION staging.run_day_records(text) TO lms_sync;

-- Before PostgreSQL 17 only a table's owner may ANALYZE it. After a bulk load
-- the merge refreshes the planner's statistics of the two stats tables
-- through this function, which runs as the owner and does nothing else.
CREATE FUNCTION stats.analyze_progress() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    ANALYZE stats.course_progress;
    ANALYZE stats.course_progress_daily;
END
$$;
REVOKE EXECUTE ON FUNCTION stats.analyze_progress() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION stats.analyze_progress() TO lms_sync;

-- The pseudonymisation key moves to an Airflow Connection (secrets backends
-- apply to it): a key stored beside the hashes it protects is readable by
-- whoever reads them.
DROP TABLE ops.hash_keys;

-- Analysts see learners by their LMS user id, never by email.
DROP VIEW stats.v_learner_summary;
CREATE VIEW stats.v_learner_summary AS
SELECT p.user_id, p.connector_id,
       count(*) AS courses_started,
       count(*) FILTER (WHERE p.progress_pct = 100) AS courses_completed,
       round(avg(p.progress_pct), 2) AS avg_progress_pct,
       sum(p.time_spent_minutes) AS time_spent_minutes,
       max(p.provider_updated_at) AS last_activity_at
FROM stats.course_progress p
GROUP BY p.user_id, p.connector_id;
GRANT SELECT ON stats.v_learner_summary TO lms_analyst;

-- The connector health page (Airflow UI): read-only, the figures it shows.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lms_monitor') THEN
        CREATE ROLE lms_monitor NOLOGIN;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA ops, lms, stats TO lms_monitor;
GRANT SELECT ON ops.sync_runs, ops.rejected_records, ops.unmatched_learners, lms.courses,
    stats.course_progress_daily TO lms_monitor;
