-- Database roles (cluster-wide, so created only when missing):
--   lms_sync     the connector: writes the catalogue, stats, ops, staging
--   lms_app      the LMS application: reads the catalogue, manages tags,
--                cannot change provider-owned columns
--   lms_analyst  dashboards: reads stats and analyst views only
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lms_sync') THEN
        CREATE ROLE lms_sync NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lms_app') THEN
        CREATE ROLE lms_app NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lms_analyst') THEN
        CREATE ROLE lms_analyst NOLOGIN;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA staging, lms, stats, ops TO lms_sync;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA staging, lms, stats, ops TO lms_sync;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA lms, ops TO lms_sync;
-- The sync never writes tags: they belong to the LMS.
REVOKE INSERT, UPDATE, DELETE ON lms.course_tags FROM lms_sync;

GRANT USAGE ON SCHEMA lms TO lms_app;
GRANT SELECT ON lms.courses, lms.group_catalogue, lms.users, lms.groups, lms.group_members TO lms_app;
-- Column privileges: only LMS-side columns are writable; title, description
-- and every other provider-owned column are not.
GRANT UPDATE (author_email) ON lms.courses TO lms_app;
GRANT SELECT, INSERT, DELETE ON lms.course_tags TO lms_app;
GRANT UPDATE (in_catalogue, in_library) ON lms.group_catalogue TO lms_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA staging, lms, stats, ops
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO lms_sync;
ALTER DEFAULT PRIVILEGES IN SCHEMA lms, ops GRANT USAGE ON SEQUENCES TO lms_sync;
