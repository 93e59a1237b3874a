-- Craft Jobs schema, version 18: a job stored one by one is counted by a row
-- of its own in job_count_deltas (no key, no index: a plain append), and every
-- engine's statistics loop folds those rows into job_counts within seconds
-- (fold_job_count_deltas). Readers add the two, so the counts stay exact at
-- once. The upsert into job_counts it replaces (a unique-index probe, a row
-- lock and a new version of that row) was most of what the counters cost a
-- single enqueue: about 9% of its time beside pgqueuer on asyncpg
-- (bench/insert_parts.py). Batches, claims and outcomes still upsert: one row
-- per key and statement, not per job.
CREATE TABLE __schema__.job_count_deltas (
    state      __schema__.job_state NOT NULL,
    tenant_id  text NOT NULL,
    queue      text NOT NULL,
    job_type   text NOT NULL,
    jobs       bigint NOT NULL
);

CREATE OR REPLACE FUNCTION __schema__.count_truncated_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM __schema__.job_counts;
    DELETE FROM __schema__.job_count_deltas;
    RETURN NULL;
END $$;
