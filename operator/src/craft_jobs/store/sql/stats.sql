-- Read-only queries behind the dashboard, the REST API's views and /metrics.
-- A tenant scope is `%(tenants)s`: NULL sees every tenant, an array only those.
-- Every list is keyset-paginated on id, newest first, so a page costs the same
-- at job 50 and at job 1,000,000.

-- name: in_tenant_scope
(%(tenants)s::text[] IS NULL OR tenant_id = ANY(%(tenants)s))

-- name: counted_jobs
-- The counters every change of a job keeps (migration 0009), with the counts
-- of single inserts not folded in yet (migration 0018): a few rows per state,
-- tenant, queue and job type, and the last seconds' inserts.
(SELECT state, tenant_id, job_type, jobs FROM __schema__.job_counts
 UNION ALL
 SELECT state, tenant_id, job_type, jobs FROM __schema__.job_count_deltas) AS counted

-- name: stats_state_counts
-- Exact at once, whatever the number of jobs.
SELECT state::text AS state, sum(jobs)::bigint AS count FROM __include:counted_jobs__
WHERE __include:in_tenant_scope__
GROUP BY state;

-- name: summary_columns
-- One row of a job list (JobSummary): no full payload, a preview instead.
id, job_type, queue, state::text AS state, tenant_id, user_id, attempt, runs, max_attempts,
created_at, state_changed_at, run_at, started_at, finished_at, recurring_id, parent_id,
left(parameters::text, 200) AS parameters_preview,
last_error->>'type' AS error_type, left(last_error->>'message', 300) AS error_message

-- name: in_job_filter
-- A list's filters besides state and text: tenant scope, job type, queue.
(%(tenants)s::text[] IS NULL OR tenant_id = ANY(%(tenants)s))
AND (%(job_type)s::text IS NULL OR job_type = %(job_type)s)
AND (%(queue)s::text IS NULL OR queue = %(queue)s)

-- name: stats_list_jobs
-- Page numbers are an OFFSET on the same keyset order: page 100 of 50 reads
-- 5,000 index entries, bounded by what a person clicks through.
SELECT __include:summary_columns__
FROM __schema__.jobs
WHERE (%(state)s::__schema__.job_state IS NULL OR state = %(state)s::__schema__.job_state)
  AND (%(tenants)s::text[] IS NULL OR tenant_id = ANY(%(tenants)s))
  AND (%(job_type)s::text IS NULL OR job_type = %(job_type)s)
  AND (%(queue)s::text IS NULL OR queue = %(queue)s)
  AND (%(before_id)s::bigint IS NULL OR id < %(before_id)s)
ORDER BY id DESC
LIMIT %(limit)s OFFSET %(offset)s;

-- name: stats_search_jobs
-- Text search reads at most `scan_limit` jobs of the selection per call, newest
-- first, and says how far it got, so a rare word costs a bounded scan and the
-- caller continues from `scanned_to`. One row per hit; with no hit, one row
-- with NULL job columns that still carries the scan figures.
WITH scanned AS MATERIALIZED (
    SELECT id, parameters, last_error FROM __schema__.jobs
    WHERE (%(state)s::__schema__.job_state IS NULL OR state = %(state)s::__schema__.job_state)
      AND (%(tenants)s::text[] IS NULL OR tenant_id = ANY(%(tenants)s))
      AND (%(job_type)s::text IS NULL OR job_type = %(job_type)s)
      AND (%(queue)s::text IS NULL OR queue = %(queue)s)
      AND (%(before_id)s::bigint IS NULL OR id < %(before_id)s)
    ORDER BY id DESC
    LIMIT %(scan_limit)s
), hits AS (
    SELECT id FROM scanned
    WHERE parameters::text ILIKE %(pattern)s OR coalesce(last_error::text, '') ILIKE %(pattern)s
    ORDER BY id DESC
    LIMIT %(limit)s
), scan AS (
    SELECT count(*) AS scanned, min(id) AS scanned_to FROM scanned
)
SELECT scan.scanned, scan.scanned_to,
       j.id, j.job_type, j.queue, j.state::text AS state, j.tenant_id, j.user_id, j.attempt, j.runs,
       j.max_attempts, j.created_at, j.state_changed_at, j.run_at, j.started_at, j.finished_at, j.recurring_id,
       j.parent_id, left(j.parameters::text, 200) AS parameters_preview,
       j.last_error->>'type' AS error_type, left(j.last_error->>'message', 300) AS error_message
FROM scan
LEFT JOIN (hits JOIN __schema__.jobs j ON j.id = hits.id) ON true
ORDER BY j.id DESC NULLS LAST;

-- name: stats_continuations
SELECT __include:summary_columns__
FROM __schema__.jobs
WHERE parent_id = %(id)s
ORDER BY id
LIMIT %(limit)s;

-- name: stats_scheduled_by
-- The jobs a job scheduled while it ran (context.scheduler).
SELECT id, job_type, queue, state::text AS state, tenant_id, user_id, attempt, runs, max_attempts,
       created_at, state_changed_at, run_at, finished_at, recurring_id, parent_id,
       left(parameters::text, 200) AS parameters_preview,
       last_error->>'type' AS error_type, left(last_error->>'message', 300) AS error_message
FROM __schema__.jobs
WHERE scheduled_by_job_id = %(id)s
ORDER BY id
LIMIT %(limit)s;

-- name: stats_place_in_line
-- Claims are fair across tenants (claim_ctes): a waiting job's place is in its
-- tenant's line, over jobs_enqueued_idx; its tenant's and its queue's runs in
-- flight tell whether a concurrency limit holds it.
SELECT (SELECT count(*) FROM __schema__.jobs
        WHERE state = 'Enqueued' AND tenant_id = %(tenant_id)s AND id <= %(id)s) AS place,
       (SELECT count(*) FROM __schema__.jobs
        WHERE state = 'Enqueued' AND tenant_id = %(tenant_id)s) AS waiting,
       (SELECT count(*) FROM __schema__.jobs
        WHERE state = 'Processing' AND tenant_id = %(tenant_id)s) AS running,
       (SELECT count(*) FROM __schema__.jobs
        WHERE state = 'Processing' AND queue = %(queue)s) AS queue_running;

-- name: stats_recurring_runs
SELECT __include:summary_columns__
FROM __schema__.jobs
WHERE tenant_id = %(tenant_id)s AND recurring_id = %(id)s
ORDER BY id DESC
LIMIT %(limit)s OFFSET %(offset)s;

-- name: stats_recurring_run_count
-- How many jobs a recurring job fired that still exist, counted up to `cap`
-- through jobs_recurring_idx.
SELECT count(*) AS count FROM (
    SELECT 1 FROM __schema__.jobs WHERE tenant_id = %(tenant_id)s AND recurring_id = %(id)s LIMIT %(cap)s
) fired;

-- name: custom_plans_only
-- For a statement whose `%(tenants)s IS NULL OR ...` must be planned with the
-- value known: a generic plan (psycopg prepares a statement run five times)
-- cannot use a tenant index for it and reads the whole state instead.
SET LOCAL plan_cache_mode = force_custom_plan;

-- name: in_type_and_queue
(%(job_type)s::text IS NULL OR job_type = %(job_type)s) AND (%(queue)s::text IS NULL OR queue = %(queue)s)

-- name: stats_filtered_counts
-- Jobs per state under a list's job type and queue filters, read from at most
-- `scan` jobs of each state in the tenant scope (which its indexes cover): no
-- index covers type, queue and tenant together, so an exact count could read a
-- million rows. No ORDER BY: a sort would read the whole state first. The
-- caller scales a partial sample up by the state's total. Written out per
-- state for the partial indexes, as in stats_state_counts.
SELECT 'Awaiting' AS state, count(*) AS scanned, count(*) FILTER (WHERE __include:in_type_and_queue__) AS matched
FROM (SELECT job_type, queue FROM __schema__.jobs WHERE state = 'Awaiting' AND __include:in_tenant_scope__ LIMIT %(scan)s) sample
UNION ALL
SELECT 'Scheduled', count(*), count(*) FILTER (WHERE __include:in_type_and_queue__)
FROM (SELECT job_type, queue FROM __schema__.jobs WHERE state = 'Scheduled' AND __include:in_tenant_scope__ LIMIT %(scan)s) sample
UNION ALL
SELECT 'Enqueued', count(*), count(*) FILTER (WHERE __include:in_type_and_queue__)
FROM (SELECT job_type, queue FROM __schema__.jobs WHERE state = 'Enqueued' AND __include:in_tenant_scope__ LIMIT %(scan)s) sample
UNION ALL
SELECT 'Processing', count(*), count(*) FILTER (WHERE __include:in_type_and_queue__)
FROM (SELECT job_type, queue FROM __schema__.jobs WHERE state = 'Processing' AND __include:in_tenant_scope__ LIMIT %(scan)s) sample
UNION ALL
SELECT 'Succeeded', count(*), count(*) FILTER (WHERE __include:in_type_and_queue__)
FROM (SELECT job_type, queue FROM __schema__.jobs WHERE state = 'Succeeded' AND __include:in_tenant_scope__ LIMIT %(scan)s) sample
UNION ALL
SELECT 'Failed', count(*), count(*) FILTER (WHERE __include:in_type_and_queue__)
FROM (SELECT job_type, queue FROM __schema__.jobs WHERE state = 'Failed' AND __include:in_tenant_scope__ LIMIT %(scan)s) sample
UNION ALL
SELECT 'Deleted', count(*), count(*) FILTER (WHERE __include:in_type_and_queue__)
FROM (SELECT job_type, queue FROM __schema__.jobs WHERE state = 'Deleted' AND __include:in_tenant_scope__ LIMIT %(scan)s) sample;

-- name: stats_list_retries
-- Jobs waiting for a retry: Scheduled after a failed run (attempt > 0), the
-- next to run first, through jobs_scheduled_idx (run_at).
SELECT __include:summary_columns__
FROM __schema__.jobs
WHERE state = 'Scheduled' AND attempt > 0 AND __include:in_job_filter__
ORDER BY run_at, id
LIMIT %(limit)s OFFSET %(offset)s;

-- name: stats_retry_count
SELECT count(*) AS count FROM (
    SELECT 1 FROM __schema__.jobs WHERE state = 'Scheduled' AND attempt > 0 AND __include:in_job_filter__
    LIMIT %(cap)s
) waiting;

-- name: stats_queues
-- Per queue and tenant: jobs waiting, the oldest waiting job's enqueue time,
-- jobs running. One branch per state, each through its partial index, so it
-- costs the backlog, not the history (`state IN (...)` would read every row).
SELECT queue, tenant_id, sum(enqueued)::bigint AS enqueued, min(oldest) AS oldest_enqueued_at,
       sum(processing)::bigint AS processing
FROM (
    SELECT queue, tenant_id, count(*) AS enqueued, min(coalesce(enqueued_at, created_at)) AS oldest, 0 AS processing
    FROM __schema__.jobs WHERE state = 'Enqueued' AND __include:in_tenant_scope__
    GROUP BY queue, tenant_id
    UNION ALL
    SELECT queue, tenant_id, 0, NULL, count(*)
    FROM __schema__.jobs WHERE state = 'Processing' AND __include:in_tenant_scope__
    GROUP BY queue, tenant_id
) per_state
GROUP BY queue, tenant_id
ORDER BY queue, tenant_id;

-- name: stats_throughput_by_minute
-- Succeeded and failed transitions per minute (in UTC),
-- zero-filled. Read from the state history, not the jobs' current state, so a
-- later requeue or delete does not rewrite a past minute: a job that failed,
-- was requeued and then succeeded counts once in each. Outcome rows carry the
-- job's tenant, so the index alone answers, narrowed scope or not.
WITH buckets AS (
    SELECT generate_series(date_trunc(%(unit)s, %(since)s::timestamptz, 'UTC'),
                           date_trunc(%(unit)s, %(until)s::timestamptz, 'UTC'),
                           ('1 ' || %(unit)s)::interval) AS bucket
), finished AS (
    SELECT date_trunc(%(unit)s, s.created_at, 'UTC') AS bucket, s.state
    FROM __schema__.job_states s
    WHERE s.state IN ('Succeeded', 'Failed')
      AND s.created_at >= date_trunc(%(unit)s, %(since)s::timestamptz, 'UTC')
      AND s.created_at <= %(until)s
      AND (%(tenants)s::text[] IS NULL OR s.tenant_id = ANY(%(tenants)s))
)
SELECT b.bucket,
       count(f.state) FILTER (WHERE f.state = 'Succeeded') AS succeeded,
       count(f.state) FILTER (WHERE f.state = 'Failed') AS failed
FROM buckets b LEFT JOIN finished f ON f.bucket = b.bucket
GROUP BY b.bucket
ORDER BY b.bucket;

-- name: stats_throughput_by_hour
-- The same per hour: closed hours from job_outcomes (rolled up from this same
-- history by the engine, migration 0009), and from the history's outcome index
-- only the hours after the roll-up's mark (the current one, and any the engine
-- has not rolled up yet), so a day costs an hour's scan, not a day's.
WITH mark AS (
    SELECT coalesce((SELECT rolled_up_to FROM __schema__.job_outcomes_mark), '-infinity') AS rolled_up_to
), buckets AS (
    SELECT generate_series(date_trunc('hour', %(since)s::timestamptz, 'UTC'),
                           date_trunc('hour', %(until)s::timestamptz, 'UTC'), interval '1 hour') AS bucket
), finished AS (
    SELECT o.hour AS bucket, o.state, o.jobs FROM __schema__.job_outcomes o, mark
    WHERE o.hour >= date_trunc('hour', %(since)s::timestamptz, 'UTC') AND o.hour < mark.rolled_up_to
      AND (%(tenants)s::text[] IS NULL OR o.tenant_id = ANY(%(tenants)s))
    UNION ALL
    SELECT date_trunc('hour', s.created_at, 'UTC'), s.state, 1 FROM __schema__.job_states s
    WHERE s.state IN ('Succeeded', 'Failed')
      AND s.created_at >= greatest(date_trunc('hour', %(since)s::timestamptz, 'UTC'), (SELECT rolled_up_to FROM mark))
      AND s.created_at <= %(until)s
      AND (%(tenants)s::text[] IS NULL OR s.tenant_id = ANY(%(tenants)s))
)
SELECT b.bucket,
       coalesce(sum(f.jobs) FILTER (WHERE f.state = 'Succeeded'), 0)::bigint AS succeeded,
       coalesce(sum(f.jobs) FILTER (WHERE f.state = 'Failed'), 0)::bigint AS failed
FROM buckets b LEFT JOIN finished f ON f.bucket = b.bucket
GROUP BY b.bucket
ORDER BY b.bucket;

-- name: stats_durations
-- Processing time and wait between enqueue and start, per job type, over the
-- newest `sample` jobs finished since `since` (bounded cost at any volume).
WITH recent AS (
    SELECT job_type,
           extract(epoch FROM finished_at - started_at)::float8 AS run_seconds,
           extract(epoch FROM started_at - enqueued_at)::float8 AS wait_seconds
    FROM __schema__.jobs
    WHERE finished_at IS NOT NULL AND finished_at >= %(since)s
      AND state IN ('Succeeded', 'Failed') AND started_at IS NOT NULL
      AND (%(tenants)s::text[] IS NULL OR tenant_id = ANY(%(tenants)s))
    ORDER BY finished_at DESC
    LIMIT %(sample)s
)
SELECT job_type, count(*) AS executions,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY run_seconds) AS run_p50,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY run_seconds) AS run_p95,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY run_seconds) AS run_p99,
       max(run_seconds) AS run_max,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY wait_seconds) AS wait_p50,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY wait_seconds) AS wait_p95
FROM recent
GROUP BY job_type
ORDER BY job_type;

-- name: stats_tenants
-- Tenants that own jobs (from the job counters: exact, and a few hundred rows
-- where a loose index scan of the jobs took seconds at 1M), or so far only
-- recurring jobs.
SELECT tenant_id FROM __include:counted_jobs__ GROUP BY tenant_id HAVING sum(jobs) > 0
UNION
SELECT tenant_id FROM __schema__.recurring_jobs
ORDER BY tenant_id;

-- name: stats_job_types
-- Job types of stored jobs (from the job counters), or registered by a worker.
SELECT job_type FROM __include:counted_jobs__ GROUP BY job_type HAVING sum(jobs) > 0
UNION
SELECT name FROM __schema__.job_types
ORDER BY job_type;

-- name: stats_list_recurring
SELECT r.*, j.state::text AS last_job_state
FROM __schema__.recurring_jobs r
LEFT JOIN __schema__.jobs j ON j.id = r.last_job_id
WHERE (%(tenants)s::text[] IS NULL OR r.tenant_id = ANY(%(tenants)s))
ORDER BY r.id, r.tenant_id;

-- name: stats_ready
-- The readiness probe: the database answers and the schema is migrated.
SELECT to_regclass(%(jobs_table)s) IS NOT NULL AS migrated;

-- name: metric_history_since
-- Transitions recorded after `after` (a job_states id), oldest first. For each
-- end of a run: its duration; for each start: its wait since enqueue. The
-- caller stops at the first row younger than a few seconds, so a transaction
-- that commits late is not skipped.
SELECT s.id, s.state::text AS state, s.created_at, coalesce(j.job_type, 'unknown') AS job_type,
       CASE WHEN s.state = 'Processing' THEN
           extract(epoch FROM s.created_at - (
               SELECT e.created_at FROM __schema__.job_states e
               WHERE e.job_id = s.job_id AND e.id < s.id AND e.state = 'Enqueued'
               ORDER BY e.id DESC LIMIT 1))::float8
       END AS wait_seconds,
       CASE WHEN s.state IN ('Succeeded', 'Failed', 'Scheduled') AND s.server_id IS NOT NULL THEN
           extract(epoch FROM s.created_at - (
               SELECT p.created_at FROM __schema__.job_states p
               WHERE p.job_id = s.job_id AND p.id < s.id AND p.state = 'Processing'
               ORDER BY p.id DESC LIMIT 1))::float8
       END AS run_seconds
FROM __schema__.job_states s
LEFT JOIN __schema__.jobs j ON j.id = s.job_id
WHERE s.id > %(after)s
ORDER BY s.id
LIMIT %(limit)s;

-- name: metric_last_history_id
SELECT coalesce(max(id), 0) AS id FROM __schema__.job_states;
