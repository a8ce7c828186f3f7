-- A replay keeps the day rows the provider no longer reports; a run that was
-- asked to delete them (delete_unreported_rows) says so next to its counts.
ALTER TABLE ops.sync_runs ADD COLUMN delete_unreported boolean NOT NULL DEFAULT false;
