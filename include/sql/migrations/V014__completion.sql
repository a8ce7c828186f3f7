-- A completion is the provider's completed_at, or a progress of exactly 100
-- (the transform then sets completed_at to the record's updated_at, and a
-- progress below 100 never rounds up to 100). The views count completions
-- that way; rows loaded before that rule keep counting when at 100 %.
CREATE OR REPLACE VIEW stats.v_course_engagement AS
SELECT c.connector_id, c.lms_course_id, c.provider_course_id, c.title, c.language, c.is_active,
       c.duration_minutes,
       count(p.user_id) AS learners_started,
       count(p.user_id) FILTER (WHERE p.completed_at IS NOT NULL OR p.progress_pct = 100) AS learners_completed,
       round(avg(p.progress_pct), 2) AS avg_progress_pct,
       coalesce(sum(p.time_spent_minutes), 0) AS total_time_spent_minutes
FROM lms.courses c
LEFT JOIN stats.course_progress p USING (lms_course_id)
GROUP BY c.connector_id, c.lms_course_id;

CREATE OR REPLACE VIEW stats.v_learner_summary AS
SELECT p.user_id, p.connector_id,
       count(*) AS courses_started,
       count(*) FILTER (WHERE p.completed_at IS NOT NULL OR p.progress_pct = 100) AS courses_completed,
       round(avg(p.progress_pct), 2) AS avg_progress_pct,
       sum(p.time_spent_minutes) AS time_spent_minutes,
       max(p.provider_updated_at) AS last_activity_at
FROM stats.course_progress p
GROUP BY p.user_id, p.connector_id;

CREATE OR REPLACE VIEW stats.v_path_progress AS
SELECT s.path_id, pa.name AS path_name, s.step_no, s.lms_course_id, c.title AS course_title,
       p.user_id, p.progress_pct,
       p.progress_pct > 0 AS may_continue,
       p.completed_at IS NOT NULL OR p.progress_pct = 100 AS step_completed
FROM lms.path_steps s
JOIN lms.paths pa USING (path_id)
JOIN lms.courses c USING (lms_course_id)
JOIN stats.course_progress p USING (lms_course_id);
