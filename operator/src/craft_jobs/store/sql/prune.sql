-- `craft-jobs prune`: remove a state's jobs older than a cutoff, with their
-- history (the seed's clean-up DELETE left the history rows behind).

-- name: prune_preview
SELECT j.job_type, count(*) AS jobs, sum(h.rows) AS history_rows, min(j.id) AS first_id, max(j.id) AS last_id
FROM __schema__.jobs j
CROSS JOIN LATERAL (SELECT count(*) AS rows FROM __schema__.job_states s WHERE s.job_id = j.id) h
WHERE j.state = %(state)s::__schema__.job_state AND j.state_changed_at < %(cutoff)s
  AND (%(tenant_id)s::text IS NULL OR j.tenant_id = %(tenant_id)s)
GROUP BY j.job_type
ORDER BY count(*) DESC, j.job_type;

-- name: prune_jobs
-- The state and cutoff are checked again here, under the row lock: a job
-- requeued since the preview is kept.
WITH doomed AS (
    SELECT id FROM __schema__.jobs
    WHERE state = %(state)s::__schema__.job_state AND state_changed_at < %(cutoff)s
      AND (%(tenant_id)s::text IS NULL OR tenant_id = %(tenant_id)s)
    ORDER BY id LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), history AS (
    DELETE FROM __schema__.job_states WHERE job_id IN (SELECT id FROM doomed) RETURNING 1
), removed AS (
    DELETE FROM __schema__.jobs WHERE id IN (SELECT id FROM doomed) RETURNING 1
)
SELECT (SELECT count(*) FROM removed) AS jobs, (SELECT count(*) FROM history) AS history_rows;
