-- Figures of the connector health page (lms_connectors.health.app), read-only.
-- Parameters: connector_id, day_from, day_to (the chart's days, [from, to):
-- complete days only), run_limit.

-- name: last_runs
-- By the day they cover, newest first: a backfill's runs fall in place
-- whatever order they ran in.
SELECT run_id, dag_id, status, interval_start, interval_end, started_at, finished_at,
       extract(epoch FROM finished_at - started_at)::float8 AS duration_seconds,
       courses_seen, courses_created, courses_updated, courses_archived, courses_unarchived,
       activity_records, progress_rows, daily_rows, matched_learners, unmatched_learners, rejected, error
FROM ops.sync_runs
WHERE connector_id = %(connector_id)s
ORDER BY interval_start DESC NULLS LAST, started_at DESC
LIMIT %(run_limit)s;

-- name: latest_run
-- The headline: the run that started last, whatever day it covers (a connector whose credentials
-- just broke fails today's attempt, while the newest day covered may still be a success).
SELECT run_id, status, interval_start, started_at, error
FROM ops.sync_runs
WHERE connector_id = %(connector_id)s
ORDER BY started_at DESC NULLS LAST
LIMIT 1;

-- name: courses
SELECT count(*) FILTER (WHERE is_active) AS active, count(*) FILTER (WHERE NOT is_active) AS archived
FROM lms.courses
WHERE connector_id = %(connector_id)s;

-- name: archived_by_reason
-- A course archived for two reasons counts under both.
SELECT reason, count(*) AS courses
FROM lms.courses, unnest(archive_reasons) AS reason
WHERE connector_id = %(connector_id)s
GROUP BY reason
ORDER BY courses DESC, reason;

-- name: rejected_by_rule
-- The page's login reads aggregates only (ops.v_health_*): never a payload or a hash.
SELECT entity, reason AS rule, sum(records)::bigint AS records, count(DISTINCT run_id) AS runs
FROM ops.v_health_rejects
WHERE connector_id = %(connector_id)s
  AND rejected_on >= %(day_from)s AND rejected_on < %(day_to)s
GROUP BY entity, reason
ORDER BY records DESC, entity, reason;

-- name: unmatched
-- Learners seen in provider activity who are no LMS user (only their keyed hash is kept).
SELECT coalesce(sum(learners), 0)::bigint AS learners,
       coalesce(sum(learners) FILTER (WHERE last_seen_date >= %(day_from)s AND last_seen_date < %(day_to)s), 0)::bigint
           AS seen_in_window
FROM ops.v_health_unmatched
WHERE connector_id = %(connector_id)s;

-- name: healed
-- Learners who became LMS users' and got the days they went unrecognised (the runs' heal_learners
-- step) in the window, the days read again for them, and what the run that started last left
-- waiting for approval (above heal_max_learners or heal_max_days).
SELECT coalesce(sum((counts -> 'heal_learners' ->> 'healed_learners')::int), 0)::bigint AS learners,
       coalesce(sum((counts -> 'heal_learners' ->> 'days_read')::int), 0)::bigint AS days_read,
       coalesce((SELECT (l.counts -> 'heal_learners' ->> 'pending_learners')::int FROM ops.sync_runs l
                 WHERE l.connector_id = %(connector_id)s ORDER BY l.started_at DESC NULLS LAST LIMIT 1), 0) AS pending
FROM ops.sync_runs
WHERE connector_id = %(connector_id)s AND status = 'success'
  AND interval_start >= %(day_from)s AND interval_start < %(day_to)s;

-- name: xapi
-- Statements the provider pushed (python -m lms_connectors.xapi): the newest one's time, whatever its
-- day, and how many were stored and refused in the window.
SELECT (SELECT max(newest) FROM ops.v_health_xapi WHERE connector_id = %(connector_id)s) AS newest,
       coalesce((SELECT sum(statements) FROM ops.v_health_xapi
                 WHERE connector_id = %(connector_id)s AND stored_date >= %(day_from)s AND stored_date < %(day_to)s),
                0)::bigint AS stored,
       coalesce((SELECT sum(statements) FROM ops.v_health_xapi_refused
                 WHERE connector_id = %(connector_id)s AND received_date >= %(day_from)s
                   AND received_date < %(day_to)s), 0)::bigint AS refused;

-- name: daily
-- Same definitions as stats.v_daily_activity (ops.v_health_daily), limited to the window so the
-- page does not scan the whole history.
SELECT day::date AS day,
       coalesce(a.active_learners, 0) AS active_learners,
       coalesce(a.completions, 0) AS completions
FROM generate_series(%(day_from)s::date, %(day_to)s::date - 1, interval '1 day') AS day
LEFT JOIN ops.v_health_daily a
       ON a.activity_date = day::date AND a.connector_id = %(connector_id)s
      AND a.activity_date >= %(day_from)s AND a.activity_date < %(day_to)s
ORDER BY day;

-- name: retention
-- When lms_connectors_retention last purged this warehouse (one audit entry a purge).
SELECT max(at) AS last_run FROM ops.audit_log WHERE action = 'retention';
