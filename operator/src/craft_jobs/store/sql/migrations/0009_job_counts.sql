-- Craft Jobs schema, version 9: what the dashboard counts, without reading a
-- million jobs (measured at 1M jobs: ~600 ms for the counts, 7-12 s for the
-- lists of tenants and job types, 200-400 ms for the day's chart, which a 2 s
-- cache used to hide):
-- - job_counts: jobs per state, tenant, queue and job type, kept in the
--   transaction of every change: by the two statements that insert jobs
--   (insert_job, insert_jobs_batch: an INSERT trigger cost a single enqueue
--   ~150 µs of database CPU), and by triggers on UPDATE, DELETE and TRUNCATE,
--   so every other change is counted, whoever makes it (engine, operator, API,
--   expiry, prune, plain SQL): exact at once. A job inserted by plain SQL,
--   not through Craft Jobs, is not counted.
-- - job_outcomes: Succeeded and Failed transitions of the history per closed
--   hour and tenant, rolled up by the engine's expiry loop
--   (roll_up_outcomes, the first time for the last 7 days); the day's chart
--   reads those hours and the history's outcome index only after
--   `job_outcomes_mark.rolled_up_to` (all of it until the first roll-up).
--
-- In job_counts a connection adds to rows of its own (`shard` is its backend
-- pid), so concurrent transitions never wait on each other's counter rows and
-- never deadlock on them; a reader sums the shards. The expiry loop folds the
-- rows of connections that have ended into shard 0 (fold_job_counts).
CREATE TABLE __schema__.job_counts (
    state      __schema__.job_state NOT NULL,
    tenant_id  text NOT NULL,
    queue      text NOT NULL,
    job_type   text NOT NULL,
    shard      integer NOT NULL,
    jobs       bigint NOT NULL,
    PRIMARY KEY (state, tenant_id, queue, job_type, shard)
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
    RETURN NULL;
END $$;

-- No job may change while the stored ones are counted and the triggers created.
LOCK TABLE __schema__.jobs IN SHARE ROW EXCLUSIVE MODE;
INSERT INTO __schema__.job_counts (state, tenant_id, queue, job_type, shard, jobs)
SELECT state, tenant_id, queue, job_type, 0, count(*) FROM __schema__.jobs GROUP BY state, tenant_id, queue, job_type;

CREATE TRIGGER jobs_counted_on_update AFTER UPDATE ON __schema__.jobs
    REFERENCING OLD TABLE AS old_jobs NEW TABLE AS new_jobs FOR EACH STATEMENT
    EXECUTE FUNCTION __schema__.count_updated_jobs();
CREATE TRIGGER jobs_counted_on_delete AFTER DELETE ON __schema__.jobs
    REFERENCING OLD TABLE AS removed_jobs FOR EACH STATEMENT EXECUTE FUNCTION __schema__.count_deleted_jobs();
CREATE TRIGGER jobs_counted_on_truncate AFTER TRUNCATE ON __schema__.jobs
    FOR EACH STATEMENT EXECUTE FUNCTION __schema__.count_truncated_jobs();
