-- Authoritative full schema of the current version. Migrations under
-- migrations/ must build the same database (tests/integration/store/test_migrations.py).


CREATE TYPE __schema__.job_state AS ENUM
    ('Awaiting', 'Scheduled', 'Enqueued', 'Processing', 'Succeeded', 'Failed', 'Deleted');

CREATE TABLE __schema__.jobs (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_type          text NOT NULL,
    queue             text NOT NULL DEFAULT 'default',
    state             __schema__.job_state NOT NULL,
    parameters        jsonb NOT NULL,
    tenant_id         text NOT NULL DEFAULT '',
    user_id           text,
    metadata          jsonb NOT NULL DEFAULT '{}',
    -- 0-based retry attempt of the current or next run; `runs` counts every
    -- execution (requeues and rescues included) and names Kubernetes Jobs.
    attempt           integer NOT NULL DEFAULT 0,
    runs              integer NOT NULL DEFAULT 0,
    max_attempts      integer NOT NULL,
    retry_policy      jsonb,
    timeout_seconds   integer,
    image             text,
    run_at            timestamptz,
    scheduled_for     timestamptz NOT NULL,
    created_at        timestamptz NOT NULL,
    enqueued_at       timestamptz,
    started_at        timestamptz,
    finished_at       timestamptz,
    state_changed_at  timestamptz NOT NULL,
    expires_at        timestamptz,
    server_id         text,
    executor_ref      text,
    recurring_id      text,
    parent_id         bigint REFERENCES __schema__.jobs (id) ON DELETE SET NULL,
    continuation_on   text,
    batch_id          uuid,
    cr_uid            text,
    cr_namespace      text,
    cr_name           text,
    last_error        jsonb,
    -- The running job that scheduled it (context.scheduler; version 12). No
    -- foreign key: that job may expire first.
    scheduled_by_job_id bigint
    -- No CHECK constraints (versions 5 and 17 say why): the tests check the
    -- rows they leave instead (tests/support/invariants.py).
);

CREATE UNIQUE INDEX jobs_cr_uid_idx ON __schema__.jobs (cr_uid) WHERE cr_uid IS NOT NULL;
CREATE INDEX jobs_enqueued_idx ON __schema__.jobs (tenant_id, id) WHERE state = 'Enqueued';
CREATE INDEX jobs_scheduled_idx ON __schema__.jobs (run_at) WHERE state = 'Scheduled';
CREATE INDEX jobs_processing_idx ON __schema__.jobs (server_id) WHERE state = 'Processing';
CREATE INDEX jobs_awaiting_idx ON __schema__.jobs (parent_id) WHERE state = 'Awaiting';
CREATE INDEX jobs_expires_idx ON __schema__.jobs (expires_at) WHERE expires_at IS NOT NULL;
-- Version 10: a recurring job's runs are found within its tenant.
CREATE INDEX jobs_recurring_idx ON __schema__.jobs (tenant_id, recurring_id, id DESC) WHERE recurring_id IS NOT NULL;
CREATE INDEX jobs_parent_idx ON __schema__.jobs (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX jobs_cr_name_idx ON __schema__.jobs (cr_namespace, cr_name) WHERE cr_name IS NOT NULL;
CREATE INDEX jobs_scheduled_by_idx ON __schema__.jobs (scheduled_by_job_id, id)
    WHERE scheduled_by_job_id IS NOT NULL;

-- Every transition, with who/why/when. No foreign key: the expiry removes a
-- job's history with it, and the insert path stays cheap.
CREATE TABLE __schema__.job_states (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id      bigint NOT NULL,
    state       __schema__.job_state NOT NULL,
    reason      text,
    data        jsonb,
    server_id   text,
    created_at  timestamptz NOT NULL,
    -- The job's tenant, on the rows that record a run's outcome (version 8):
    -- the chart filters by it without a lookup per row.
    tenant_id   text
);
CREATE INDEX job_states_job_idx ON __schema__.job_states (job_id, id);
-- Version 8: the dashboard's succeeded/failed chart counts these transitions
-- by time; covering, and only the two final outcomes, so claims and retries
-- pay no extra index write.
CREATE INDEX job_states_outcome_idx ON __schema__.job_states (created_at) INCLUDE (state, tenant_id)
    WHERE state IN ('Succeeded', 'Failed');

CREATE TABLE __schema__.recurring_jobs (
    id                         text NOT NULL CHECK (length(id) BETWEEN 1 AND 253),
    job_type                   text NOT NULL,
    queue                      text NOT NULL DEFAULT 'default',
    parameters                 jsonb NOT NULL,
    tenant_id                  text NOT NULL DEFAULT '',
    user_id                    text,
    metadata                   jsonb NOT NULL DEFAULT '{}',
    max_attempts               integer NOT NULL CHECK (max_attempts BETWEEN 0 AND 10),
    retry_policy               jsonb,
    timeout_seconds            integer CHECK (timeout_seconds > 0),
    image                      text,
    cron                       text,
    interval_minutes           integer CHECK (interval_minutes BETWEEN 1 AND 525600),
    time_zone                  text NOT NULL DEFAULT 'UTC',
    concurrency_policy         text NOT NULL DEFAULT 'Allow'
                               CHECK (concurrency_policy IN ('Allow', 'Forbid', 'Replace')),
    starting_deadline_seconds  integer CHECK (starting_deadline_seconds >= 0),
    paused                     boolean NOT NULL DEFAULT false,
    anchor_at                  timestamptz NOT NULL,
    next_run_at                timestamptz,
    last_run_at                timestamptz,
    last_job_id                bigint,
    schedule_error             text,
    created_at                 timestamptz NOT NULL,
    updated_at                 timestamptz NOT NULL,
    cr_uid                     text UNIQUE,
    cr_namespace               text,
    cr_name                    text,
    CONSTRAINT one_schedule CHECK ((cron IS NULL) <> (interval_minutes IS NULL)),
    -- Version 10: ids are per tenant.
    CONSTRAINT recurring_jobs_pkey PRIMARY KEY (tenant_id, id)
);
CREATE INDEX recurring_due_idx ON __schema__.recurring_jobs (next_run_at) WHERE NOT paused;

CREATE TABLE __schema__.servers (
    id            text PRIMARY KEY,
    kind          text NOT NULL,
    hostname      text NOT NULL,
    pid           integer NOT NULL,
    worker_count  integer NOT NULL,
    queues        text[],
    in_flight     integer NOT NULL DEFAULT 0,
    started_at    timestamptz NOT NULL,
    heartbeat_at  timestamptz NOT NULL
);

-- What each job type accepts, registered by processes that import the job
-- classes, so that a process without them (API, operator) can validate input.
CREATE TABLE __schema__.job_types (
    name               text PRIMARY KEY,
    parameters_schema  jsonb NOT NULL,
    max_attempts       integer CHECK (max_attempts BETWEEN 0 AND 10),
    timeout_seconds    integer,
    updated_at         timestamptz NOT NULL
);

-- Version 2 (migrations/0002_dashboard.sql): indexes behind the dashboard.
-- Job lists by state, tenant or job type, newest first (keyset on id); also
-- counts per state. Final states only (version 4): each working state has its
-- own partial index above, and keeping the hot states out saves index writes
-- on every enqueue and claim.
CREATE INDEX jobs_state_id_idx ON __schema__.jobs (state, id DESC)
    WHERE state IN ('Succeeded', 'Failed', 'Deleted');
CREATE INDEX jobs_tenant_state_id_idx ON __schema__.jobs (tenant_id, state, id DESC)
    WHERE state IN ('Succeeded', 'Failed', 'Deleted');
CREATE INDEX jobs_type_state_id_idx ON __schema__.jobs (job_type, state, id DESC)
    WHERE state IN ('Succeeded', 'Failed', 'Deleted');
-- Recent outcomes: succeeded/failed per minute and per hour, processing-time
-- percentiles. Covering, so the charts read the index alone.
CREATE INDEX jobs_finished_idx ON __schema__.jobs (finished_at) INCLUDE (state, tenant_id)
    WHERE finished_at IS NOT NULL;

-- Version 3: the operator's status sync.
CREATE INDEX jobs_cr_changed_idx ON __schema__.jobs (state_changed_at) WHERE cr_uid IS NOT NULL;

-- Version 6: the secret the operator signs its Kubernetes objects with.
CREATE TABLE __schema__.installation (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    id           text NOT NULL,
    signing_key  text NOT NULL,
    created_at   timestamptz NOT NULL
);

-- Version 7: one-shot annotations the operator has acted on but not removed yet.
CREATE TABLE __schema__.kube_one_shots (
    resource_uid  text NOT NULL,
    annotation    text NOT NULL,
    value         text NOT NULL,
    taken_at      timestamptz NOT NULL,
    PRIMARY KEY (resource_uid, annotation, value)
);


-- Version 9: jobs per state, tenant, queue and job type, kept in the
-- transaction of every change (by the insert statements, and by triggers on
-- update, delete and truncate; a connection adds to rows of its own,
-- shard = its backend pid; readers sum the shards; the expiry loop folds the
-- rows of ended connections into shard 0), and the history's outcomes per
-- closed hour, rolled up by the expiry loop (migration 0009 says why).
CREATE TABLE __schema__.job_counts (
    state      __schema__.job_state NOT NULL,
    tenant_id  text NOT NULL,
    queue      text NOT NULL,
    job_type   text NOT NULL,
    shard      integer NOT NULL,
    jobs       bigint NOT NULL,
    PRIMARY KEY (state, tenant_id, queue, job_type, shard)
);

-- Version 18: a job stored one by one is counted here, by an append, and
-- folded into job_counts within seconds (migrations/0018_job_count_deltas.sql
-- says why); readers add the two.
CREATE TABLE __schema__.job_count_deltas (
    state      __schema__.job_state NOT NULL,
    tenant_id  text NOT NULL,
    queue      text NOT NULL,
    job_type   text NOT NULL,
    jobs       bigint NOT NULL
);

CREATE TABLE __schema__.job_outcomes (
    hour       timestamptz NOT NULL,
    tenant_id  text NOT NULL,
    state      __schema__.job_state NOT NULL,
    jobs       bigint NOT NULL,
    PRIMARY KEY (hour, tenant_id, state)
);

CREATE TABLE __schema__.job_outcomes_mark (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    -- Hours before this one are in job_outcomes.
    rolled_up_to  timestamptz NOT NULL
);

-- Statement-level with transition tables: a batch of a thousand claims costs
-- one grouped upsert, not a thousand; an update is counted as its old rows
-- out and its new rows in (no join: rows whose key did not change cancel
-- out). Rows are upserted in key order.
CREATE FUNCTION __schema__.count_deleted_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO __schema__.job_counts AS c (state, tenant_id, queue, job_type, shard, jobs)
    SELECT state, tenant_id, queue, job_type, pg_backend_pid(), -count(*) FROM removed_jobs
    GROUP BY state, tenant_id, queue, job_type ORDER BY state, tenant_id, queue, job_type
    ON CONFLICT (state, tenant_id, queue, job_type, shard) DO UPDATE SET jobs = c.jobs + excluded.jobs;
    RETURN NULL;
END $$;

CREATE FUNCTION __schema__.count_updated_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO __schema__.job_counts AS c (state, tenant_id, queue, job_type, shard, jobs)
    SELECT state, tenant_id, queue, job_type, pg_backend_pid(), sum(delta) FROM (
        SELECT state, tenant_id, queue, job_type, -1 AS delta FROM old_jobs
        UNION ALL
        SELECT state, tenant_id, queue, job_type, 1 FROM new_jobs
    ) AS moved
    GROUP BY state, tenant_id, queue, job_type HAVING sum(delta) <> 0 ORDER BY state, tenant_id, queue, job_type
    ON CONFLICT (state, tenant_id, queue, job_type, shard) DO UPDATE SET jobs = c.jobs + excluded.jobs;
    RETURN NULL;
END $$;

CREATE FUNCTION __schema__.count_truncated_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM __schema__.job_counts;
    DELETE FROM __schema__.job_count_deltas;
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_counted_on_update AFTER UPDATE ON __schema__.jobs
    REFERENCING OLD TABLE AS old_jobs NEW TABLE AS new_jobs FOR EACH STATEMENT
    EXECUTE FUNCTION __schema__.count_updated_jobs();
CREATE TRIGGER jobs_counted_on_delete AFTER DELETE ON __schema__.jobs
    REFERENCING OLD TABLE AS removed_jobs FOR EACH STATEMENT EXECUTE FUNCTION __schema__.count_deleted_jobs();
CREATE TRIGGER jobs_counted_on_truncate AFTER TRUNCATE ON __schema__.jobs
    FOR EACH STATEMENT EXECUTE FUNCTION __schema__.count_truncated_jobs();

-- Version 11: the audit trail (migrations/0011_audit_log.sql says why so few
-- indexes; 0015 why no checks: its values come from Python enums).
CREATE TABLE __schema__.audit_log (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL,
    action       text NOT NULL,
    surface      text NOT NULL,
    actor        text,
    tenant_id    text NOT NULL DEFAULT '',
    target_kind  text NOT NULL,
    target_id    text,
    job_id       bigint,
    outcome      text NOT NULL,
    detail       text
);
CREATE INDEX audit_log_tenant_idx ON __schema__.audit_log (tenant_id, id DESC);
CREATE INDEX audit_log_job_idx ON __schema__.audit_log (job_id) WHERE job_id IS NOT NULL;
CREATE INDEX audit_log_batch_idx ON __schema__.audit_log (target_id) WHERE target_kind = 'batch';

-- Version 13: the room a tenant or queue with a concurrency limit has left,
-- for the claim statement (migrations/0013_concurrency_room.sql says why).
CREATE FUNCTION __schema__.tenant_room(limits jsonb, tenant text) RETURNS bigint
LANGUAGE sql STABLE STRICT AS $$
    SELECT coalesce(limits ->> tenant, limits ->> '*')::bigint - count(*)
    FROM __schema__.jobs WHERE state = 'Processing' AND tenant_id = tenant
$$;
CREATE FUNCTION __schema__.queue_room(limits jsonb, queue_name text) RETURNS bigint
LANGUAGE sql STABLE STRICT AS $$
    SELECT (limits ->> queue_name)::bigint - count(*)
    FROM __schema__.jobs WHERE state = 'Processing' AND queue = queue_name AND limits ? queue_name
$$;

-- Version 14: a tenant's runs in flight, which orders the claim (fewest
-- first; migrations/0014_fewest_running_first.sql says why).
CREATE FUNCTION __schema__.tenant_running(tenant text) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(jobs), 0)::bigint FROM __schema__.job_counts
    WHERE state = 'Processing' AND tenant_id = tenant
$$;

-- Version 16: a tenant's room in a claim, bounded by its room on the claiming
-- engine too (migrations/0016_room_on_the_engine.sql says why).
CREATE FUNCTION __schema__.tenant_room(limits jsonb, engine_rooms jsonb, tenant text) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT least(__schema__.tenant_room(limits, tenant),
                 coalesce(engine_rooms ->> tenant, engine_rooms ->> '*')::bigint)
$$;
