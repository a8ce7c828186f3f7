-- A run's accepted activity records as rows of the daily snapshot: the day is
-- the UTC date of the provider's updated_at. The progress merge compares
-- these with the stored days and batches them; one definition keeps the two
-- from drifting apart. A single-SELECT SQL function that is STABLE, not
-- STRICT and has no SET clause is inlined by the planner: the statements
-- that call it are planned as if the SELECT were written in place.
CREATE FUNCTION staging.run_day_records(p_run_id text)
RETURNS TABLE (
    activity_date        date,
    lms_course_id        bigint,
    user_id              text,
    progress_pct         numeric,
    time_spent_minutes   numeric,
    started_at           timestamptz,
    completed_at         timestamptz,
    provider_updated_at  timestamptz
)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT (p.provider_updated_at AT TIME ZONE 'UTC')::date, p.lms_course_id, p.user_id, p.progress_pct,
           p.time_spent_minutes, p.started_at, p.completed_at, p.provider_updated_at
    FROM staging.progress p
    WHERE p.run_id = p_run_id AND p.outcome = 'ok'
$$;
