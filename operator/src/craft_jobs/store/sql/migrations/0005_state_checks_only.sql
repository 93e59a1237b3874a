-- Craft Jobs schema, version 5: jobs keeps the checks that tie its columns to
-- its state, which only our own statements can break. The seven checks on
-- single values repeated what every way in (SDK, API, CLI, resources) already
-- refuses with the field named. PostgreSQL prepares a table's checks anew for
-- each statement that writes it; these seven cost about 15 µs of every
-- enqueue, claim and outcome.
ALTER TABLE __schema__.jobs
    DROP CONSTRAINT jobs_job_type_check,
    DROP CONSTRAINT jobs_queue_check,
    DROP CONSTRAINT jobs_attempt_check,
    DROP CONSTRAINT jobs_runs_check,
    DROP CONSTRAINT jobs_max_attempts_check,
    DROP CONSTRAINT jobs_timeout_seconds_check,
    DROP CONSTRAINT jobs_continuation_on_check;
