-- Learner privacy: erasure with suppression, per-connector pseudonym keys,
-- an audit log of admin actions, retention bookkeeping, tighter grants.

-- A learner erased on request: never imported again by any run, replay or
-- backfill. Only a keyed hash of the email is kept (a key of its own, derived
-- from the pseudonymisation key: it does not change when a connector's key is
-- rotated), with when, by which run and why. Never the email, never a user id.
CREATE TABLE ops.suppressed_learners (
    suppression_hash  text PRIMARY KEY,
    suppressed_at     timestamptz NOT NULL,
    run_id            text NOT NULL,
    reason            text NOT NULL
);

-- Each connector pseudonymises with its own key, derived from the
-- pseudonymisation key and (connector, version): hashes never link a person
-- across providers. A rotation adds a version and purges every hash of the
-- older ones. No row: version 1.
CREATE TABLE ops.pseudonym_keys (
    connector_id  text NOT NULL,
    version       integer NOT NULL CHECK (version >= 1),
    created_at    timestamptz NOT NULL,
    run_id        text NOT NULL,
    PRIMARY KEY (connector_id, version)
);

-- Every admin action: settings applied, deactivation, erasure, export,
-- approval, key rotation, retention purges. Who, when, what; no learner's
-- email or id (an erasure records how many rows, not whose).
CREATE TABLE ops.audit_log (
    audit_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    actor         text NOT NULL,
    action        text NOT NULL,
    connector_id  text,
    run_id        text,
    details       jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON ops.audit_log (at);

-- A rejected record's raw payload is redacted after some days (then the row
-- is deleted): when it was.
ALTER TABLE ops.rejected_records ADD COLUMN redacted_at timestamptz;
CREATE INDEX rejected_records_at ON ops.rejected_records (rejected_at);
-- Unmatched learners not seen for N days are purged.
CREATE INDEX unmatched_learners_seen ON ops.unmatched_learners (last_seen_date);

GRANT SELECT, INSERT ON ops.suppressed_learners, ops.pseudonym_keys TO lms_sync;
GRANT INSERT ON ops.audit_log TO lms_sync;
-- Erasure and retention delete what identifies a learner; a run record's
-- personal fields are blanked (UPDATE), the record itself kept.
GRANT DELETE ON ops.unmatched_learners TO lms_sync;
GRANT UPDATE (record, redacted_at) ON ops.rejected_records TO lms_sync;
GRANT SELECT ON ops.audit_log, ops.suppressed_learners, ops.pseudonym_keys TO lms_monitor;

-- The sync reads of lms.users what matches learners (never names), and
-- updates of lms.courses only the columns the sync owns (never its keys).
REVOKE SELECT ON lms.users FROM lms_sync;
GRANT SELECT (user_id, email) ON lms.users TO lms_sync;
REVOKE UPDATE ON lms.courses FROM lms_sync;
GRANT UPDATE (group_id, author_email, title, description, language, provider_status, duration_minutes,
              launch_url, image_url, provider_updated_at, archive_reasons, updated_at, last_synced_at,
              last_run_id)
    ON lms.courses TO lms_sync;

-- Analysts get what is granted to them by name, table by table: a future
-- table of stats is not theirs by default.
ALTER DEFAULT PRIVILEGES IN SCHEMA stats REVOKE SELECT ON TABLES FROM lms_analyst;
