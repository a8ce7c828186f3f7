-- The days each unmatched learner was seen on, within the unmatched learners'
-- retention: an admin's look-up says since when and on how many days a
-- learner went unrecognised, without listing anyone else. Rows written before
-- this migration know their last day only.
ALTER TABLE ops.unmatched_learners ADD COLUMN seen_on date[] NOT NULL DEFAULT '{}';
UPDATE ops.unmatched_learners SET seen_on = ARRAY[last_seen_date];

-- An admin attaches an email to an LMS user (lms_connectors_find_learner):
-- the table is the LMS's, and the sync login may not write it. This function,
-- run as the owner, adds one secondary email to an existing user and nothing
-- else; the caller records who did it in ops.audit_log in the same
-- transaction. True when the email was added, false when the user had it.
CREATE FUNCTION lms.attach_email(p_user_id text, p_email text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    added integer;
BEGIN
    INSERT INTO lms.user_emails (user_id, email, kind) VALUES (p_user_id, p_email, 'secondary')
    ON CONFLICT (user_id, email) DO NOTHING;
    GET DIAGNOSTICS added = ROW_COUNT;
    RETURN added = 1;
END
$$;
REVOKE EXECUTE ON FUNCTION lms.attach_email(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lms.attach_email(text, text) TO lms_sync;
