-- Learning statistics: current progress and a daily snapshot, their staging,
-- the key that hashes learner emails, and unmatched learners (hashed only).

-- A per-warehouse key for HMAC of learner emails: emails of learners who are
-- not LMS users are never stored in clear, yet distinct ones can be counted.
CREATE TABLE ops.hash_keys (
    name        text PRIMARY KEY,
    key         text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO ops.hash_keys (name, key)
VALUES ('learner_email', replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''));

CREATE TABLE stats.course_progress (
    lms_course_id        bigint NOT NULL REFERENCES lms.courses ON DELETE CASCADE,
    user_id              text NOT NULL REFERENCES lms.users ON DELETE CASCADE,
    connector_id         text NOT NULL,
    progress_pct         numeric(5, 2) NOT NULL CHECK (progress_pct BETWEEN 0 AND 100),
    time_spent_minutes   numeric(10, 2) NOT NULL CHECK (time_spent_minutes >= 0),
    started_at           timestamptz,
    completed_at         timestamptz,
    provider_updated_at  timestamptz NOT NULL,
    last_run_id          text,
    PRIMARY KEY (lms_course_id, user_id)
) WITH (fillfactor = 85);
CREATE INDEX course_progress_user ON stats.course_progress (user_id);

CREATE TABLE stats.course_progress_daily (
    activity_date        date NOT NULL,
    lms_course_id        bigint NOT NULL REFERENCES lms.courses ON DELETE CASCADE,
    user_id              text NOT NULL REFERENCES lms.users ON DELETE CASCADE,
    connector_id         text NOT NULL,
    progress_pct         numeric(5, 2) NOT NULL CHECK (progress_pct BETWEEN 0 AND 100),
    time_spent_minutes   numeric(10, 2) NOT NULL CHECK (time_spent_minutes >= 0),
    started_at           timestamptz,
    completed_at         timestamptz,
    provider_updated_at  timestamptz NOT NULL,
    PRIMARY KEY (activity_date, lms_course_id, user_id)
);
CREATE INDEX course_progress_daily_course ON stats.course_progress_daily (lms_course_id, user_id, activity_date);

CREATE TABLE ops.unmatched_learners (
    connector_id    text NOT NULL,
    learner_hash    text NOT NULL,
    first_run_id    text NOT NULL,
    last_seen_date  date NOT NULL,
    PRIMARY KEY (connector_id, learner_hash)
);

ALTER TABLE ops.sync_runs
    ADD COLUMN activity_records integer,
    ADD COLUMN progress_rows integer,
    ADD COLUMN daily_rows integer,
    ADD COLUMN matched_learners integer;

-- Raw activity holds an HMAC of the email, never the email itself.
CREATE UNLOGGED TABLE staging.raw_activity (
    run_id      text NOT NULL,
    seq         integer NOT NULL,
    learner_hash text,
    record      jsonb NOT NULL,
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, seq)
);

CREATE UNLOGGED TABLE staging.progress (
    run_id               text NOT NULL,
    seq                  integer NOT NULL,
    lms_course_id        bigint,
    user_id              text,
    progress_pct         numeric(5, 2),
    time_spent_minutes   numeric(10, 2),
    started_at           timestamptz,
    completed_at         timestamptz,
    provider_updated_at  timestamptz,
    learner_hash         text,
    -- ok | unmatched | a reject reason
    outcome              text NOT NULL,
    loaded_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, seq)
);

-- LMS learning paths (LMS-owned; the sync only reads them).
CREATE TABLE lms.paths (
    path_id    text PRIMARY KEY,
    group_id   text NOT NULL REFERENCES lms.groups ON DELETE CASCADE,
    name       text NOT NULL
);
CREATE TABLE lms.path_steps (
    path_id        text NOT NULL REFERENCES lms.paths ON DELETE CASCADE,
    step_no        integer NOT NULL CHECK (step_no > 0),
    lms_course_id  bigint NOT NULL REFERENCES lms.courses ON DELETE CASCADE,
    PRIMARY KEY (path_id, step_no)
);
GRANT SELECT ON lms.paths, lms.path_steps TO lms_app;
GRANT INSERT, UPDATE, DELETE ON lms.paths, lms.path_steps TO lms_app;
