-- Rejected records per entity in ops.sync_runs, so the run total no longer
-- has to be rebuilt from another step's counts JSON.
ALTER TABLE ops.sync_runs
    ADD COLUMN courses_rejected integer,
    ADD COLUMN activity_rejected integer;

UPDATE ops.sync_runs
SET courses_rejected = (counts -> 'validate_courses' ->> 'rejected')::int,
    activity_rejected = (counts -> 'validate_progress' ->> 'rejected')::int;
