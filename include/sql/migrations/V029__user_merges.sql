-- Two LMS accounts of one person, merged by the LMS: the retired id's history
-- and its future records become the surviving id's. LMS-owned like lms.users:
-- the LMS writes it, the sync reads it. Keep the retired user in lms.users
-- until every connector has run once after the merge: its statistics rows
-- reference it, and deleting it first deletes them with it.
CREATE TABLE lms.user_merges (
    retired_user_id  text PRIMARY KEY,
    into_user_id     text NOT NULL,
    merged_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (retired_user_id <> into_user_id)
);

GRANT SELECT, INSERT, UPDATE, DELETE ON lms.user_merges TO lms_app;
GRANT SELECT ON lms.user_merges TO lms_sync;
