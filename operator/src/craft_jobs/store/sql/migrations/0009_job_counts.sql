-- Craft Jobs schema, version 9: exact job counts per state, tenant and queue,
-- kept by every change of a job in the same transaction (triggers, so the
-- engine, the operator, the API, expiry and prune all keep them), so the
-- dashboard sums a few hundred rows instead of counting a million jobs
-- (measured at 1M jobs: ~600 ms a count, which a 2 s cache used to hide).
--
-- A connection adds to rows of its own (`shard` is its backend pid), so
-- concurrent transitions never wait on each other's counter row, and a
-- transaction never waits on a row another one holds (no deadlock); a reader
-- sums the shards. The engine's expiry loop folds the rows of connections that
-- have ended into shard 0 (fold_job_counts).
CREATE TABLE __schema__.job_counts (
    state      __schema__.job_state NOT NULL,
    tenant_id  text NOT NULL,
    queue      text NOT NULL,
    shard      integer NOT NULL,
    jobs       bigint NOT NULL,
    PRIMARY KEY (state, tenant_id, queue, shard)
);

-- Statement-level with transition tables: a batch of a thousand claims costs
-- one grouped upsert, not a thousand. Rows are upserted in key order.
CREATE FUNCTION __schema__.count_inserted_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO __schema__.job_counts AS c (state, tenant_id, queue, shard, jobs)
    SELECT state, tenant_id, queue, pg_backend_pid(), count(*) FROM added_jobs
    GROUP BY state, tenant_id, queue ORDER BY state, tenant_id, queue
    ON CONFLICT (state, tenant_id, queue, shard) DO UPDATE SET jobs = c.jobs + excluded.jobs;
    RETURN NULL;
END $$;

CREATE FUNCTION __schema__.count_deleted_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO __schema__.job_counts AS c (state, tenant_id, queue, shard, jobs)
    SELECT state, tenant_id, queue, pg_backend_pid(), -count(*) FROM removed_jobs
    GROUP BY state, tenant_id, queue ORDER BY state, tenant_id, queue
    ON CONFLICT (state, tenant_id, queue, shard) DO UPDATE SET jobs = c.jobs + excluded.jobs;
    RETURN NULL;
END $$;

CREATE FUNCTION __schema__.count_updated_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH moved AS (
        SELECT o.state AS old_state, o.tenant_id AS old_tenant, o.queue AS old_queue,
               n.state AS new_state, n.tenant_id AS new_tenant, n.queue AS new_queue
        FROM old_jobs o JOIN new_jobs n ON n.id = o.id
        WHERE (o.state, o.tenant_id, o.queue) <> (n.state, n.tenant_id, n.queue)
    ), deltas AS (
        SELECT old_state AS state, old_tenant AS tenant_id, old_queue AS queue, -1 AS delta FROM moved
        UNION ALL
        SELECT new_state, new_tenant, new_queue, 1 FROM moved
    )
    INSERT INTO __schema__.job_counts AS c (state, tenant_id, queue, shard, jobs)
    SELECT state, tenant_id, queue, pg_backend_pid(), sum(delta) FROM deltas
    GROUP BY state, tenant_id, queue HAVING sum(delta) <> 0 ORDER BY state, tenant_id, queue
    ON CONFLICT (state, tenant_id, queue, shard) DO UPDATE SET jobs = c.jobs + excluded.jobs;
    RETURN NULL;
END $$;

CREATE FUNCTION __schema__.count_truncated_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM __schema__.job_counts;
    RETURN NULL;
END $$;

-- No job may change while the existing ones are counted and the triggers created.
LOCK TABLE __schema__.jobs IN SHARE ROW EXCLUSIVE MODE;
INSERT INTO __schema__.job_counts (state, tenant_id, queue, shard, jobs)
SELECT state, tenant_id, queue, 0, count(*) FROM __schema__.jobs GROUP BY state, tenant_id, queue;

CREATE TRIGGER jobs_counted_on_insert AFTER INSERT ON __schema__.jobs
    REFERENCING NEW TABLE AS added_jobs FOR EACH STATEMENT EXECUTE FUNCTION __schema__.count_inserted_jobs();
CREATE TRIGGER jobs_counted_on_update AFTER UPDATE ON __schema__.jobs
    REFERENCING OLD TABLE AS old_jobs NEW TABLE AS new_jobs FOR EACH STATEMENT
    EXECUTE FUNCTION __schema__.count_updated_jobs();
CREATE TRIGGER jobs_counted_on_delete AFTER DELETE ON __schema__.jobs
    REFERENCING OLD TABLE AS removed_jobs FOR EACH STATEMENT EXECUTE FUNCTION __schema__.count_deleted_jobs();
CREATE TRIGGER jobs_counted_on_truncate AFTER TRUNCATE ON __schema__.jobs
    FOR EACH STATEMENT EXECUTE FUNCTION __schema__.count_truncated_jobs();
