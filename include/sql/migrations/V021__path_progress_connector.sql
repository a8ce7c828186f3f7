-- Paths may mix providers' courses: each step row names the connector of its
-- course, so two providers' courses with one title are told apart.
CREATE OR REPLACE VIEW stats.v_path_progress AS
SELECT s.path_id, pa.name AS path_name, s.step_no, s.lms_course_id, c.title AS course_title,
       p.user_id, p.progress_pct,
       p.progress_pct > 0 AS may_continue,
       p.completed_at IS NOT NULL OR p.progress_pct = 100 AS step_completed,
       c.connector_id
FROM lms.path_steps s
JOIN lms.paths pa USING (path_id)
JOIN lms.courses c USING (lms_course_id)
JOIN stats.course_progress p USING (lms_course_id);
