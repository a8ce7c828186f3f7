-- How many erasures have been applied, ever: a counter, never who. The
-- activity extract reads it in the same snapshot as the suppression list;
-- the load, under the connector lock that an erasure holds too, reads it
-- again: a different value means an erasure committed while the run's records
-- were staged, so they may hold an erased learner the extract could not drop
-- yet, and the run extracts its day again before it loads anything.
CREATE TABLE ops.erasure_generation (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    generation  bigint NOT NULL DEFAULT 0
);
INSERT INTO ops.erasure_generation DEFAULT VALUES;

GRANT SELECT, UPDATE ON ops.erasure_generation TO lms_sync;
GRANT SELECT ON ops.erasure_generation TO lms_monitor;
