-- Named queries of the Kubernetes operator (craft_jobs.kube): finding the
-- resources whose .status is behind the store, and jobs of a resource.

-- name: kube_jobs_to_sync
-- Jobs of BackgroundJob resources that changed since the last sync pass; the
-- first pass of an operator also takes every unfinished one.
SELECT id, state::text AS state, attempt, runs, tenant_id, user_id, started_at, finished_at,
       state_changed_at, last_error, cr_uid, cr_namespace, cr_name
FROM __schema__.jobs
WHERE cr_uid IS NOT NULL
  AND (state_changed_at >= %(since)s
       OR (%(include_unfinished)s AND state NOT IN ('Succeeded', 'Deleted')))
ORDER BY state_changed_at, id
LIMIT %(limit)s;

-- name: kube_recurring_to_sync
-- RecurringJob resources whose row or last fired job changed since the last pass.
SELECT r.*, j.state::text AS last_job_state,
       greatest(r.updated_at, j.state_changed_at) AS changed_at
FROM __schema__.recurring_jobs r
LEFT JOIN __schema__.jobs j ON j.id = r.last_job_id
WHERE r.cr_uid IS NOT NULL
  AND (%(include_all)s OR r.updated_at >= %(since)s OR j.state_changed_at >= %(since)s)
ORDER BY r.id
LIMIT %(limit)s;

-- name: kube_unfinished_jobs_of_recurring
SELECT id FROM __schema__.jobs
WHERE recurring_id = %(recurring_id)s AND state NOT IN ('Succeeded', 'Failed', 'Deleted')
ORDER BY id;

-- name: kube_try_sync_lock
-- One replica at a time writes statuses; held until the pass's transaction ends.
SELECT pg_try_advisory_xact_lock(hashtext(%(key)s)) AS locked;
