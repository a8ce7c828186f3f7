-- Providers whose time-spent rule is "measured" report the time a learner
-- viewed each day (LinkedIn Learning: seconds viewed per daily report). The
-- day row keeps that day's time (time_viewed_minutes), and time_spent_minutes
-- stays what it is for every provider: the time accrued by the end of that
-- day, here the sum of the key's days so far. The progress merge recomputes
-- those sums for the keys a run touched, so days loaded in any order, late or
-- twice, give the same figures. For "theoretical" providers (duration x
-- progress) time_viewed_minutes is NULL.
ALTER TABLE staging.progress ADD COLUMN time_viewed_minutes numeric(12, 2);
ALTER TABLE stats.course_progress_daily ADD COLUMN time_viewed_minutes numeric(12, 2)
    CHECK (time_viewed_minutes >= 0);

-- The run's accepted records as day rows, now with the day's measured time.
DROP FUNCTION staging.run_day_records(text);
CREATE FUNCTION staging.run_day_records(p_run_id text)
RETURNS TABLE (
    activity_date        date,
    lms_course_id        bigint,
    user_id              text,
    progress_pct         numeric,
    time_spent_minutes   numeric,
    time_viewed_minutes  numeric,
    started_at           timestamptz,
    completed_at         timestamptz,
    provider_updated_at  timestamptz
)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT (p.provider_updated_at AT TIME ZONE 'UTC')::date, p.lms_course_id, p.user_id, p.progress_pct,
           p.time_spent_minutes, p.time_viewed_minutes, p.started_at, p.completed_at, p.provider_updated_at
    FROM staging.progress p
    WHERE p.run_id = p_run_id AND p.outcome = 'ok'
$$;
REVOKE EXECUTE ON FUNCTION staging.run_day_records(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION staging.run_day_records(text) TO lms_sync;
