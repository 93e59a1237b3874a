"""Names the operator shares with the cluster: annotations, labels, condition
types, and the CR field behind each scheduler/validation field name."""

from __future__ import annotations

ANNOTATION_CREATED_BY = "jobs.craft.dev/created-by"
ANNOTATION_CHANGED_BY = "jobs.craft.dev/changed-by"
# Who last set a one-shot annotation (trigger, requeue): the audit's "who" for it.
ANNOTATION_REQUESTED_BY = "jobs.craft.dev/requested-by"
ANNOTATION_REQUEUE = "jobs.craft.dev/requeue"
ANNOTATION_TRIGGER = "jobs.craft.dev/trigger"
NAMESPACE_TENANT_LABEL = "jobs.craft.dev/tenant"

CONDITION_ACCEPTED = "Accepted"
CONDITION_READY = "Ready"
CONDITION_COMPLETE = "Complete"
CONDITION_FAILED = "Failed"
CONDITION_HELD = "Held"  # a concurrency limit holds the waiting job (kube/held.py)

# Scheduler/validation field names -> the CR field a user has to fix.
SCHEDULER_TO_CR_FIELDS = {
    "job": "jobType",
    "job_type": "jobType",
    "parameters": "parameters",
    "image": "image",
    "queue": "queue",
    "metadata": "metadata",
    "max_attempts": "retry.maxAttempts",
    "base_seconds": "retry.backoff.baseSeconds",
    "max_seconds": "retry.backoff.maxSeconds",
    "jitter": "retry.backoff.jitter",
    "non_retryable_exit_codes": "retry.nonRetryableExitCodes",
    "on_attempts_exceeded": "retry.onAttemptsExceeded",
    "timeout_seconds": "timeoutSeconds",
    "delay": "delay",
    "at": "runAt",
    "parent_id": "continueAfter.name",
    "cron": "schedule",
    "schedule": "schedule",
    "interval_minutes": "intervalMinutes",
    "time_zone": "timeZone",
    "anchor": "schedule",
    "concurrency_policy": "concurrencyPolicy",
    "starting_deadline_seconds": "startingDeadlineSeconds",
}
# Fields of a RecurringJob that sit beside its jobTemplate rather than in it.
RECURRING_OWN_FIELDS = {"schedule", "intervalMinutes", "timeZone", "concurrencyPolicy", "startingDeadlineSeconds"}
