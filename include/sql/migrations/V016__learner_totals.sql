-- A learner's statistics across every connector: LMS users are matched by
-- email whatever the provider, so one user_id carries each provider's rows
-- and they add up here.
CREATE VIEW stats.v_learner_totals AS
SELECT p.user_id,
       count(DISTINCT p.connector_id) AS connectors,
       count(*) AS courses_started,
       count(*) FILTER (WHERE p.completed_at IS NOT NULL OR p.progress_pct = 100) AS courses_completed,
       sum(p.time_spent_minutes) AS time_spent_minutes,
       max(p.provider_updated_at) AS last_activity_at
FROM stats.course_progress p
GROUP BY p.user_id;
GRANT SELECT ON stats.v_learner_totals TO lms_analyst;
