-- The LMS's user merges applied to one connector's statistics, in one transaction, by
-- lms_connectors.pipeline.merges.apply_merges. Parameter: connector_id.

-- name: survivors
-- Each retired id and the id it ends in (a chain followed, at most 16 steps); a
-- merge whose end is itself retired (a cycle, or a longer chain), or is no LMS
-- user, is not applied.
WITH RECURSIVE chain (retired, into_id, steps) AS (
    SELECT retired_user_id, into_user_id, 1 FROM lms.user_merges
    UNION ALL
    SELECT c.retired, m.into_user_id, c.steps + 1
    FROM chain c JOIN lms.user_merges m ON m.retired_user_id = c.into_id
    WHERE c.steps < 16
)
SELECT retired, into_id FROM (
    SELECT DISTINCT ON (retired) retired, into_id FROM chain ORDER BY retired, steps DESC
) s
WHERE into_id NOT IN (SELECT retired_user_id FROM lms.user_merges)
  AND into_id IN (SELECT user_id FROM lms.users)

-- name: keys
-- The survivors' keys that receive rows (the measured time is summed again over them).
CREATE TEMP TABLE progress_keys ON COMMIT DROP AS
SELECT DISTINCT d.lms_course_id, m.into_id AS user_id
FROM stats.course_progress_daily d JOIN user_merge_map m ON m.retired = d.user_id
WHERE d.connector_id = %(connector_id)s;

-- name: daily_older_retired
-- A day and course both accounts hold: the newer record wins, as two records of one learner's day
-- do (provider_updated_at, then progress); the survivor's on a tie.
DELETE FROM stats.course_progress_daily r
USING user_merge_map m, stats.course_progress_daily s
WHERE r.connector_id = %(connector_id)s AND r.user_id = m.retired
  AND s.user_id = m.into_id AND s.activity_date = r.activity_date AND s.lms_course_id = r.lms_course_id
  AND (s.provider_updated_at, s.progress_pct) >= (r.provider_updated_at, r.progress_pct);

-- name: daily_older_survivor
DELETE FROM stats.course_progress_daily s
USING user_merge_map m, stats.course_progress_daily r
WHERE s.connector_id = %(connector_id)s AND s.user_id = m.into_id
  AND r.user_id = m.retired AND r.activity_date = s.activity_date AND r.lms_course_id = s.lms_course_id;

-- name: daily_move
UPDATE stats.course_progress_daily d SET user_id = m.into_id
FROM user_merge_map m
WHERE d.connector_id = %(connector_id)s AND d.user_id = m.retired;

-- name: current_older_retired
DELETE FROM stats.course_progress r
USING user_merge_map m, stats.course_progress s
WHERE r.connector_id = %(connector_id)s AND r.user_id = m.retired
  AND s.user_id = m.into_id AND s.lms_course_id = r.lms_course_id
  AND (s.provider_updated_at, s.progress_pct) >= (r.provider_updated_at, r.progress_pct);

-- name: current_older_survivor
DELETE FROM stats.course_progress s
USING user_merge_map m, stats.course_progress r
WHERE s.connector_id = %(connector_id)s AND s.user_id = m.into_id
  AND r.user_id = m.retired AND r.lms_course_id = s.lms_course_id;

-- name: current_move
UPDATE stats.course_progress p SET user_id = m.into_id
FROM user_merge_map m
WHERE p.connector_id = %(connector_id)s AND p.user_id = m.retired;
