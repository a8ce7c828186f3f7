-- Learning-statistics merge, run in one transaction by lms_connectors.progress.load_progress.
-- Parameters: run_id, connector_id, day_from, day_to (the interval's days, [from, to)).

-- name: batch
-- One row per day, course and learner: the newest record of that day.
CREATE TEMP TABLE progress_batch ON COMMIT DROP AS
SELECT DISTINCT ON (activity_date, lms_course_id, user_id) *
FROM (
    SELECT (provider_updated_at AT TIME ZONE 'UTC')::date AS activity_date, lms_course_id, user_id,
           progress_pct, time_spent_minutes, started_at, completed_at, provider_updated_at
    FROM staging.progress
    WHERE run_id = %(run_id)s AND outcome = 'ok'
) s
ORDER BY activity_date, lms_course_id, user_id, provider_updated_at DESC, progress_pct DESC;

-- name: analyze_batch
-- A temp table has no statistics: without them the planner picks nested
-- loops that take minutes at a million rows.
ANALYZE progress_batch;

-- name: bulk_plans
-- For a large batch, no nested loop: a target that looks empty to the planner
-- (just truncated, or a first load) would be scanned once per batch row, and
-- the INSERT makes that scan grow as it goes (minutes at a million rows).
-- Hash and merge anti-joins read each target once.
SET LOCAL enable_nestloop = off;

-- name: bulk_memory
-- Sorts and hashes of a million rows in memory rather than in temp files
-- (the default work_mem is 4 MB); for this transaction only.
SET LOCAL work_mem = '256MB';

-- name: current_is_empty
-- A first load has nothing to compare with: plain inserts, in key order.
SELECT NOT EXISTS (SELECT 1 FROM stats.course_progress WHERE connector_id = %(connector_id)s) AS empty;

-- name: daily_is_empty
-- The interval's days have no row yet (every daily run on time, and a
-- first load): plain inserts. lms_course_id belongs to one connector, so
-- another connector's rows cannot collide.
SELECT NOT EXISTS (
    SELECT 1 FROM stats.course_progress_daily
    WHERE activity_date >= %(day_from)s AND activity_date < %(day_to)s AND connector_id = %(connector_id)s
) AS empty;

-- name: insert_current
INSERT INTO stats.course_progress
    (lms_course_id, user_id, connector_id, progress_pct, time_spent_minutes, started_at, completed_at,
     provider_updated_at, last_run_id)
SELECT DISTINCT ON (b.lms_course_id, b.user_id)
       b.lms_course_id, b.user_id, %(connector_id)s, b.progress_pct, b.time_spent_minutes, b.started_at,
       b.completed_at, b.provider_updated_at, %(run_id)s
FROM progress_batch b
ORDER BY b.lms_course_id, b.user_id, b.provider_updated_at DESC, b.progress_pct DESC;

-- name: insert_daily
INSERT INTO stats.course_progress_daily
    (activity_date, lms_course_id, user_id, connector_id, progress_pct, time_spent_minutes, started_at,
     completed_at, provider_updated_at)
SELECT b.activity_date, b.lms_course_id, b.user_id, %(connector_id)s, b.progress_pct, b.time_spent_minutes,
       b.started_at, b.completed_at, b.provider_updated_at
FROM progress_batch b
ORDER BY b.activity_date, b.lms_course_id, b.user_id;

-- name: upsert_current
-- A record replaces the stored one only if it is newer, so replaying an old
-- day never moves progress backwards; rows that would not change are skipped
-- before the write (no lock, no WAL).
INSERT INTO stats.course_progress AS p
    (lms_course_id, user_id, connector_id, progress_pct, time_spent_minutes, started_at, completed_at,
     provider_updated_at, last_run_id)
SELECT DISTINCT ON (b.lms_course_id, b.user_id)
       b.lms_course_id, b.user_id, %(connector_id)s, b.progress_pct, b.time_spent_minutes, b.started_at,
       b.completed_at, b.provider_updated_at, %(run_id)s
FROM progress_batch b
WHERE NOT EXISTS (
    SELECT 1 FROM stats.course_progress o
    WHERE o.lms_course_id = b.lms_course_id AND o.user_id = b.user_id
      AND (o.provider_updated_at, o.progress_pct) >= (b.provider_updated_at, b.progress_pct))
ORDER BY b.lms_course_id, b.user_id, b.provider_updated_at DESC, b.progress_pct DESC
ON CONFLICT (lms_course_id, user_id) DO UPDATE
SET progress_pct = EXCLUDED.progress_pct, time_spent_minutes = EXCLUDED.time_spent_minutes,
    started_at = EXCLUDED.started_at, completed_at = EXCLUDED.completed_at,
    provider_updated_at = EXCLUDED.provider_updated_at, last_run_id = EXCLUDED.last_run_id
WHERE (p.provider_updated_at, p.progress_pct) < (EXCLUDED.provider_updated_at, EXCLUDED.progress_pct);

-- name: daily_delete_stale
-- Replaying a day replaces exactly that day's rows: rows of the interval's
-- days that the provider no longer reports go.
DELETE FROM stats.course_progress_daily d
WHERE d.connector_id = %(connector_id)s
  AND d.activity_date >= %(day_from)s AND d.activity_date < %(day_to)s
  AND NOT EXISTS (SELECT 1 FROM progress_batch b
                  WHERE b.activity_date = d.activity_date AND b.lms_course_id = d.lms_course_id
                    AND b.user_id = d.user_id);

-- name: daily_upsert
INSERT INTO stats.course_progress_daily AS d
    (activity_date, lms_course_id, user_id, connector_id, progress_pct, time_spent_minutes, started_at,
     completed_at, provider_updated_at)
SELECT b.activity_date, b.lms_course_id, b.user_id, %(connector_id)s, b.progress_pct, b.time_spent_minutes,
       b.started_at, b.completed_at, b.provider_updated_at
FROM progress_batch b
WHERE NOT EXISTS (
    SELECT 1 FROM stats.course_progress_daily o
    WHERE o.activity_date = b.activity_date AND o.lms_course_id = b.lms_course_id AND o.user_id = b.user_id
      -- Redundant with the join, but lets a hash anti-join read only the interval's days.
      AND o.activity_date >= %(day_from)s AND o.activity_date < %(day_to)s
      AND (o.progress_pct, o.time_spent_minutes, o.started_at, o.completed_at, o.provider_updated_at)
          IS NOT DISTINCT FROM
          (b.progress_pct, b.time_spent_minutes, b.started_at, b.completed_at, b.provider_updated_at))
ON CONFLICT (activity_date, lms_course_id, user_id) DO UPDATE
SET progress_pct = EXCLUDED.progress_pct, time_spent_minutes = EXCLUDED.time_spent_minutes,
    started_at = EXCLUDED.started_at, completed_at = EXCLUDED.completed_at,
    provider_updated_at = EXCLUDED.provider_updated_at;

-- name: unmatched
-- Learners who are not LMS users: only a keyed hash, to count distinct ones.
INSERT INTO ops.unmatched_learners AS u (connector_id, learner_hash, first_run_id, last_seen_date)
SELECT %(connector_id)s, learner_hash, %(run_id)s, max((provider_updated_at AT TIME ZONE 'UTC')::date)
FROM staging.progress
WHERE run_id = %(run_id)s AND outcome = 'unmatched' AND provider_updated_at IS NOT NULL
GROUP BY learner_hash
ON CONFLICT (connector_id, learner_hash) DO UPDATE
SET last_seen_date = EXCLUDED.last_seen_date
WHERE EXCLUDED.last_seen_date > u.last_seen_date;

-- name: analyze_targets
-- After a bulk change the targets' statistics are stale (an empty table stays
-- "empty" to the planner until autovacuum catches up), and the next merge's
-- anti-joins would be planned as nested loops over a million rows.
ANALYZE stats.course_progress, stats.course_progress_daily;

-- name: summary
SELECT count(*) AS batch_rows, count(DISTINCT user_id) AS batch_learners FROM progress_batch;
