-- Craft Jobs schema, version 8: the dashboard's succeeded/failed chart is
-- built from the state history (a requeue no longer erases a past failure).
-- Outcome rows carry the job's tenant, so a tenant's chart needs no lookup
-- per row (measured at 1M jobs: 330 ms with one, the hour chart), and those
-- transitions are indexed by time. Covering, and only the two final outcomes,
-- so claims and retries pay no extra index write.
ALTER TABLE __schema__.job_states ADD COLUMN tenant_id text;
UPDATE __schema__.job_states s SET tenant_id = j.tenant_id
FROM __schema__.jobs j
WHERE j.id = s.job_id AND s.state IN ('Succeeded', 'Failed');
CREATE INDEX job_states_outcome_idx ON __schema__.job_states (created_at) INCLUDE (state, tenant_id)
    WHERE state IN ('Succeeded', 'Failed');
