-- The course row rules (their digest: rules, image hosts, great-expectations'
-- version) that a connector's loaded courses were last checked with, written
-- by the load that applied them. While it is unchanged, a run checks only the
-- courses that differ from what lms.courses holds: an unchanged course passed
-- the same rules when it was loaded.
CREATE TABLE ops.course_rules_checked (
    connector_id  text PRIMARY KEY,
    rules_digest  text NOT NULL,
    run_id        text NOT NULL
);
GRANT SELECT, INSERT, UPDATE ON ops.course_rules_checked TO lms_sync;
