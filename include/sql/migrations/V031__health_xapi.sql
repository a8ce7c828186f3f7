-- What the health page shows of pushed xAPI statements, per connector and day
-- (UTC): how many were stored or refused, and the newest one's time. Counts
-- and times only, never a hash (the page's login, lms_monitor, reads these views).
CREATE VIEW ops.v_health_xapi AS
SELECT connector_id, (stored_at AT TIME ZONE 'UTC')::date AS stored_date,
       count(*) AS statements, max(stored_at) AS newest
FROM xapi.statements
GROUP BY 1, 2;

CREATE VIEW ops.v_health_xapi_refused AS
SELECT connector_id, (received_at AT TIME ZONE 'UTC')::date AS received_date, count(*) AS statements
FROM xapi.rejected_statements
GROUP BY 1, 2;

GRANT SELECT ON ops.v_health_xapi, ops.v_health_xapi_refused TO lms_monitor;
-- The views are its way in: the refused statements' table itself is not the page's to read.
REVOKE SELECT ON xapi.rejected_statements FROM lms_monitor;
