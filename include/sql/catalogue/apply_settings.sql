-- Apply the admin's settings to the catalogue without calling the provider.
-- Only language_filter and connector_deactivated move; provider-driven
-- reasons stay, so a course the provider archives never reappears.
-- Parameters: connector_id, languages (text[]), enabled.

-- name: plan
CREATE TEMP TABLE settings_plan ON COMMIT DROP AS
SELECT lms_course_id, title, language, archive_reasons AS old_reasons,
       lms.reason_set(lms.provider_reasons(archive_reasons)
                      || lms.settings_reasons(language, %(languages)s::text[], %(enabled)s)) AS new_reasons
FROM lms.courses
WHERE connector_id = %(connector_id)s;

-- name: changes
SELECT count(*) FILTER (WHERE cardinality(old_reasons) = 0 AND cardinality(new_reasons) > 0) AS archived,
       count(*) FILTER (WHERE cardinality(old_reasons) > 0 AND cardinality(new_reasons) = 0) AS unarchived,
       count(*) FILTER (WHERE new_reasons <> old_reasons) AS rows_changed,
       count(*) FILTER (WHERE cardinality(new_reasons) = 0) AS active_after
FROM settings_plan;

-- name: samples
-- A few titles of each kind of change, for the log and the dry-run report.
SELECT kind, (array_agg(title ORDER BY lms_course_id))[1:5] AS titles
FROM (
    SELECT CASE WHEN cardinality(new_reasons) > 0 THEN 'archived' ELSE 'unarchived' END AS kind, title, lms_course_id
    FROM settings_plan
    WHERE (cardinality(old_reasons) = 0) <> (cardinality(new_reasons) = 0)
) t
GROUP BY kind;

-- name: apply
UPDATE lms.courses c
SET archive_reasons = p.new_reasons, updated_at = now()
FROM settings_plan p
WHERE c.lms_course_id = p.lms_course_id AND p.new_reasons <> p.old_reasons;
