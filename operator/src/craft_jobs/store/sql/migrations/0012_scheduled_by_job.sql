-- Craft Jobs schema, version 12: a job scheduled by a running job (its
-- context.scheduler) names that job. No foreign key: the job that scheduled
-- it may expire first.
ALTER TABLE __schema__.jobs ADD COLUMN scheduled_by_job_id bigint;
CREATE INDEX jobs_scheduled_by_idx ON __schema__.jobs (scheduled_by_job_id, id)
    WHERE scheduled_by_job_id IS NOT NULL;
