-- The health page shows aggregates: its login reads these views, and no
-- longer any table that holds a learner's row (their daily progress,
-- rejected payloads with hashes, unmatched learners' hashes, the suppression
-- list). A view runs with its owner's rights: lms_monitor needs no grant on
-- the tables beneath. Filters on the grouping columns reach the tables.
CREATE VIEW ops.v_health_daily AS
SELECT connector_id, activity_date,
       count(DISTINCT user_id) AS active_learners,
       count(*) FILTER (WHERE completed_at >= activity_date AND completed_at < activity_date + 1) AS completions
FROM stats.course_progress_daily
GROUP BY connector_id, activity_date;

CREATE VIEW ops.v_health_rejects AS
SELECT connector_id, entity, reason, run_id, rejected_at::date AS rejected_on, count(*) AS records
FROM ops.rejected_records
GROUP BY connector_id, entity, reason, run_id, rejected_at::date;

CREATE VIEW ops.v_health_unmatched AS
SELECT connector_id, last_seen_date, count(*) AS learners
FROM ops.unmatched_learners
GROUP BY connector_id, last_seen_date;

REVOKE SELECT ON stats.course_progress_daily, ops.rejected_records, ops.unmatched_learners,
    ops.suppressed_learners, ops.pseudonym_keys FROM lms_monitor;
GRANT SELECT ON ops.v_health_daily, ops.v_health_rejects, ops.v_health_unmatched TO lms_monitor;
