-- Catalogue merge, run in one transaction by lms_connectors.pipeline.catalogue.load_courses.
-- Parameters: run_id, connector_id, group_id, author_email, languages (text[]),
-- kept (text[]), archive_removed (boolean: the provider's removed_courses is "archive"), synced_at.

-- name: plan
-- The desired state of every course of the connector: incoming courses get
-- their reasons from the provider status and the language filter; courses
-- the provider no longer lists keep their status reason and gain
-- removed_by_provider when the provider's removals archive (else they stay as
-- they were, their language filter applied anew). A course whose record was rejected this run is
-- neither updated nor treated as removed, and when a rejected record has no
-- id at all, no course can be said to be gone: removals wait for a clean run.
CREATE TEMP TABLE course_plan ON COMMIT DROP AS
WITH seen AS (
    SELECT DISTINCT provider_course_id FROM staging.courses
    WHERE run_id = %(run_id)s AND provider_course_id IS NOT NULL
)
SELECT c.lms_course_id, i.provider_course_id, %(group_id)s::text AS group_id,
       %(author_email)s::text AS author_email, i.title, i.description, i.language, i.provider_status,
       i.duration_minutes, i.launch_url, i.image_url, i.provider_updated_at,
       c.archive_reasons AS old_reasons,
       lms.reason_set(
           ARRAY[CASE WHEN NOT (i.provider_status = ANY (%(kept)s::text[])) THEN 'provider_status' END]
           || lms.settings_reasons(i.language, %(languages)s::text[], true)) AS new_reasons,
       c.lms_course_id IS NULL AS is_new,
       c.lms_course_id IS NOT NULL AND
       (c.title, c.description, c.language, c.provider_status, c.duration_minutes, c.launch_url,
        c.image_url, c.provider_updated_at, c.group_id, c.author_email)
       IS DISTINCT FROM
       (i.title, i.description, i.language, i.provider_status, i.duration_minutes, i.launch_url,
        i.image_url, i.provider_updated_at, %(group_id)s::text, %(author_email)s::text) AS changed
FROM staging.courses i
LEFT JOIN lms.courses c ON c.connector_id = %(connector_id)s AND c.provider_course_id = i.provider_course_id
WHERE i.run_id = %(run_id)s AND i.reject_reason IS NULL
UNION ALL
SELECT c.lms_course_id, c.provider_course_id, c.group_id, c.author_email, c.title, c.description,
       c.language, c.provider_status, c.duration_minutes, c.launch_url, c.image_url,
       c.provider_updated_at, c.archive_reasons,
       lms.reason_set(
           lms.provider_reasons(c.archive_reasons)
           || ARRAY[CASE WHEN %(archive_removed)s THEN 'removed_by_provider' END]
           || lms.settings_reasons(c.language, %(languages)s::text[], true)),
       false, false
FROM lms.courses c
WHERE c.connector_id = %(connector_id)s
  AND NOT EXISTS (SELECT 1 FROM seen s WHERE s.provider_course_id = c.provider_course_id)
  AND NOT EXISTS (SELECT 1 FROM staging.courses u WHERE u.run_id = %(run_id)s AND u.provider_course_id IS NULL);

-- name: analyze_plan
ANALYZE course_plan;

-- name: counts
SELECT
    count(*) AS seen_or_known,
    count(*) FILTER (WHERE is_new) AS created,
    count(*) FILTER (WHERE changed) AS updated,
    count(*) FILTER (WHERE NOT is_new AND cardinality(old_reasons) = 0 AND cardinality(new_reasons) > 0) AS archived,
    count(*) FILTER (WHERE NOT is_new AND cardinality(old_reasons) > 0 AND cardinality(new_reasons) = 0) AS unarchived,
    count(*) FILTER (WHERE is_new AND cardinality(new_reasons) > 0) AS created_archived,
    count(*) FILTER (WHERE cardinality(new_reasons) = 0) AS active_after,
    count(*) FILTER (WHERE NOT is_new AND cardinality(old_reasons) = 0) AS active_before,
    count(*) FILTER (WHERE NOT is_new AND (changed OR new_reasons IS DISTINCT FROM old_reasons)) AS rows_updated
FROM course_plan;

-- name: breaker
-- Courses active before this run that the provider's data would archive
-- (status or removal), against the active catalogue: a glitch that returns a
-- short catalogue must not mass-archive.
SELECT count(*) FILTER (WHERE NOT is_new AND cardinality(old_reasons) = 0
                          AND new_reasons && ARRAY['provider_status', 'removed_by_provider']) AS provider_archivals,
       count(*) FILTER (WHERE NOT is_new AND cardinality(old_reasons) = 0) AS active_before
FROM course_plan;

-- name: breaker_courses
-- The courses the breaker counts, for the approval request: ids bind an
-- approval to exactly this change, titles show it.
SELECT lms_course_id, title
FROM course_plan
WHERE NOT is_new AND cardinality(old_reasons) = 0
  AND new_reasons && ARRAY['provider_status', 'removed_by_provider']
ORDER BY lms_course_id;

-- name: reasons_added
SELECT r AS reason, count(*) AS courses
FROM course_plan, unnest(new_reasons) AS r
WHERE NOT (r = ANY (coalesce(old_reasons, '{}')))
GROUP BY r ORDER BY r;

-- name: reasons_removed
SELECT r AS reason, count(*) AS courses
FROM course_plan, unnest(old_reasons) AS r
WHERE NOT is_new AND NOT (r = ANY (new_reasons))
GROUP BY r ORDER BY r;

-- name: insert_new
INSERT INTO lms.courses (connector_id, provider_course_id, group_id, author_email, title, description,
                         language, provider_status, duration_minutes, launch_url, image_url,
                         provider_updated_at, archive_reasons, last_synced_at, last_run_id)
SELECT %(connector_id)s, provider_course_id, group_id, author_email, title, description, language,
       provider_status, duration_minutes, launch_url, image_url, provider_updated_at, new_reasons,
       %(synced_at)s, %(run_id)s
FROM course_plan WHERE is_new
ORDER BY provider_course_id;

-- name: update_changed
-- Only rows whose provider data or reasons changed are written.
UPDATE lms.courses c
SET group_id = p.group_id, author_email = p.author_email, title = p.title,
    description = p.description, language = p.language, provider_status = p.provider_status,
    duration_minutes = p.duration_minutes, launch_url = p.launch_url, image_url = p.image_url,
    provider_updated_at = p.provider_updated_at, archive_reasons = p.new_reasons,
    updated_at = now(), last_synced_at = %(synced_at)s, last_run_id = %(run_id)s
FROM course_plan p
WHERE c.lms_course_id = p.lms_course_id AND NOT p.is_new
  AND (p.changed OR p.new_reasons IS DISTINCT FROM p.old_reasons);

-- name: add_to_catalogue
-- New courses join the group's catalogue and library; entries are never
-- removed, so a course that comes back finds its place again.
INSERT INTO lms.group_catalogue (group_id, lms_course_id)
SELECT c.group_id, c.lms_course_id FROM lms.courses c
WHERE c.connector_id = %(connector_id)s
  AND NOT EXISTS (SELECT 1 FROM lms.group_catalogue g
                  WHERE g.group_id = c.group_id AND g.lms_course_id = c.lms_course_id);
