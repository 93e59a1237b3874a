-- Craft Jobs schema, version 8: the dashboard's succeeded/failed chart is
-- built from the state history (a requeue no longer erases a past failure),
-- so index those transitions by time. Covering, and only the two final
-- outcomes, so claims and retries pay no extra index write.
CREATE INDEX job_states_outcome_idx ON __schema__.job_states (created_at) INCLUDE (state, job_id)
    WHERE state IN ('Succeeded', 'Failed');
