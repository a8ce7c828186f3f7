-- xAPI statements that providers push to the project's endpoint (python -m
-- lms_connectors.xapi serve), stored before the endpoint answers. The learner
-- is kept as keyed hashes (the connector's key, as the extract hashes), never
-- as an email or an account name; the body keeps the statement without its
-- actor's identifier. The daily REST run of a day stays the truth for that day.
CREATE SCHEMA xapi;

-- Who may push for which connector: HTTP Basic, a username and a 256-bit
-- random secret shown once, of which only the SHA-256 is kept (a random
-- secret of that length needs no slow hash; a password would).
CREATE TABLE xapi.credentials (
    username       text PRIMARY KEY,
    connector_id   text NOT NULL,
    secret_sha256  text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz
);

CREATE TABLE xapi.statements (
    statement_id       uuid PRIMARY KEY,
    connector_id       text NOT NULL,
    -- Two sendings of one id are one statement when their digests are equal;
    -- otherwise the second is a conflict (409).
    digest             text NOT NULL,
    learner_hash       text,
    identity_hash      text,
    pseudonym_version  integer NOT NULL,
    verb               text NOT NULL,
    activity_id        text NOT NULL,
    occurred_at        timestamptz,
    stored_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    body               jsonb NOT NULL,
    CHECK (learner_hash IS NOT NULL OR identity_hash IS NOT NULL)
);
CREATE INDEX statements_connector_stored ON xapi.statements (connector_id, stored_at);

-- A statement the endpoint refused, with why: the statement itself is not
-- kept (it may name the learner), its id when it had a valid one.
CREATE TABLE xapi.rejected_statements (
    rejected_id   bigserial PRIMARY KEY,
    connector_id  text NOT NULL,
    statement_id  uuid,
    reason        text NOT NULL,
    detail        text NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- The endpoint's login (lms_xapi) is a member of this group: it reads the
-- credentials and the connectors' key versions, and adds statements.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lms_xapi_writer') THEN
        CREATE ROLE lms_xapi_writer NOLOGIN;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA xapi, ops TO lms_xapi_writer;
GRANT SELECT ON xapi.credentials, ops.pseudonym_keys TO lms_xapi_writer;
GRANT SELECT, INSERT ON xapi.statements TO lms_xapi_writer;
GRANT INSERT ON xapi.rejected_statements TO lms_xapi_writer;
GRANT USAGE ON SEQUENCE xapi.rejected_statements_rejected_id_seq TO lms_xapi_writer;

-- The sync maps statements to statistics, erasure and key rotation delete them.
GRANT USAGE ON SCHEMA xapi TO lms_sync, lms_monitor;
GRANT SELECT, DELETE ON xapi.statements TO lms_sync;
GRANT SELECT, DELETE ON xapi.rejected_statements TO lms_sync;
GRANT SELECT, INSERT, UPDATE ON xapi.credentials TO lms_sync;
GRANT SELECT ON xapi.rejected_statements TO lms_monitor;
