-- staging.progress is written once per run by COPY and read whole by run:
-- its primary key (run_id, seq) cost more than the rows themselves. At a
-- million rows the COPY took 2.2 s with the key and 4.4 s when a retried run
-- re-inserted keys whose deleted entries were still in the index, against
-- 1.5 s without it. Nothing looks a single row up: validation marks its
-- rejects in one join per run (lms_connectors.warehouse.quarantine), the
-- merge and the housekeeping read or delete whole runs.
ALTER TABLE staging.progress DROP CONSTRAINT IF EXISTS progress_pkey;
