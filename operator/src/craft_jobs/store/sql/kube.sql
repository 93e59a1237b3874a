-- Named queries of the Kubernetes operator (craft_jobs.kube): finding the
-- resources whose .status is behind the store, and jobs of a resource.

-- name: kube_jobs_to_sync
-- Jobs of BackgroundJob resources that changed since the last sync pass; the
-- first pass of an operator also takes every unfinished one.
SELECT __include:kube_job_columns__
FROM __schema__.jobs
WHERE cr_uid IS NOT NULL
  AND (state_changed_at >= %(since)s
       OR (%(include_unfinished)s AND state NOT IN ('Succeeded', 'Deleted')))
ORDER BY state_changed_at, id
LIMIT %(limit)s;

-- name: kube_job_columns
id, state::text AS state, attempt, runs, tenant_id, queue, user_id, started_at, finished_at,
       state_changed_at, last_error, executor_ref, cr_uid, cr_namespace, cr_name

-- name: kube_runs_in_flight
-- For the Held condition (kube/held.py): few rows, over jobs_processing_idx.
SELECT tenant_id, queue, count(*)::int AS running
FROM __schema__.jobs WHERE state = 'Processing'
GROUP BY tenant_id, queue;

-- name: kube_waiting_jobs
-- Waiting jobs of BackgroundJobs that a limit may hold now (their tenant or
-- queue is at its limit), a page at a time after the id `after`.
SELECT __include:kube_job_columns__
FROM __schema__.jobs
WHERE state = 'Enqueued' AND cr_uid IS NOT NULL AND id > %(after)s
  AND (%(every_tenant)s OR tenant_id = ANY(%(tenants)s::text[]) OR queue = ANY(%(queues)s::text[]))
ORDER BY id
LIMIT %(limit)s;

-- name: kube_jobs_by_id
-- Jobs whose status is due again without a change of theirs: a failed patch, a
-- Held condition to release.
SELECT __include:kube_job_columns__
FROM __schema__.jobs
WHERE id = ANY(%(ids)s::bigint[]) AND cr_uid IS NOT NULL;

-- name: kube_recurring_to_sync
-- RecurringJob resources whose row or last fired job changed since the last pass.
SELECT r.*, j.state::text AS last_job_state, j.last_error AS last_job_error,
       greatest(r.updated_at, j.state_changed_at) AS changed_at
FROM __schema__.recurring_jobs r
LEFT JOIN __schema__.jobs j ON j.id = r.last_job_id
WHERE r.cr_uid IS NOT NULL
  AND (%(include_all)s OR r.updated_at >= %(since)s OR j.state_changed_at >= %(since)s)
ORDER BY r.id
LIMIT %(limit)s;

-- name: kube_unfinished_jobs_of_recurring
-- Only the runs of the resource's own schedule: its namespace is part of the id,
-- and an API-made recurring job of the same id in another tenant is not touched.
SELECT id FROM __schema__.jobs
WHERE tenant_id = %(tenant_id)s AND recurring_id = %(recurring_id)s AND cr_namespace = %(namespace)s
  AND state NOT IN ('Succeeded', 'Failed', 'Deleted')
ORDER BY id;

-- name: kube_try_sync_lock
-- One replica at a time writes statuses; held until the pass's transaction ends.
SELECT pg_try_advisory_xact_lock(hashtext(%(key)s)) AS locked;

-- name: kube_recorded_runs
-- Which of these runs (job id, "namespace/name" of its Kubernetes Job) no
-- longer need their Job: the run's outcome is in the history (a requeue by a
-- stopping server is no outcome), or the job is deleted or gone.
SELECT r.job_id, r.ref
FROM unnest(%(ids)s::bigint[], %(refs)s::text[]) AS r(job_id, ref)
WHERE NOT EXISTS (SELECT 1 FROM __schema__.jobs j WHERE j.id = r.job_id AND j.state <> 'Deleted')
   OR EXISTS (SELECT 1 FROM __schema__.job_states s
              WHERE s.job_id = r.job_id AND s.state <> 'Enqueued' AND s.data->>'executor_ref' = r.ref);

-- name: kube_set_job_ref
-- The Kubernetes Job a run adopted from an earlier run ("namespace/name").
UPDATE __schema__.jobs SET executor_ref = %(ref)s WHERE id = %(id)s AND state = 'Processing';

-- name: kube_take_one_shot
-- Claims a one-shot annotation's value of a resource, in the transaction that
-- acts on it; no row back when it is taken already (acted on, not yet removed).
-- A second claimer waits here for the first one's transaction to end.
INSERT INTO __schema__.kube_one_shots (resource_uid, annotation, value, taken_at)
VALUES (%(uid)s, %(annotation)s, %(value)s, %(now)s)
ON CONFLICT DO NOTHING
RETURNING true AS taken;

-- name: kube_forget_one_shot
-- The annotation is removed from the resource: the same value set again later is a new request.
DELETE FROM __schema__.kube_one_shots
WHERE resource_uid = %(uid)s AND annotation = %(annotation)s AND value = %(value)s;

-- name: kube_record_waiting_pod
-- No container of a running job's pod has started yet, and the pod (or the
-- Job's events) says why: the history says so while the start deadline runs.
-- Once per reason and message of a run's Job. (`job`, not `executor_ref`, as
-- for an eviction: this row is no outcome.)
INSERT INTO __schema__.job_states (job_id, state, reason, data, created_at)
SELECT %(id)s, 'Processing', %(reason)s,
       jsonb_build_object('waiting', %(waiting)s::text, 'job', %(ref)s::text), %(now)s
WHERE EXISTS (SELECT 1 FROM __schema__.jobs WHERE id = %(id)s AND state = 'Processing')
  AND NOT EXISTS (SELECT 1 FROM __schema__.job_states
                  WHERE job_id = %(id)s AND data->>'job' = %(ref)s::text AND reason = %(reason)s);

-- name: kube_record_eviction
-- A pod of a running job was evicted and the Job controller replaces it (no
-- attempt used): the work runs again, and the history says so. Once per pod,
-- whatever the watch repeats or a restarted operator sees again. (`job`, not
-- `executor_ref`: this row is no outcome, see kube_recorded_runs.)
INSERT INTO __schema__.job_states (job_id, state, reason, data, created_at)
SELECT %(id)s, 'Processing', %(reason)s,
       jsonb_build_object('evicted_pod', %(pod)s::text, 'job', %(ref)s::text), %(now)s
WHERE EXISTS (SELECT 1 FROM __schema__.jobs WHERE id = %(id)s AND state = 'Processing')
  AND NOT EXISTS (SELECT 1 FROM __schema__.job_states
                  WHERE job_id = %(id)s AND data->>'evicted_pod' = %(pod)s::text);
