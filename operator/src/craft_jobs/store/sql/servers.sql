-- Named queries on servers (engine and operator replicas) and job types.

-- name: heartbeat_server
INSERT INTO __schema__.servers (id, kind, hostname, pid, worker_count, queues, in_flight, started_at, heartbeat_at)
VALUES (%(id)s, %(kind)s, %(hostname)s, %(pid)s, %(worker_count)s, %(queues)s, %(in_flight)s, %(now)s, %(now)s)
ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, in_flight = excluded.in_flight;

-- name: lock_server
-- A server holds this session lock for as long as its heartbeat connection
-- lasts. rescue_orphans rescues a silent server's jobs only once the lock is
-- free: a heartbeat that is merely late (a busy machine, a stopped process)
-- rescues nothing.
SELECT pg_try_advisory_lock(hashtextextended(%(id)s, 0)) AS locked;

-- name: remove_server
DELETE FROM __schema__.servers WHERE id = %(id)s;

-- name: list_servers
SELECT * FROM __schema__.servers ORDER BY started_at;

-- name: upsert_job_type
INSERT INTO __schema__.job_types (name, parameters_schema, max_attempts, timeout_seconds, updated_at)
VALUES (%(name)s, %(parameters_schema)s, %(max_attempts)s, %(timeout_seconds)s, %(now)s)
ON CONFLICT (name) DO UPDATE SET
    parameters_schema = excluded.parameters_schema, max_attempts = excluded.max_attempts,
    timeout_seconds = excluded.timeout_seconds, updated_at = excluded.updated_at;

-- name: get_job_type
SELECT * FROM __schema__.job_types WHERE name = %(name)s;

-- name: list_job_types
SELECT * FROM __schema__.job_types ORDER BY name;
