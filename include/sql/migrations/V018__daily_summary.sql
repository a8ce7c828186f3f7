-- What dashboards read, materialized: one row per connector and day, the
-- figures of stats.v_daily_activity. Refreshed by the example DAG
-- lms_dashboards_refresh whenever a connector's statistics Asset is updated.
CREATE MATERIALIZED VIEW stats.mv_daily_summary AS
SELECT activity_date, connector_id, active_learners, completions, time_spent_minutes
FROM stats.v_daily_activity
WITH DATA;
-- Unique: REFRESH ... CONCURRENTLY keeps the view readable while it refreshes.
CREATE UNIQUE INDEX mv_daily_summary_key ON stats.mv_daily_summary (connector_id, activity_date);
GRANT SELECT ON stats.mv_daily_summary TO lms_analyst;

-- Only a materialized view's owner may refresh it (before PostgreSQL 17):
-- the sync role refreshes it through this function, which does nothing else
-- (and says how many rows the view holds, for the task log).
CREATE FUNCTION stats.refresh_daily_summary() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    REFRESH MATERIALIZED VIEW CONCURRENTLY stats.mv_daily_summary;
    RETURN (SELECT count(*) FROM stats.mv_daily_summary);
END
$$;
REVOKE EXECUTE ON FUNCTION stats.refresh_daily_summary() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION stats.refresh_daily_summary() TO lms_sync;
