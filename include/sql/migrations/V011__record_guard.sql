-- The record guard (lms_connectors.guard) screens every provider record at
-- extract: a record it quarantines is staged as a safe envelope with its
-- reason, so the steps after it count and quarantine it like any other
-- reject. The detail says which field broke which rule.
ALTER TABLE staging.raw_courses ADD COLUMN reject_reason text, ADD COLUMN reject_detail text;
ALTER TABLE staging.raw_activity ADD COLUMN reject_reason text, ADD COLUMN reject_detail text;
ALTER TABLE staging.courses ADD COLUMN reject_detail text;
ALTER TABLE staging.progress ADD COLUMN reject_detail text;
ALTER TABLE ops.rejected_records ADD COLUMN detail text;
