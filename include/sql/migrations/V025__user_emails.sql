-- Further emails the LMS knows for its users (a secondary address, a former one
-- kept after a change): a provider record carrying any of them is the user's.
-- LMS-owned like lms.users: the LMS application writes it, the sync only reads
-- it. An email that stands for two users matches neither: its records are
-- quarantined (ambiguous_learner), never given to one of them.
CREATE TABLE lms.user_emails (
    user_id    text NOT NULL REFERENCES lms.users (user_id) ON DELETE CASCADE,
    email      text NOT NULL,
    kind       text NOT NULL DEFAULT 'secondary' CHECK (kind IN ('secondary', 'former')),
    PRIMARY KEY (user_id, email)
);

GRANT SELECT, INSERT, UPDATE, DELETE ON lms.user_emails TO lms_app;
GRANT SELECT ON lms.user_emails TO lms_sync;
