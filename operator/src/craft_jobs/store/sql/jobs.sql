-- Named queries on jobs. `__schema__` becomes the quoted schema name at load.
-- Every state change writes its job_states row in the same statement.

-- name: insert_job
-- A job from the SDK, the API, the CLI or a recurring fire: no resource's uid
-- to conflict on. An ON CONFLICT clause costs an insert its speculative
-- insertion even when the uid is NULL (~15 µs of database CPU measured).
WITH job AS (
__include:job_row__
    RETURNING id, state, created_at, tenant_id, queue, job_type
), __include:job_rows_beside__

-- name: insert_job_for_resource
-- A BackgroundJob's: its uid is stored once, whichever operator gets there first.
WITH job AS (
__include:job_row__
    ON CONFLICT (cr_uid) WHERE cr_uid IS NOT NULL DO NOTHING
    RETURNING id, state, created_at, tenant_id, queue, job_type
), __include:job_rows_beside__

-- name: job_row
    INSERT INTO __schema__.jobs (
        job_type, queue, state, parameters, tenant_id, user_id, metadata,
        max_attempts, retry_policy, timeout_seconds, image, run_at, scheduled_for,
        created_at, enqueued_at, state_changed_at, recurring_id, parent_id,
        continuation_on, batch_id, cr_uid, cr_namespace, cr_name, scheduled_by_job_id)
    VALUES (
        %(job_type)s, %(queue)s, %(state)s::__schema__.job_state, %(parameters)s, %(tenant_id)s, %(user_id)s,
        %(metadata)s, %(max_attempts)s, %(retry_policy)s, %(timeout_seconds)s, %(image)s,
        %(run_at)s, %(scheduled_for)s, %(now)s,
        CASE WHEN %(state)s::__schema__.job_state = 'Enqueued' THEN %(now)s::timestamptz END, %(now)s,
        %(recurring_id)s, %(parent_id)s, %(continuation_on)s, %(batch_id)s,
        %(cr_uid)s, %(cr_namespace)s, %(cr_name)s, %(scheduled_by_job_id)s)

-- name: job_rows_beside
-- What insert_job and insert_job_for_resource write beside the job's row.
history AS (
    INSERT INTO __schema__.job_states (job_id, state, reason, created_at)
    SELECT id, state, %(reason)s, created_at FROM job
), audit AS (
    -- A user's schedule is audited in the same statement (none for a recurring fire).
    INSERT INTO __schema__.audit_log (at, action, surface, actor, tenant_id, target_kind, target_id, job_id, outcome)
    SELECT created_at, 'schedule', %(audit_surface)s, coalesce(%(audit_actor)s, session_user::text), %(tenant_id)s,
           'job', id::text, id, 'ok'
    FROM job WHERE %(audit_surface)s::text IS NOT NULL
), counted AS (
    -- The dashboard's job counters (migration 0009), here rather than in a
    -- trigger (which cost a single enqueue ~150 µs of database CPU), and as an
    -- append that the engines fold into job_counts (migration 0018).
    INSERT INTO __schema__.job_count_deltas (state, tenant_id, queue, job_type, jobs)
    SELECT state, tenant_id, queue, job_type, 1 FROM job
)
-- notify: false when the NOTIFY goes out just after the commit (store/notifier.py).
-- Its payload is job_payload's: the state and the tenant ("Enqueued:acme").
SELECT job.id, job.state::text,
       CASE WHEN %(notify)s THEN pg_notify(%(channel)s, job.state::text || ':' || job.tenant_id) END AS notified
FROM job;

-- name: insert_jobs_batch
-- A whole batch in one statement: what varies per job comes as arrays, what
-- the batch shares as single values; one NOTIFY for all (or none, as above).
WITH input AS (
    SELECT * FROM ROWS FROM (
        unnest(%(job_types)s::text[]), jsonb_array_elements(%(parameters)s::jsonb),
        unnest(%(max_attempts)s::int[]), unnest(%(timeouts)s::int[]))
        AS t(job_type, parameters, max_attempts, timeout_seconds)
), job AS (
    INSERT INTO __schema__.jobs (
        job_type, queue, state, parameters, tenant_id, user_id, metadata, max_attempts,
        retry_policy, timeout_seconds, image, scheduled_for, created_at, enqueued_at,
        state_changed_at, batch_id, scheduled_by_job_id)
    SELECT job_type, %(queue)s, 'Enqueued', parameters, %(tenant_id)s, %(user_id)s,
           %(metadata)s, max_attempts, %(retry_policy)s, timeout_seconds, %(image)s,
           %(now)s, %(now)s, %(now)s, %(now)s, %(batch_id)s, %(scheduled_by_job_id)s
    FROM input
    RETURNING id, state, job_type, tenant_id, queue
), history AS (
    INSERT INTO __schema__.job_states (job_id, state, reason, created_at)
    SELECT id, state, %(reason)s, %(now)s FROM job
), audit AS (
    -- One row for the batch, as it was one call.
    INSERT INTO __schema__.audit_log (at, action, surface, actor, tenant_id, target_kind, target_id, outcome, detail)
    SELECT %(now)s, 'schedule', %(audit_surface)s, coalesce(%(audit_actor)s, session_user::text), %(tenant_id)s,
           'batch', %(batch_id)s::text, 'ok', format('%%s jobs, #%%s to #%%s', b.n, b.first_id, b.last_id)
    FROM (SELECT count(*) AS n, min(id) AS first_id, max(id) AS last_id FROM job) AS b
    WHERE %(audit_surface)s::text IS NOT NULL AND b.n > 0
), counted AS (
    -- The job counters, as in insert_job.
    INSERT INTO __schema__.job_counts AS c (state, tenant_id, queue, job_type, shard, jobs)
    SELECT state, tenant_id, queue, job_type, pg_backend_pid(), count(*) FROM job
    GROUP BY state, tenant_id, queue, job_type ORDER BY state, tenant_id, queue, job_type
    ON CONFLICT (state, tenant_id, queue, job_type, shard) DO UPDATE SET jobs = c.jobs + excluded.jobs
), notified AS (
    SELECT pg_notify(%(channel)s, 'Enqueued') FROM (SELECT 1 FROM job LIMIT 1) AS any_job WHERE %(notify)s
)
SELECT job.id FROM job, (SELECT count(*) FROM notified) AS n ORDER BY job.id;

-- name: installation
-- The installation's id and signing key, made by the first
-- process that asks (operators sign their Kubernetes objects, and every engine
-- its runs' credentials, with keys derived from it).
WITH made AS (
    INSERT INTO __schema__.installation (id, signing_key, created_at)
    VALUES (%(id)s, %(signing_key)s, %(now)s)
    ON CONFLICT (singleton) DO NOTHING
    RETURNING id, signing_key
)
SELECT id, signing_key FROM made
UNION ALL
SELECT id, signing_key FROM __schema__.installation WHERE NOT EXISTS (SELECT 1 FROM made);

-- name: run_in_progress
SELECT 1 FROM __schema__.jobs WHERE id = %(id)s AND runs = %(run)s AND state = 'Processing';

-- name: get_job
SELECT * FROM __schema__.jobs WHERE id = %(id)s AND (%(tenant_id)s::text IS NULL OR tenant_id = %(tenant_id)s);

-- name: get_job_by_cr_uid
SELECT * FROM __schema__.jobs WHERE cr_uid = %(cr_uid)s;

-- name: job_history
SELECT * FROM __schema__.job_states WHERE job_id = %(id)s ORDER BY id;

-- name: list_jobs
-- Keyset pagination, newest first.
SELECT * FROM __schema__.jobs
WHERE (%(state)s::__schema__.job_state IS NULL OR state = %(state)s::__schema__.job_state)
  AND (%(tenant_id)s::text IS NULL OR tenant_id = %(tenant_id)s)
  AND (%(job_type)s::text IS NULL OR job_type = %(job_type)s)
  AND (%(before_id)s::bigint IS NULL OR id < %(before_id)s)
ORDER BY id DESC
LIMIT %(limit)s;

-- name: claim_ctes
-- Fair across tenants: the oldest jobs of every tenant are ranked by their
-- place in that tenant's line, after the runs the tenant has in flight, so
-- one tenant's backlog or its running jobs cannot starve another.
-- The tenants are found by a loose index scan over jobs_enqueued_idx.
-- (The CTEs of a claim: claim_jobs and finish_and_claim include them.)
tenants AS (
    (SELECT tenant_id FROM __schema__.jobs WHERE state = 'Enqueued' ORDER BY tenant_id LIMIT 1)
    UNION ALL
    SELECT (SELECT j.tenant_id FROM __schema__.jobs j
            WHERE j.state = 'Enqueued' AND j.tenant_id > t.tenant_id
            ORDER BY j.tenant_id LIMIT 1)
    FROM tenants t WHERE t.tenant_id IS NOT NULL
), candidates AS (
    -- A job's place: its place in its tenant's line plus the tenant's runs in
    -- flight, so a freed slot goes to the tenant with the fewest (migration 0014).
    SELECT c.id, c.queue, row_number() OVER (PARTITION BY t.tenant_id ORDER BY c.id) + r.running AS place
    FROM tenants t
    CROSS JOIN LATERAL (SELECT __schema__.tenant_running(t.tenant_id) AS running) r
    CROSS JOIN LATERAL (
        -- The tenant's range of jobs_enqueued_idx, written as row comparisons
        -- rather than tenant_id = t.tenant_id: with an equality the planner
        -- may walk the primary key instead and filter, which looks as cheap
        -- while statistics still count the rows claimed since the last
        -- ANALYZE as Enqueued, and then skips more finished rows every claim.
        SELECT j.id, j.queue FROM __schema__.jobs j
        WHERE j.state = 'Enqueued'
          AND (j.tenant_id, j.id) > (t.tenant_id, 0::bigint)
          AND (j.tenant_id, j.id) <= (t.tenant_id, 9223372036854775807::bigint)
          AND (%(queues)s::text[] IS NULL OR j.queue = ANY(%(queues)s))
        -- Four times the claim's size: another claim in flight (a second
        -- engine) holds this tenant's oldest jobs locked, and `picked` must
        -- find unlocked ones behind them rather than come back empty. A
        -- tenant with a concurrency limit gets no more than its room
        -- (migration 0013; claims then take turns under the store's
        -- advisory lock, so its count of runs in flight is current), nor
        -- more than its room on this engine (migration 0016).
        ORDER BY j.tenant_id, j.id
        LIMIT greatest(0, least(4 * %(limit)s,
                                __schema__.tenant_room(%(tenant_limits)s, %(engine_rooms)s, t.tenant_id)))) c
    WHERE t.tenant_id IS NOT NULL
), ranked AS MATERIALIZED (
    -- A queue with a concurrency limit takes no more candidates, in fair
    -- order, than its room.
    SELECT id, place FROM (
        SELECT *, row_number() OVER (PARTITION BY queue ORDER BY place, id) AS nth FROM candidates) c
    WHERE nth <= coalesce(__schema__.queue_room(%(queue_limits)s, c.queue), nth)
    ORDER BY place, id
), picked AS (
    -- One index probe and lock per candidate, in fair order: the plan stays
    -- the same however many Enqueued or finished rows the table holds.
    SELECT locked.id FROM ranked
    CROSS JOIN LATERAL (
        SELECT j.id FROM __schema__.jobs j
        WHERE j.id = ranked.id AND j.state = 'Enqueued'
        FOR UPDATE OF j SKIP LOCKED) locked
    LIMIT %(limit)s
), claimed AS (
    UPDATE __schema__.jobs j
    SET state = 'Processing', server_id = %(server_id)s, started_at = %(now)s,
        state_changed_at = %(now)s, runs = j.runs + 1, executor_ref = NULL
    -- = ANY(ARRAY(...)) keeps this a primary-key probe per job in the generic
    -- plan too (the LIMIT is a parameter there); a join may become a hash
    -- join over the whole table.
    WHERE j.id = ANY(ARRAY(SELECT id FROM picked))
    RETURNING j.id, j.job_type, j.queue, j.parameters, j.tenant_id, j.user_id, j.metadata,
              j.attempt, j.runs, j.max_attempts, j.retry_policy, j.timeout_seconds, j.image,
              j.scheduled_for, j.created_at, j.started_at, j.recurring_id,
              j.cr_namespace, j.cr_name, j.cr_uid
), claimed_history AS (
    INSERT INTO __schema__.job_states (job_id, state, reason, server_id, created_at, data)
    SELECT id, 'Processing', 'claimed', %(server_id)s, %(now)s,
           jsonb_build_object('attempt', attempt, 'run', runs)
    FROM claimed
), fast_commit AS (
    -- A claim alone need not wait for its WAL flush ('off'): if the server
    -- crashed before it, the job would simply be Enqueued again, as a rescue
    -- does anyway (delivery is at least once). Claimed together with recorded
    -- outcomes, the transaction stays durable ('on').
    SELECT set_config('synchronous_commit', %(synchronous_commit)s, true)
)

-- name: take_claim_turn
-- Any constant will do, as long as every engine takes the same one.
SELECT pg_advisory_xact_lock(4851262017);

-- name: claim_jobs
WITH RECURSIVE __include:claim_ctes__
SELECT claimed.* FROM claimed, fast_commit;

-- name: finish_ctes
-- Outcomes of a batch of runs. Only jobs this server still holds in the run
-- each outcome belongs to change: one deleted, requeued or rescued meanwhile
-- keeps its new state, and a later claim of it (runs + 1, by this server or
-- another) never takes the outcome of an earlier run.
-- (The CTEs of recording outcomes: finish_jobs and finish_and_claim include them.)
input AS (
    SELECT * FROM unnest(
        %(ids)s::bigint[], %(states)s::__schema__.job_state[], %(run_ats)s::timestamptz[],
        %(attempts)s::int[], %(errors)s::jsonb[], %(reasons)s::text[], %(runs)s::int[])
        AS t(id, state, run_at, attempt, error, reason, run)
), finished AS (
    UPDATE __schema__.jobs j
    SET state = input.state,
        run_at = input.run_at,
        attempt = input.attempt,
        last_error = CASE WHEN input.state = 'Succeeded' THEN j.last_error
                          ELSE coalesce(input.error, j.last_error) END,
        finished_at = CASE WHEN input.state IN ('Succeeded', 'Failed', 'Deleted') THEN %(now)s::timestamptz END,
        expires_at = CASE WHEN input.state IN ('Succeeded', 'Deleted') THEN %(expires_at)s::timestamptz END,
        server_id = NULL,
        state_changed_at = %(now)s
    FROM input
    -- A primary-key probe per job. State compared as text so that no state
    -- index looks cheaper: statistics taken while few jobs were Processing
    -- would have the planner walk every Processing job instead.
    WHERE j.id = ANY(%(ids)s::bigint[]) AND j.id = input.id
      AND j.state::text = 'Processing' AND j.server_id = %(server_id)s AND j.runs = input.run
    RETURNING j.id, j.state, j.runs, j.tenant_id
), finished_history AS (
    INSERT INTO __schema__.job_states (job_id, state, reason, data, server_id, created_at, tenant_id)
    SELECT input.id, input.state, input.reason, input.error, %(server_id)s, %(now)s, finished.tenant_id
    FROM input JOIN finished ON finished.id = input.id AND finished.runs = input.run
), timed_work AS (
    -- Wake the engines' timed loops only when there is something for them:
    -- a retry to promote later, or a continuation waiting for one of these jobs.
    SELECT 1 FROM finished WHERE state = 'Scheduled'
    UNION ALL
    SELECT 1 FROM __schema__.jobs c
    WHERE c.parent_id = ANY(ARRAY(SELECT id FROM finished)) AND c.state::text = 'Awaiting'
    LIMIT 1
), finish_notified AS (
    SELECT pg_notify(%(channel)s, 'finished') FROM timed_work
)

-- name: finish_jobs
WITH __include:finish_ctes__
SELECT finished.id, finished.state::text, (SELECT count(*) FROM finish_notified) AS woke FROM finished;

-- name: finish_and_claim
-- Outcomes recorded and the freed slots refilled in one statement: one
-- round trip and one commit. The two touch different rows (Processing
-- jobs of this server, Enqueued jobs). One row per claimed job, each
-- carrying the outcomes' result; a single row of NULL job columns when
-- nothing was claimed.
WITH RECURSIVE __include:finish_ctes__, __include:claim_ctes__
SELECT outcome.finished_ids, outcome.finished_states, outcome.woke, next.*
FROM (SELECT array_agg(id) AS finished_ids, array_agg(state::text) AS finished_states,
             (SELECT count(*) FROM finish_notified) AS woke
      FROM finished) AS outcome
LEFT JOIN (SELECT claimed.* FROM claimed, fast_commit) AS next ON true;

-- name: set_executor_ref
UPDATE __schema__.jobs SET executor_ref = %(executor_ref)s
WHERE id = %(id)s AND state = 'Processing' AND server_id = %(server_id)s;

-- name: promote_due_jobs
WITH due AS (
    SELECT id FROM __schema__.jobs
    WHERE state = 'Scheduled' AND run_at <= %(now)s
    ORDER BY run_at LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), promoted AS (
    UPDATE __schema__.jobs j
    SET state = 'Enqueued', enqueued_at = %(now)s, state_changed_at = %(now)s
    FROM due WHERE j.id = due.id
    RETURNING j.id
), history AS (
    INSERT INTO __schema__.job_states (job_id, state, reason, created_at)
    SELECT id, 'Enqueued', 'due', %(now)s FROM promoted
), notified AS (
    SELECT pg_notify(%(channel)s, 'Enqueued') FROM (SELECT 1 FROM promoted LIMIT 1) AS any_job
)
SELECT count(*) AS promoted FROM promoted, (SELECT count(*) FROM notified) AS n;

-- name: next_due_time
SELECT least(
    (SELECT min(run_at) FROM __schema__.jobs WHERE state = 'Scheduled'),
    (SELECT min(next_run_at) FROM __schema__.recurring_jobs WHERE NOT paused)) AS due;

-- name: release_continuations
-- A continuation runs when its parent meets its condition; one whose
-- condition can no longer be met (parent deleted, on=Succeeded) is deleted.
WITH ready AS (
    SELECT c.id,
           CASE WHEN p.state = 'Succeeded' OR (c.continuation_on = 'Finished' AND p.state = 'Deleted')
                THEN 'Enqueued' ELSE 'Deleted' END::__schema__.job_state AS target,
           p.id AS parent_id, p.state AS parent_state
    FROM __schema__.jobs c JOIN __schema__.jobs p ON p.id = c.parent_id
    WHERE c.state = 'Awaiting' AND p.state IN ('Succeeded', 'Deleted')
    ORDER BY c.id LIMIT %(limit)s
    FOR UPDATE OF c SKIP LOCKED
), released AS (
    UPDATE __schema__.jobs j
    SET state = ready.target, state_changed_at = %(now)s,
        enqueued_at = CASE WHEN ready.target = 'Enqueued' THEN %(now)s::timestamptz END,
        finished_at = CASE WHEN ready.target = 'Deleted' THEN %(now)s::timestamptz END,
        expires_at = CASE WHEN ready.target = 'Deleted' THEN %(expires_at)s::timestamptz END
    FROM ready WHERE j.id = ready.id
    RETURNING j.id, j.state
), history AS (
    INSERT INTO __schema__.job_states (job_id, state, reason, created_at)
    SELECT ready.id, ready.target,
           CASE WHEN ready.target = 'Enqueued'
                THEN format('parent job %%s is %%s', ready.parent_id, ready.parent_state)
                ELSE format('parent job %%s was deleted, so it can never succeed', ready.parent_id) END,
           %(now)s
    FROM ready JOIN released ON released.id = ready.id
), notified AS (
    SELECT pg_notify(%(channel)s, 'Enqueued')
    FROM (SELECT 1 FROM released WHERE state = 'Enqueued' LIMIT 1) AS any_job
)
SELECT count(*) AS released FROM released, (SELECT count(*) FROM notified) AS n;

-- name: change_state
-- Delete or requeue one job from any state (Hangfire's semantics). A job
-- taken away from a running execution gets a cancel notification. Deleting a
-- Deleted job changes nothing (no second history row, no later expiry) but
-- still returns its previous state, so the caller knows it exists.
WITH target AS (
    SELECT id, state, server_id FROM __schema__.jobs
    WHERE id = %(id)s AND (%(tenant_id)s::text IS NULL OR tenant_id = %(tenant_id)s)
    FOR UPDATE
), changed AS (
    UPDATE __schema__.jobs j
    SET state = %(state)s::__schema__.job_state, state_changed_at = %(now)s, server_id = NULL, run_at = NULL,
        attempt = CASE WHEN %(reset_attempts)s THEN 0 ELSE j.attempt END,
        enqueued_at = CASE WHEN %(state)s::__schema__.job_state = 'Enqueued' THEN %(now)s::timestamptz ELSE j.enqueued_at END,
        finished_at = CASE WHEN %(state)s::__schema__.job_state = 'Deleted' THEN %(now)s::timestamptz ELSE NULL END,
        expires_at = CASE WHEN %(state)s::__schema__.job_state = 'Deleted' THEN %(expires_at)s::timestamptz END
    FROM target WHERE j.id = target.id
      AND NOT (target.state = 'Deleted' AND %(state)s::__schema__.job_state = 'Deleted')
    RETURNING j.id, target.state::text AS previous_state, target.server_id AS previous_server
), history AS (
    INSERT INTO __schema__.job_states (job_id, state, reason, data, created_at)
    SELECT id, %(state)s::__schema__.job_state, %(reason)s,
           jsonb_build_object('previous_state', previous_state, 'by', %(actor)s::text), %(now)s
    FROM changed
), notified AS (
    SELECT pg_notify(%(channel)s, CASE WHEN previous_state = 'Processing'
                                       THEN 'cancel:' || id ELSE %(state)s::__schema__.job_state::text END)
    FROM changed
)
SELECT target.id, target.state::text AS previous_state FROM target, (SELECT count(*) FROM notified) AS n;

-- name: rescue_orphans
-- Processing jobs of a lost server go back to the queue. Lost: silent (its
-- heartbeat older than the timeout, or its row gone) and its session over (its
-- lock, servers.sql lock_server, is free). A silent server whose session
-- lives may still be running its jobs: those wait. Only a rescuer whose own
-- heartbeat is current (since %(alive_after)s) judges: one that was cut off
-- itself would see everyone silent, itself included (engine/heartbeat.py).
WITH rescuer AS (
    SELECT 1 FROM __schema__.servers WHERE id = %(server_id)s AND heartbeat_at >= %(alive_after)s
), silent AS (
    SELECT id FROM __schema__.servers WHERE heartbeat_at < %(deadline)s
    UNION
    SELECT j.server_id FROM __schema__.jobs j
    WHERE j.state = 'Processing'
      AND NOT EXISTS (SELECT 1 FROM __schema__.servers s WHERE s.id = j.server_id)
), dead AS (
    SELECT id FROM silent
    WHERE EXISTS (SELECT 1 FROM rescuer) AND pg_try_advisory_xact_lock(hashtextextended(id, 0))
), orphans AS (
    SELECT j.id, j.server_id FROM __schema__.jobs j
    WHERE j.state = 'Processing' AND j.server_id IN (SELECT id FROM dead)
    FOR UPDATE OF j SKIP LOCKED
), rescued AS (
    UPDATE __schema__.jobs j
    SET state = 'Enqueued', server_id = NULL, enqueued_at = %(now)s, state_changed_at = %(now)s
    FROM orphans WHERE j.id = orphans.id
    RETURNING j.id, orphans.server_id AS lost_server
), history AS (
    INSERT INTO __schema__.job_states (job_id, state, reason, data, server_id, created_at)
    SELECT id, 'Enqueued', 'rescued: its server stopped heartbeating',
           jsonb_build_object('lost_server', lost_server), %(server_id)s, %(now)s
    FROM rescued
), gone AS (
    DELETE FROM __schema__.servers WHERE id IN (SELECT id FROM dead)
), notified AS (
    SELECT pg_notify(%(channel)s, 'Enqueued') FROM (SELECT 1 FROM rescued LIMIT 1) AS any_job
)
SELECT count(*) AS rescued FROM rescued, (SELECT count(*) FROM notified) AS n;

-- name: expire_jobs
WITH doomed AS (
    SELECT id FROM __schema__.jobs WHERE expires_at <= %(now)s
    ORDER BY expires_at LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), history AS (
    DELETE FROM __schema__.job_states WHERE job_id IN (SELECT id FROM doomed)
), removed AS (
    DELETE FROM __schema__.jobs WHERE id IN (SELECT id FROM doomed) RETURNING id
)
SELECT count(*) AS expired FROM removed;

-- name: jobs_statistics_stale
-- True when jobs holds more than twice the rows its statistics know of (and
-- over 1,000): a burst into a new or small table, which autovacuum, looking
-- once a minute, analyzes late. Until then the planner takes a tenant's line
-- of 10,000 for a handful of rows and reads all of it on every claim
-- (bench/tenant_fairness.py: claims of 5-6 ms instead of 1.5-2). Rows that
-- only change state do not count: the claim's plans hold with those
-- statistics (tests/integration/store/test_query_plans.py).
SELECT coalesce(s.n_live_tup > greatest(1000, 2 * c.reltuples), false) AS stale
FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE c.oid = '__schema__.jobs'::regclass;

-- name: analyze_jobs
-- SKIP_LOCKED: another engine analyzing the table already is enough.
ANALYZE (SKIP_LOCKED) __schema__.jobs;

-- name: fold_job_counts
-- Moves the counters of connections that have ended into shard 0, so that
-- job_counts stays as small as the live connections make it. SKIP LOCKED: a row
-- a new connection with a reused pid is writing waits for the next fold.
WITH gone AS (
    DELETE FROM __schema__.job_counts
    WHERE (state, tenant_id, queue, job_type, shard) IN (
        SELECT state, tenant_id, queue, job_type, shard FROM __schema__.job_counts
        WHERE shard <> 0 AND shard NOT IN (SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL)
        FOR UPDATE SKIP LOCKED)
    RETURNING state, tenant_id, queue, job_type, jobs
), __include:gone_into_shard_zero__;

-- name: gone_into_shard_zero
-- What a fold took out (`gone`), added to shard 0 of job_counts.
folded AS (
    INSERT INTO __schema__.job_counts AS c (state, tenant_id, queue, job_type, shard, jobs)
    SELECT state, tenant_id, queue, job_type, 0, sum(jobs) FROM gone
    GROUP BY state, tenant_id, queue, job_type ORDER BY state, tenant_id, queue, job_type
    ON CONFLICT (state, tenant_id, queue, job_type, shard) DO UPDATE SET jobs = c.jobs + excluded.jobs
)
SELECT count(*) AS folded FROM gone;

-- name: fold_job_count_deltas
-- Moves the counts appended by single inserts (migration 0018) into shard 0 of
-- job_counts, in one statement: a reader sees them in one table or the other,
-- never in both. SKIP LOCKED: rows another engine is folding are its to fold.
-- In batches of %(limit)s, so that a backlog (no engine ran for a while) is
-- folded in short transactions.
WITH gone AS (
    DELETE FROM __schema__.job_count_deltas
    WHERE ctid = ANY(ARRAY(SELECT ctid FROM __schema__.job_count_deltas LIMIT %(limit)s FOR UPDATE SKIP LOCKED))
    RETURNING state, tenant_id, queue, job_type, jobs
), __include:gone_into_shard_zero__;

-- name: roll_up_outcomes
-- Adds the history's Succeeded and Failed rows of the hours closed since the
-- mark (a minute after each hour's end: an outcome is written with its
-- statement's clock and commits at once) to job_outcomes, moves the mark, and
-- drops hours older than `kept_since`. The mark's row lock makes a second
-- engine doing the same wait, then find nothing left to add.
WITH mark AS (
    SELECT greatest(rolled_up_to, date_trunc('hour', %(kept_since)s::timestamptz, 'UTC')) AS since
    FROM __schema__.job_outcomes_mark FOR UPDATE
), span AS (
    SELECT coalesce((SELECT since FROM mark), date_trunc('hour', %(kept_since)s::timestamptz, 'UTC')) AS since,
           date_trunc('hour', %(now)s::timestamptz - interval '1 minute', 'UTC') AS until
), added AS (
    INSERT INTO __schema__.job_outcomes (hour, tenant_id, state, jobs)
    SELECT date_trunc('hour', s.created_at, 'UTC'), coalesce(s.tenant_id, ''), s.state, count(*)
    FROM __schema__.job_states s, span
    WHERE s.state IN ('Succeeded', 'Failed') AND s.created_at >= span.since AND s.created_at < span.until
    GROUP BY 1, 2, 3
    ON CONFLICT (hour, tenant_id, state) DO UPDATE SET jobs = __schema__.job_outcomes.jobs + excluded.jobs
    RETURNING 1
), marked AS (
    INSERT INTO __schema__.job_outcomes_mark (rolled_up_to) SELECT until FROM span WHERE until > since
    ON CONFLICT (singleton) DO UPDATE SET rolled_up_to = excluded.rolled_up_to
), old AS (
    DELETE FROM __schema__.job_outcomes WHERE hour < date_trunc('hour', %(kept_since)s::timestamptz, 'UTC') RETURNING 1
)
SELECT (SELECT count(*) FROM added) AS added, (SELECT count(*) FROM old) AS dropped;

-- name: job_exists
SELECT state::text FROM __schema__.jobs
WHERE id = %(id)s AND (%(tenant_id)s::text IS NULL OR tenant_id = %(tenant_id)s);

-- name: get_job_by_cr_name
SELECT * FROM __schema__.jobs WHERE cr_namespace = %(namespace)s AND cr_name = %(name)s
ORDER BY id DESC LIMIT 1;
