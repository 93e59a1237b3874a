-- Named queries on the audit trail. A schedule writes its row inside
-- insert_job / insert_jobs_batch; every other action writes one here.

-- name: insert_audit
-- Without a named actor, the PostgreSQL role the caller connected as; without
-- a tenant, the job's.
INSERT INTO __schema__.audit_log (at, action, surface, actor, tenant_id, target_kind, target_id, job_id, outcome, detail)
VALUES (%(at)s, %(action)s, %(surface)s, coalesce(%(actor)s, session_user::text),
        coalesce(%(tenant_id)s, (SELECT tenant_id FROM __schema__.jobs WHERE id = %(job_id)s), ''),
        %(target_kind)s, %(target_id)s, %(job_id)s, %(outcome)s, %(detail)s);

-- name: list_audit
-- Newest first, keyset-paged on id like the job lists.
SELECT id, at, action, surface, actor, tenant_id, target_kind, target_id, job_id, outcome, detail
FROM __schema__.audit_log
WHERE (%(tenants)s::text[] IS NULL OR tenant_id = ANY(%(tenants)s))
  AND (%(action)s::text IS NULL OR action = %(action)s)
  AND (%(surface)s::text IS NULL OR surface = %(surface)s)
  AND (%(outcome)s::text IS NULL OR outcome = %(outcome)s)
  AND (%(actor)s::text IS NULL OR actor = %(actor)s)
  AND (%(job_id)s::bigint IS NULL OR job_id = %(job_id)s
       OR (target_kind = 'batch' AND target_id = %(batch_id)s::text))
  AND (%(target_kind)s::text IS NULL OR target_kind = %(target_kind)s)
  AND (%(target_id)s::text IS NULL OR target_id = %(target_id)s)
  AND (%(before_id)s::bigint IS NULL OR id < %(before_id)s)
ORDER BY id DESC
LIMIT %(limit)s;

-- name: expire_audit
-- The oldest rows first, through the key: rows arrive in time order, so a
-- batch reads `limit` rows and stops at the first one still kept.
WITH oldest AS (
    SELECT id, at FROM __schema__.audit_log ORDER BY id LIMIT %(limit)s
), removed AS (
    DELETE FROM __schema__.audit_log a USING oldest o
    WHERE a.id = o.id AND o.at < %(cutoff)s
    RETURNING 1
)
SELECT count(*) AS removed FROM removed;
