-- The archive reasons that come from the admin's settings, in one place for
-- the daily merge and the apply-settings action: a course's reasons are its
-- provider-driven ones plus these.
CREATE FUNCTION lms.settings_reasons(course_language text, languages text[], enabled boolean)
RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT lms.reason_set(ARRAY[
        CASE WHEN cardinality(languages) > 0 AND NOT (course_language = ANY (languages))
             THEN 'language_filter' END,
        CASE WHEN NOT enabled THEN 'connector_deactivated' END])
$$;

-- The provider-driven part of a course's reasons (kept by a settings change).
CREATE FUNCTION lms.provider_reasons(reasons text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT lms.reason_set(array_remove(array_remove(reasons, 'language_filter'), 'connector_deactivated'))
$$;
