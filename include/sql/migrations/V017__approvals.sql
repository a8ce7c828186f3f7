-- A run whose catalogue change needs a human decision waits for it
-- ('awaiting_approval'); a refused or unanswered change ends the run with
-- nothing changed ('rejected'). Who decided what is kept in the run's
-- counts under 'approve_catalogue_change'.
ALTER TABLE ops.sync_runs DROP CONSTRAINT sync_runs_status_check;
ALTER TABLE ops.sync_runs ADD CONSTRAINT sync_runs_status_check
    CHECK (status IN ('running', 'awaiting_approval', 'success', 'failed', 'rejected', 'skipped'));
