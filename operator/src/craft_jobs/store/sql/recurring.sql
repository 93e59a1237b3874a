-- Named queries on recurring jobs.

-- name: upsert_recurring
INSERT INTO __schema__.recurring_jobs (
    id, job_type, queue, parameters, tenant_id, user_id, metadata, max_attempts,
    retry_policy, timeout_seconds, image, cron, interval_minutes, time_zone,
    concurrency_policy, starting_deadline_seconds, paused, anchor_at, next_run_at,
    created_at, updated_at, cr_uid, cr_namespace, cr_name)
VALUES (
    %(id)s, %(job_type)s, %(queue)s, %(parameters)s, %(tenant_id)s, %(user_id)s, %(metadata)s,
    %(max_attempts)s, %(retry_policy)s, %(timeout_seconds)s, %(image)s, %(cron)s,
    %(interval_minutes)s, %(time_zone)s, %(concurrency_policy)s, %(starting_deadline_seconds)s,
    %(paused)s, %(now)s, %(next_run_at)s, %(now)s, %(now)s, %(cr_uid)s, %(cr_namespace)s, %(cr_name)s)
ON CONFLICT (tenant_id, id) DO UPDATE SET
    job_type = excluded.job_type, queue = excluded.queue, parameters = excluded.parameters,
    user_id = excluded.user_id, metadata = excluded.metadata,
    max_attempts = excluded.max_attempts, retry_policy = excluded.retry_policy,
    timeout_seconds = excluded.timeout_seconds, image = excluded.image, cron = excluded.cron,
    interval_minutes = excluded.interval_minutes, time_zone = excluded.time_zone,
    concurrency_policy = excluded.concurrency_policy,
    starting_deadline_seconds = excluded.starting_deadline_seconds, paused = excluded.paused,
    -- A changed schedule starts from now; an unchanged one keeps its slot.
    anchor_at = CASE WHEN recurring_jobs.cron IS NOT DISTINCT FROM excluded.cron
                      AND recurring_jobs.interval_minutes IS NOT DISTINCT FROM excluded.interval_minutes
                      AND recurring_jobs.time_zone = excluded.time_zone
                     THEN recurring_jobs.anchor_at ELSE excluded.anchor_at END,
    next_run_at = CASE WHEN recurring_jobs.cron IS NOT DISTINCT FROM excluded.cron
                        AND recurring_jobs.interval_minutes IS NOT DISTINCT FROM excluded.interval_minutes
                        AND recurring_jobs.time_zone = excluded.time_zone
                        AND recurring_jobs.next_run_at IS NOT NULL
                       THEN recurring_jobs.next_run_at ELSE excluded.next_run_at END,
    schedule_error = NULL, updated_at = excluded.updated_at,
    cr_uid = excluded.cr_uid, cr_namespace = excluded.cr_namespace, cr_name = excluded.cr_name
RETURNING *;

-- name: get_recurring
-- Ids are per tenant: without a tenant, a second row means the id is ambiguous.
SELECT * FROM __schema__.recurring_jobs
WHERE id = %(id)s AND (%(tenants)s::text[] IS NULL OR tenant_id = ANY(%(tenants)s))
ORDER BY tenant_id
LIMIT 2;

-- name: lock_recurring
SELECT * FROM __schema__.recurring_jobs
WHERE tenant_id = %(tenant_id)s AND id = %(id)s
FOR UPDATE;

-- name: list_recurring
SELECT r.*, j.state::text AS last_job_state
FROM __schema__.recurring_jobs r
LEFT JOIN __schema__.jobs j ON j.id = r.last_job_id
WHERE (%(tenant_id)s::text IS NULL OR r.tenant_id = %(tenant_id)s)
ORDER BY r.id, r.tenant_id;

-- name: lock_due_recurring
-- Row locks make one engine fire a slot; the others skip the row.
SELECT * FROM __schema__.recurring_jobs
WHERE NOT paused AND next_run_at <= %(now)s
ORDER BY next_run_at LIMIT %(limit)s
FOR UPDATE SKIP LOCKED;

-- name: record_recurring_fire
UPDATE __schema__.recurring_jobs
SET next_run_at = %(next_run_at)s,
    last_run_at = coalesce(%(last_run_at)s, last_run_at),
    last_job_id = coalesce(%(last_job_id)s, last_job_id),
    schedule_error = %(schedule_error)s,
    updated_at = %(now)s
WHERE tenant_id = %(tenant_id)s AND id = %(id)s;

-- name: set_recurring_paused
UPDATE __schema__.recurring_jobs
SET paused = %(paused)s, updated_at = %(now)s,
    next_run_at = CASE WHEN %(paused)s THEN next_run_at ELSE %(next_run_at)s END
WHERE tenant_id = %(tenant_id)s AND id = %(id)s
RETURNING id;

-- name: delete_recurring
DELETE FROM __schema__.recurring_jobs
WHERE tenant_id = %(tenant_id)s AND id = %(id)s
RETURNING id;

-- name: notify
SELECT pg_notify(%(channel)s, %(payload)s);
