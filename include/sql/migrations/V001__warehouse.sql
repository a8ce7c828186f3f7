-- Warehouse foundation: schemas by owner, the LMS-side tables the sync reads,
-- the catalogue it writes, run bookkeeping and run-scoped staging.

CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS lms;
CREATE SCHEMA IF NOT EXISTS stats;
CREATE SCHEMA IF NOT EXISTS ops;

-- LMS-owned ---------------------------------------------------------------
CREATE TABLE lms.users (
    user_id    text PRIMARY KEY,
    email      text NOT NULL,
    name       text
);
CREATE UNIQUE INDEX users_email_ci ON lms.users (lower(email));

CREATE TABLE lms.groups (
    group_id   text PRIMARY KEY,
    name       text NOT NULL
);

CREATE TABLE lms.group_members (
    group_id   text NOT NULL REFERENCES lms.groups ON DELETE CASCADE,
    user_id    text NOT NULL REFERENCES lms.users ON DELETE CASCADE,
    role       text NOT NULL CHECK (role IN ('learner', 'editor', 'administrator')),
    PRIMARY KEY (group_id, user_id)
);

-- Text-search configuration per ISO 639-1 code; IMMUTABLE so it can feed a
-- generated column and its index.
CREATE FUNCTION lms.ts_config(lang text) RETURNS regconfig
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE lower(lang)
        WHEN 'fr' THEN 'french' WHEN 'en' THEN 'english' WHEN 'es' THEN 'spanish'
        WHEN 'de' THEN 'german' WHEN 'it' THEN 'italian' WHEN 'pt' THEN 'portuguese'
        WHEN 'nl' THEN 'dutch' WHEN 'sv' THEN 'swedish' WHEN 'da' THEN 'danish'
        WHEN 'fi' THEN 'finnish' WHEN 'no' THEN 'norwegian' WHEN 'ro' THEN 'romanian'
        WHEN 'ru' THEN 'russian' WHEN 'tr' THEN 'turkish' WHEN 'hu' THEN 'hungarian'
        ELSE 'simple' END::regconfig
$$;

-- Archive reasons are a sorted set so that equality means "same state".
CREATE FUNCTION lms.reason_set(reasons text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(DISTINCT r ORDER BY r), '{}')
    FROM unnest(reasons) AS r WHERE r IS NOT NULL
$$;

-- The catalogue the sync writes ------------------------------------------
CREATE TABLE lms.courses (
    lms_course_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connector_id         text NOT NULL,
    provider_course_id   text NOT NULL,
    group_id             text NOT NULL REFERENCES lms.groups,
    author_email         text NOT NULL,
    title                text NOT NULL,
    description          text NOT NULL DEFAULT '',
    language             text NOT NULL,
    provider_status      text NOT NULL,
    duration_minutes     integer NOT NULL CHECK (duration_minutes > 0),
    launch_url           text NOT NULL,
    image_url            text,
    provider_updated_at  timestamptz,
    archive_reasons      text[] NOT NULL DEFAULT '{}'
        CHECK (archive_reasons <@ ARRAY['provider_status', 'language_filter',
                                        'removed_by_provider', 'connector_deactivated']),
    is_active            boolean GENERATED ALWAYS AS (cardinality(archive_reasons) = 0) STORED,
    search_vector        tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector(lms.ts_config(language), title), 'A') ||
        setweight(to_tsvector(lms.ts_config(language), description), 'B')) STORED,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    -- Interval end of the sync run that last changed this row.
    last_synced_at       timestamptz NOT NULL,
    last_run_id          text,
    UNIQUE (connector_id, provider_course_id)
) WITH (fillfactor = 85);
CREATE INDEX courses_search ON lms.courses USING gin (search_vector);
CREATE INDEX courses_group_active ON lms.courses (group_id) WHERE is_active;

CREATE TABLE lms.course_tags (
    lms_course_id  bigint NOT NULL REFERENCES lms.courses ON DELETE CASCADE,
    tag            text NOT NULL CHECK (tag <> ''),
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (lms_course_id, tag)
);

CREATE TABLE lms.group_catalogue (
    group_id       text NOT NULL REFERENCES lms.groups ON DELETE CASCADE,
    lms_course_id  bigint NOT NULL REFERENCES lms.courses ON DELETE CASCADE,
    in_catalogue   boolean NOT NULL DEFAULT true,
    in_library     boolean NOT NULL DEFAULT true,
    added_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, lms_course_id)
);

-- Catalogue search, language-aware: the query is parsed with each course's
-- own language configuration, then ranked.
CREATE FUNCTION lms.search_courses(query text, group_filter text DEFAULT NULL, include_archived boolean DEFAULT false)
RETURNS TABLE (lms_course_id bigint, title text, language text, is_active boolean, rank real)
LANGUAGE sql STABLE AS $$
    SELECT c.lms_course_id, c.title, c.language, c.is_active,
           ts_rank(c.search_vector, websearch_to_tsquery(lms.ts_config(c.language), query)) AS rank
    FROM lms.courses c
    WHERE c.search_vector @@ websearch_to_tsquery(lms.ts_config(c.language), query)
      AND (group_filter IS NULL OR c.group_id = group_filter)
      AND (include_archived OR c.is_active)
    ORDER BY rank DESC, c.lms_course_id
$$;

-- Runs and rejects --------------------------------------------------------
CREATE TABLE ops.sync_runs (
    run_id              text PRIMARY KEY,
    connector_id        text NOT NULL,
    dag_id              text NOT NULL,
    interval_start      timestamptz,
    interval_end        timestamptz,
    status              text NOT NULL CHECK (status IN ('running', 'success', 'failed', 'skipped')),
    started_at          timestamptz NOT NULL DEFAULT now(),
    finished_at         timestamptz,
    courses_seen        integer,
    courses_created     integer,
    courses_updated     integer,
    courses_archived    integer,
    courses_unarchived  integer,
    rejected            integer,
    unmatched_learners  integer,
    counts              jsonb NOT NULL DEFAULT '{}',
    step_seconds        jsonb NOT NULL DEFAULT '{}',
    settings            jsonb,
    error               text
);
CREATE INDEX sync_runs_connector ON ops.sync_runs (connector_id, interval_end DESC);

CREATE TABLE ops.rejected_records (
    rejected_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id        text NOT NULL,
    connector_id  text NOT NULL,
    entity        text NOT NULL,
    reason        text NOT NULL,
    record        jsonb NOT NULL,
    rejected_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rejected_records_run ON ops.rejected_records (run_id);

-- Run-scoped staging: unlogged (rebuilt from the provider on a crash),
-- keyed by run so a task retry clears exactly its own rows.
CREATE UNLOGGED TABLE staging.raw_courses (
    run_id      text NOT NULL,
    seq         integer NOT NULL,
    record      jsonb NOT NULL,
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, seq)
);

CREATE UNLOGGED TABLE staging.courses (
    run_id               text NOT NULL,
    seq                  integer NOT NULL,
    provider_course_id   text,
    title                text,
    description          text,
    language             text,
    provider_status      text,
    duration_minutes     integer,
    launch_url           text,
    image_url            text,
    provider_updated_at  timestamptz,
    reject_reason        text,
    loaded_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, seq)
);
