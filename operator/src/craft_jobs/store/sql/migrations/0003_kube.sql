-- Craft Jobs schema, version 3: the operator's status sync reads the jobs of
-- BackgroundJob resources that changed since its last pass.
CREATE INDEX jobs_cr_changed_idx ON __schema__.jobs (state_changed_at) WHERE cr_uid IS NOT NULL;
