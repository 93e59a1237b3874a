-- Craft Jobs schema, version 2: indexes behind the dashboard's lists and charts.

-- Job lists filtered by tenant or by job type, newest first (keyset on id);
-- also counts per state inside a tenant scope.
CREATE INDEX jobs_tenant_state_id_idx ON __schema__.jobs (tenant_id, state, id DESC);
CREATE INDEX jobs_type_state_id_idx ON __schema__.jobs (job_type, state, id DESC);
-- Recent outcomes: succeeded/failed per minute and per hour, processing-time
-- percentiles. Covering, so the charts read the index alone.
CREATE INDEX jobs_finished_idx ON __schema__.jobs (finished_at) INCLUDE (state, tenant_id)
    WHERE finished_at IS NOT NULL;
