-- Identities the LMS knows for its users besides their emails: the subject its
-- single sign-on gives them, an account id a provider gave them. A provider
-- whose records carry such an id (its contract declares which kind) is matched
-- on it before emails. LMS-owned like lms.users and lms.user_emails: the LMS
-- application writes it, the sync only reads it. An identity that stands for
-- two users matches neither: its records are quarantined (ambiguous_learner).
CREATE TABLE lms.user_identities (
    user_id  text NOT NULL REFERENCES lms.users (user_id) ON DELETE CASCADE,
    kind     text NOT NULL CHECK (kind IN ('sso_subject', 'provider_account')),
    -- The provider (its registry name) a provider_account belongs to; '' for an SSO subject.
    issuer   text NOT NULL DEFAULT '',
    value    text NOT NULL CHECK (btrim(value) <> ''),
    CHECK ((kind = 'sso_subject') = (issuer = '')),
    PRIMARY KEY (user_id, kind, issuer, value)
);
CREATE INDEX user_identities_value ON lms.user_identities (kind, issuer, value);

GRANT SELECT, INSERT, UPDATE, DELETE ON lms.user_identities TO lms_app;
GRANT SELECT ON lms.user_identities TO lms_sync;

-- The keyed hash of the id a record carries (never the id), next to the
-- email's: the transform matches on it first. A learner with no email is
-- keyed by it (learner_hash), so an unmatched learner is still counted once.
ALTER TABLE staging.raw_activity ADD COLUMN identity_hash text;
ALTER TABLE staging.progress ADD COLUMN identity_hash text;
ALTER TABLE ops.unmatched_learners ADD COLUMN identity_hash text;
CREATE INDEX unmatched_learners_identity ON ops.unmatched_learners (connector_id, identity_hash)
    WHERE identity_hash IS NOT NULL;

-- An admin attaches a learner id to an LMS user (lms_connectors_find_learner),
-- as lms.attach_email does an email: one identity of an existing user, nothing
-- else; the caller audits it in the same transaction. True when it was added.
CREATE FUNCTION lms.attach_identity(p_user_id text, p_kind text, p_issuer text, p_value text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    added integer;
BEGIN
    INSERT INTO lms.user_identities (user_id, kind, issuer, value) VALUES (p_user_id, p_kind, p_issuer, btrim(p_value))
    ON CONFLICT (user_id, kind, issuer, value) DO NOTHING;
    GET DIAGNOSTICS added = ROW_COUNT;
    RETURN added = 1;
END
$$;
REVOKE EXECUTE ON FUNCTION lms.attach_identity(text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lms.attach_identity(text, text, text, text) TO lms_sync;
