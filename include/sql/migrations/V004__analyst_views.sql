-- Views for dashboards and the analyst role, which reads stats and nothing else.
-- Views run with their owner's rights, so analysts need no access to lms.*.

CREATE VIEW stats.v_course_engagement AS
SELECT c.connector_id, c.lms_course_id, c.provider_course_id, c.title, c.language, c.is_active,
       c.duration_minutes,
       count(p.user_id) AS learners_started,
       count(p.user_id) FILTER (WHERE p.progress_pct = 100) AS learners_completed,
       round(avg(p.progress_pct), 2) AS avg_progress_pct,
       coalesce(sum(p.time_spent_minutes), 0) AS total_time_spent_minutes
FROM lms.courses c
LEFT JOIN stats.course_progress p USING (lms_course_id)
GROUP BY c.connector_id, c.lms_course_id;

-- Time spent on a day is the growth of theoretical time since the learner's
-- previous active day on that course.
CREATE VIEW stats.v_daily_activity AS
WITH d AS (
    SELECT activity_date, connector_id, user_id, lms_course_id, completed_at,
           time_spent_minutes - coalesce(lag(time_spent_minutes) OVER (
               PARTITION BY lms_course_id, user_id ORDER BY activity_date), 0) AS time_delta
    FROM stats.course_progress_daily
)
SELECT activity_date, connector_id,
       count(DISTINCT user_id) AS active_learners,
       count(*) FILTER (WHERE completed_at >= activity_date AND completed_at < activity_date + 1) AS completions,
       round(sum(greatest(time_delta, 0)), 2) AS time_spent_minutes
FROM d
GROUP BY activity_date, connector_id;

CREATE VIEW stats.v_learner_summary AS
SELECT p.user_id, u.email, p.connector_id,
       count(*) AS courses_started,
       count(*) FILTER (WHERE p.progress_pct = 100) AS courses_completed,
       round(avg(p.progress_pct), 2) AS avg_progress_pct,
       sum(p.time_spent_minutes) AS time_spent_minutes,
       max(p.provider_updated_at) AS last_activity_at
FROM stats.course_progress p
JOIN lms.users u USING (user_id)
GROUP BY p.user_id, u.email, p.connector_id;

-- Provider courses used as steps of LMS paths: a learner who started the
-- course may continue the path; a step is complete at 100 %.
CREATE VIEW stats.v_path_progress AS
SELECT s.path_id, pa.name AS path_name, s.step_no, s.lms_course_id, c.title AS course_title,
       p.user_id, p.progress_pct,
       p.progress_pct > 0 AS may_continue,
       p.progress_pct = 100 AS step_completed
FROM lms.path_steps s
JOIN lms.paths pa USING (path_id)
JOIN lms.courses c USING (lms_course_id)
JOIN stats.course_progress p USING (lms_course_id);

GRANT USAGE ON SCHEMA stats TO lms_analyst;
GRANT SELECT ON ALL TABLES IN SCHEMA stats TO lms_analyst;
ALTER DEFAULT PRIVILEGES IN SCHEMA stats GRANT SELECT ON TABLES TO lms_analyst;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA staging, stats, ops, lms TO lms_sync;
REVOKE INSERT, UPDATE, DELETE ON lms.course_tags, lms.paths, lms.path_steps FROM lms_sync;
