-- Craft Jobs schema, version 4: the dashboard's state indexes cover final
-- states only. Enqueued, Scheduled, Processing and Awaiting jobs each have a
-- partial index of their own; leaving them out of these three saves three
-- index writes on every enqueue and every claim, and stops the planner from
-- walking a whole state through (state, id) when statistics taken a moment ago
-- say that state is nearly empty.
DROP INDEX __schema__.jobs_state_id_idx;
DROP INDEX __schema__.jobs_tenant_state_id_idx;
DROP INDEX __schema__.jobs_type_state_id_idx;
CREATE INDEX jobs_state_id_idx ON __schema__.jobs (state, id DESC)
    WHERE state IN ('Succeeded', 'Failed', 'Deleted');
CREATE INDEX jobs_tenant_state_id_idx ON __schema__.jobs (tenant_id, state, id DESC)
    WHERE state IN ('Succeeded', 'Failed', 'Deleted');
CREATE INDEX jobs_type_state_id_idx ON __schema__.jobs (job_type, state, id DESC)
    WHERE state IN ('Succeeded', 'Failed', 'Deleted');
