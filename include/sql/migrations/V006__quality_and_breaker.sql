-- Row rules run on typed staging rows, so progress rows keep the provider's
-- course id; runs record whether the mass-archive breaker was overridden.
ALTER TABLE staging.progress ADD COLUMN provider_course_id text;
ALTER TABLE ops.sync_runs ADD COLUMN override_mass_archive boolean NOT NULL DEFAULT false;
