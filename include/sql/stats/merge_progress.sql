-- Learning-statistics merge, run in one transaction by lms_connectors.pipeline.progress.load_progress.
-- Parameters: run_id, connector_id, day_from, day_to (the interval's days, [from, to)).
--
-- When the interval's days already hold rows (a replay, a retry, a backfill
-- over loaded days), the run's records are first compared with them and only
-- new or changed day rows go on: a re-run that changes nothing writes nothing
-- and sorts nothing.

-- name: memory
-- Hashes and sorts of a million rows in memory rather than in temp files (the
-- default work_mem is 4 MB); a ceiling for this transaction, not an allocation.
SET LOCAL work_mem = '256MB';

-- name: diff
-- Day rows the run adds or changes, and the interval's stored rows it no
-- longer reports (stale). lms_course_id belongs to one connector.
-- staging.run_day_records (V010): the run's accepted records as day rows.
CREATE TEMP TABLE progress_diff ON COMMIT DROP AS
SELECT coalesce(s.activity_date, d.activity_date) AS activity_date,
       coalesce(s.lms_course_id, d.lms_course_id) AS lms_course_id,
       coalesce(s.user_id, d.user_id) AS user_id,
       s.user_id IS NULL AS stale
FROM staging.run_day_records(%(run_id)s) s
FULL JOIN (
    SELECT activity_date, lms_course_id, user_id, progress_pct, time_spent_minutes, time_viewed_minutes,
           started_at, completed_at, provider_updated_at
    FROM stats.course_progress_daily
    WHERE connector_id = %(connector_id)s AND activity_date >= %(day_from)s AND activity_date < %(day_to)s
) d ON d.activity_date = s.activity_date AND d.lms_course_id = s.lms_course_id AND d.user_id = s.user_id
-- A measured provider's record has no time spent (the merge sums it): compare its time viewed.
WHERE s.user_id IS NULL OR d.user_id IS NULL
   OR (s.progress_pct, coalesce(s.time_spent_minutes, d.time_spent_minutes), s.time_viewed_minutes, s.started_at,
       s.completed_at, s.provider_updated_at)
      IS DISTINCT FROM
      (d.progress_pct, d.time_spent_minutes, d.time_viewed_minutes, d.started_at, d.completed_at,
       d.provider_updated_at);

-- name: no_diff
-- Nothing stored to compare with: the batch takes every accepted record.
CREATE TEMP TABLE progress_diff
    (activity_date date, lms_course_id bigint, user_id text, stale boolean) ON COMMIT DROP;

-- name: analyze_diff
-- A temp table has no statistics; the joins below size their plans from them
-- (index probes for a few changed rows, hashes for a million).
ANALYZE progress_diff;

-- name: unreported_count
-- Stored rows of the interval's days that this run's provider data no longer
-- reports. A provider that keeps only each learner's latest state reports
-- fewer records for an old day than it did on time: these rows are history
-- the warehouse observed, kept unless the run deletes them explicitly.
SELECT count(*) FROM progress_diff WHERE stale;

-- name: keyless_rejects
-- A rejected record whose course, learner or day is unknown might be any
-- stored row: while one exists, no row can be called unreported.
SELECT count(*) FROM staging.progress
WHERE run_id = %(run_id)s AND outcome NOT IN ('ok', 'unmatched')
  AND (lms_course_id IS NULL OR user_id IS NULL OR provider_updated_at IS NULL);

-- name: unreported_plan
-- The unreported rows a deleting replay would remove: never the key of a
-- record the run rejected (it was reported, just not accepted).
CREATE TEMP TABLE progress_unreported ON COMMIT DROP AS
SELECT x.activity_date, x.lms_course_id, x.user_id
FROM progress_diff x
WHERE x.stale AND NOT EXISTS (
    SELECT 1 FROM staging.progress p
    WHERE p.run_id = %(run_id)s AND p.outcome NOT IN ('ok', 'unmatched')
      AND p.lms_course_id = x.lms_course_id AND p.user_id = x.user_id
      AND (p.provider_updated_at AT TIME ZONE 'UTC')::date = x.activity_date);

-- name: unreported_share
-- Per day: rows that would go, against the rows stored for that day.
SELECT u.activity_date, count(*) AS unreported, s.stored
FROM progress_unreported u
JOIN (
    SELECT activity_date, count(*) AS stored FROM stats.course_progress_daily
    WHERE connector_id = %(connector_id)s AND activity_date >= %(day_from)s AND activity_date < %(day_to)s
    GROUP BY activity_date
) s USING (activity_date)
GROUP BY u.activity_date, s.stored
ORDER BY u.activity_date;

-- name: daily_delete_unreported
DELETE FROM stats.course_progress_daily d
USING progress_unreported x
WHERE d.connector_id = %(connector_id)s
  AND d.activity_date = x.activity_date AND d.lms_course_id = x.lms_course_id AND d.user_id = x.user_id;

-- name: batch
-- One row per day, course and learner: the newest record of that day. Every
-- accepted record when the interval's days are empty (a first load, a day
-- loaded on time), else only those of day rows the diff found new or changed.
-- Records of a changed key are all kept, so the newest wins even when an
-- older duplicate is the one that differs.
CREATE TEMP TABLE progress_batch ON COMMIT DROP AS
SELECT DISTINCT ON (activity_date, lms_course_id, user_id) *
FROM staging.run_day_records(%(run_id)s) s
WHERE %(all_records)s OR EXISTS (
    SELECT 1 FROM progress_diff x
    WHERE NOT x.stale
      AND x.activity_date = s.activity_date AND x.lms_course_id = s.lms_course_id AND x.user_id = s.user_id)
ORDER BY activity_date, lms_course_id, user_id, provider_updated_at DESC, progress_pct DESC;

-- name: empty_batch
-- The diff found nothing new or changed: the steps below have nothing to write.
CREATE TEMP TABLE progress_batch ON COMMIT DROP AS
SELECT * FROM staging.run_day_records(NULL) WITH NO DATA;

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
-- (A measured provider's time spent is set by the accumulate statements below.)
INSERT INTO stats.course_progress
    (lms_course_id, user_id, connector_id, progress_pct, time_spent_minutes, started_at, completed_at,
     provider_updated_at, last_run_id)
SELECT DISTINCT ON (b.lms_course_id, b.user_id)
       b.lms_course_id, b.user_id, %(connector_id)s, b.progress_pct,
       coalesce(b.time_spent_minutes, b.time_viewed_minutes), b.started_at,
       b.completed_at, b.provider_updated_at, %(run_id)s
FROM progress_batch b
ORDER BY b.lms_course_id, b.user_id, b.provider_updated_at DESC, b.progress_pct DESC;

-- name: insert_daily
INSERT INTO stats.course_progress_daily
    (activity_date, lms_course_id, user_id, connector_id, progress_pct, time_spent_minutes, time_viewed_minutes,
     started_at, completed_at, provider_updated_at)
SELECT b.activity_date, b.lms_course_id, b.user_id, %(connector_id)s, b.progress_pct,
       coalesce(b.time_spent_minutes, b.time_viewed_minutes), b.time_viewed_minutes,
       b.started_at, b.completed_at, b.provider_updated_at
FROM progress_batch b
ORDER BY b.activity_date, b.lms_course_id, b.user_id;

-- name: upsert_current
-- A record replaces the stored one only if it is newer, so replaying an old
-- day never moves progress backwards. The batch holds only new or changed
-- day rows, so the rows this skips are few.
INSERT INTO stats.course_progress AS p
    (lms_course_id, user_id, connector_id, progress_pct, time_spent_minutes, started_at, completed_at,
     provider_updated_at, last_run_id)
SELECT DISTINCT ON (b.lms_course_id, b.user_id)
       b.lms_course_id, b.user_id, %(connector_id)s, b.progress_pct,
       coalesce(b.time_spent_minutes, b.time_viewed_minutes), b.started_at,
       b.completed_at, b.provider_updated_at, %(run_id)s
FROM progress_batch b
ORDER BY b.lms_course_id, b.user_id, b.provider_updated_at DESC, b.progress_pct DESC
ON CONFLICT (lms_course_id, user_id) DO UPDATE
SET progress_pct = EXCLUDED.progress_pct, time_spent_minutes = EXCLUDED.time_spent_minutes,
    started_at = EXCLUDED.started_at, completed_at = EXCLUDED.completed_at,
    provider_updated_at = EXCLUDED.provider_updated_at, last_run_id = EXCLUDED.last_run_id
WHERE (p.provider_updated_at, p.progress_pct) < (EXCLUDED.provider_updated_at, EXCLUDED.progress_pct);

-- name: daily_upsert
-- The day row takes the day's newest record. A key is in the batch when any
-- of its records differs from the stored row; if the newest one does not,
-- the row stays as it is.
INSERT INTO stats.course_progress_daily AS d
    (activity_date, lms_course_id, user_id, connector_id, progress_pct, time_spent_minutes, time_viewed_minutes,
     started_at, completed_at, provider_updated_at)
SELECT b.activity_date, b.lms_course_id, b.user_id, %(connector_id)s, b.progress_pct,
       coalesce(b.time_spent_minutes, b.time_viewed_minutes), b.time_viewed_minutes,
       b.started_at, b.completed_at, b.provider_updated_at
FROM progress_batch b
ORDER BY b.activity_date, b.lms_course_id, b.user_id
ON CONFLICT (activity_date, lms_course_id, user_id) DO UPDATE
-- A measured row keeps its summed time spent; the accumulate statements set it.
SET progress_pct = EXCLUDED.progress_pct,
    time_spent_minutes = CASE WHEN EXCLUDED.time_viewed_minutes IS NULL THEN EXCLUDED.time_spent_minutes
                              ELSE d.time_spent_minutes END,
    time_viewed_minutes = EXCLUDED.time_viewed_minutes,
    started_at = EXCLUDED.started_at, completed_at = EXCLUDED.completed_at,
    provider_updated_at = EXCLUDED.provider_updated_at
WHERE (d.progress_pct, d.time_viewed_minutes, d.started_at, d.completed_at, d.provider_updated_at)
      IS DISTINCT FROM
      (EXCLUDED.progress_pct, EXCLUDED.time_viewed_minutes, EXCLUDED.started_at, EXCLUDED.completed_at,
       EXCLUDED.provider_updated_at)
   OR (EXCLUDED.time_viewed_minutes IS NULL AND d.time_spent_minutes IS DISTINCT FROM EXCLUDED.time_spent_minutes);

-- name: accumulate_keys
-- Measured providers (time viewed per day): the keys whose sums may have
-- moved, those of the batch and of any day row deleted by this run.
CREATE TEMP TABLE progress_keys ON COMMIT DROP AS
SELECT lms_course_id, user_id FROM progress_batch
UNION
SELECT lms_course_id, user_id FROM progress_diff WHERE stale AND %(deleted)s;

-- name: analyze_keys
-- Unanalysed, the keys looked like a handful of rows: the sums below joined
-- them to every day row of the connector in a nested loop (3.5 s for a day of
-- 972 keys against 27,000 day rows; 0.04 s with statistics).
ANALYZE progress_keys;

-- name: accumulate_daily
-- A day row's time spent is the time viewed on its key's days up to it,
-- whatever order the days were loaded in.
UPDATE stats.course_progress_daily d
SET time_spent_minutes = c.cumulative
FROM (
    SELECT d2.activity_date, d2.lms_course_id, d2.user_id,
           sum(d2.time_viewed_minutes) OVER (PARTITION BY d2.lms_course_id, d2.user_id
                                             ORDER BY d2.activity_date) AS cumulative
    FROM stats.course_progress_daily d2
    JOIN progress_keys k ON k.lms_course_id = d2.lms_course_id AND k.user_id = d2.user_id
    WHERE d2.connector_id = %(connector_id)s
) c
WHERE d.connector_id = %(connector_id)s
  AND d.activity_date = c.activity_date AND d.lms_course_id = c.lms_course_id AND d.user_id = c.user_id
  AND d.time_spent_minutes IS DISTINCT FROM c.cumulative;

-- name: accumulate_current
-- Current progress: the time viewed on every day of the key.
UPDATE stats.course_progress p
SET time_spent_minutes = t.total
FROM (
    SELECT d.lms_course_id, d.user_id, sum(d.time_viewed_minutes) AS total
    FROM stats.course_progress_daily d
    JOIN progress_keys k ON k.lms_course_id = d.lms_course_id AND k.user_id = d.user_id
    WHERE d.connector_id = %(connector_id)s
    GROUP BY d.lms_course_id, d.user_id
) t
WHERE p.lms_course_id = t.lms_course_id AND p.user_id = t.user_id
  AND p.time_spent_minutes IS DISTINCT FROM t.total;

-- name: unmatched
-- Learners who are not LMS users: only a keyed hash, to count distinct ones,
-- and the days they were seen on (an admin's look-up says since when and how
-- often), and the hash of the id their records carry, if any (a look-up by
-- id). A replay of days already recorded writes nothing.
INSERT INTO ops.unmatched_learners AS u (connector_id, learner_hash, first_run_id, last_seen_date, seen_on,
                                         identity_hash)
SELECT %(connector_id)s, learner_hash, %(run_id)s, max(day), array_agg(DISTINCT day ORDER BY day),
       max(identity_hash)
FROM (SELECT learner_hash, identity_hash, (provider_updated_at AT TIME ZONE 'UTC')::date AS day
      FROM staging.progress
      WHERE run_id = %(run_id)s AND outcome = 'unmatched' AND provider_updated_at IS NOT NULL) seen
GROUP BY learner_hash
ON CONFLICT (connector_id, learner_hash) DO UPDATE
SET last_seen_date = GREATEST(u.last_seen_date, EXCLUDED.last_seen_date),
    seen_on = ARRAY(SELECT DISTINCT d FROM unnest(u.seen_on || EXCLUDED.seen_on) AS d ORDER BY d),
    identity_hash = coalesce(EXCLUDED.identity_hash, u.identity_hash)
WHERE NOT EXCLUDED.seen_on <@ u.seen_on
   OR (EXCLUDED.identity_hash IS NOT NULL AND EXCLUDED.identity_hash IS DISTINCT FROM u.identity_hash);

-- name: target_sizes
-- The targets' rows as their statistics know them (reltuples: -1 never analyzed); inserts in this
-- transaction do not change it.
SELECT c.relname, c.reltuples FROM pg_class c
WHERE c.oid IN ('stats.course_progress'::regclass, 'stats.course_progress_daily'::regclass);

-- name: analyze_targets
-- After a bulk change the targets' statistics are stale (an empty table stays
-- "empty" to the planner until autovacuum catches up), and the next merge's
-- joins with them (the stale-row delete, the analysts' queries) would be
-- planned for an empty table: nested loops over a million rows.
-- The sync role does not own the tables: a definer function of the owner (V013) analyzes them.
SELECT stats.analyze_progress();

-- name: summary
SELECT count(*) AS batch_rows, count(DISTINCT user_id) AS batch_learners FROM progress_batch;
