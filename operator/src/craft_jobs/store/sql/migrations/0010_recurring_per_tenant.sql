-- Craft Jobs schema, version 10: recurring ids are per tenant. Two tenants may
-- each own a recurring job `nightly`, and a run is found by (tenant, recurring
-- id): a tenant that reuses an id another tenant removed sees none of its runs.
ALTER TABLE __schema__.recurring_jobs DROP CONSTRAINT recurring_jobs_pkey;
ALTER TABLE __schema__.recurring_jobs ADD CONSTRAINT recurring_jobs_pkey PRIMARY KEY (tenant_id, id);
DROP INDEX __schema__.jobs_recurring_idx;
CREATE INDEX jobs_recurring_idx ON __schema__.jobs (tenant_id, recurring_id, id DESC) WHERE recurring_id IS NOT NULL;
