-- Statistics are fact tables loaded in bulk: per-row foreign-key triggers
-- cost more than the rows themselves (a million progress rows spent most of
-- their load time in RI checks). The load only writes ids it has just
-- matched against lms.courses and lms.users, so integrity holds by
-- construction; history also outlives a deleted LMS user or course.
ALTER TABLE stats.course_progress DROP CONSTRAINT IF EXISTS course_progress_lms_course_id_fkey;
ALTER TABLE stats.course_progress DROP CONSTRAINT IF EXISTS course_progress_user_id_fkey;
ALTER TABLE stats.course_progress_daily DROP CONSTRAINT IF EXISTS course_progress_daily_lms_course_id_fkey;
ALTER TABLE stats.course_progress_daily DROP CONSTRAINT IF EXISTS course_progress_daily_user_id_fkey;
-- The primary key (activity_date, lms_course_id, user_id) serves the day
-- replacement; a second index only doubled the index writes.
DROP INDEX IF EXISTS stats.course_progress_daily_course;
