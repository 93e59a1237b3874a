-- Craft Jobs schema, version 11: the audit trail. Who (Kubernetes user or API
-- principal), tenant, surface, time, target and outcome of every schedule,
-- trigger, requeue, delete, pause, resume, apply and login, refusals included.
-- Few indexes, as a schedule writes its row in the job's own statement: the
-- key (also the expiry's order: rows arrive in time order), a tenant's newest
-- rows, and a job's rows for its page. A batch is one row (one schedule call),
-- found from its jobs' batch_id: a row per job cost a batch a third of its speed.
CREATE TABLE __schema__.audit_log (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL,
    action       text NOT NULL CHECK (action IN ('schedule', 'trigger', 'requeue', 'delete', 'pause', 'resume', 'apply', 'login')),
    surface      text NOT NULL CHECK (surface IN ('kubectl', 'sdk', 'api', 'dashboard', 'cli')),
    actor        text,
    tenant_id    text NOT NULL DEFAULT '',
    target_kind  text NOT NULL CHECK (target_kind IN ('job', 'batch', 'recurring', 'session')),
    target_id    text,
    job_id       bigint,
    outcome      text NOT NULL CHECK (outcome IN ('ok', 'refused', 'not_found')),
    detail       text
);
CREATE INDEX audit_log_tenant_idx ON __schema__.audit_log (tenant_id, id DESC);
CREATE INDEX audit_log_job_idx ON __schema__.audit_log (job_id) WHERE job_id IS NOT NULL;
CREATE INDEX audit_log_batch_idx ON __schema__.audit_log (target_id) WHERE target_kind = 'batch';
