-- The run's progress rows as the row rules check them (validate_progress):
-- great-expectations reads them in the database, one aggregate and a bounded
-- list of failing rows per rule, instead of every row passing through pandas
-- in 10,000-row chunks (27 s of a 1M-record run, most of it per-chunk fixed
-- work). Rows an earlier step rejected keep their reason and are left out.
-- The run and its interval are the reading session's settings (lms.run_id,
-- lms.interval_start, lms.interval_end, set with set_config), so the rules'
-- queries carry no literal; each is read once per query (scalar subqueries),
-- not once per row. Where they are unset (any other session) it shows no row.
CREATE OR REPLACE VIEW staging.progress_checked WITH (security_invoker = true) AS
SELECT p.seq, p.learner_hash, p.provider_course_id, p.lms_course_id, p.progress_pct, p.provider_updated_at,
       -- A missing timestamp is invalid_updated_at's to report.
       p.provider_updated_at IS NULL
       OR (p.provider_updated_at >= (SELECT current_setting('lms.interval_start', true)::timestamptz)
           AND p.provider_updated_at < (SELECT current_setting('lms.interval_end', true)::timestamptz)) AS in_interval
FROM staging.progress p
WHERE p.run_id = (SELECT current_setting('lms.run_id', true)) AND p.outcome IN ('ok', 'unmatched');

GRANT SELECT ON staging.progress_checked TO lms_sync;
