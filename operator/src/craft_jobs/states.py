"""The job states, with Hangfire's names, and which moves between them are legal.

The same names form the PostgreSQL enum `job_state` (see store/sql/schema.sql);
a unit test keeps the two in step.
"""

from __future__ import annotations

from enum import Enum


class JobState(str, Enum):
    AWAITING = "Awaiting"
    SCHEDULED = "Scheduled"
    ENQUEUED = "Enqueued"
    PROCESSING = "Processing"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    DELETED = "Deleted"

    @property
    def is_final(self) -> bool:
        """Final states expire; Failed is deliberately not final (it waits for a human)."""
        return self in FINAL_STATES

    @classmethod
    def named(cls, text: str) -> JobState:
        """The state of a name in any case ("failed", "FAILED"); ValueError otherwise."""
        for state in cls:
            if state.value.lower() == str(text).lower():
                return state
        raise ValueError(f"{text!r} is not a state; one of {', '.join(s.value for s in cls)}")


FINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.DELETED})

# Where a job may go from each state. Delete and requeue work from any state.
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.AWAITING: frozenset({JobState.ENQUEUED, JobState.SCHEDULED, JobState.DELETED}),
    JobState.SCHEDULED: frozenset({JobState.ENQUEUED, JobState.DELETED}),
    JobState.ENQUEUED: frozenset({JobState.PROCESSING, JobState.DELETED, JobState.ENQUEUED}),
    JobState.PROCESSING: frozenset(
        {JobState.SUCCEEDED, JobState.SCHEDULED, JobState.FAILED, JobState.DELETED, JobState.ENQUEUED}
    ),
    JobState.SUCCEEDED: frozenset({JobState.ENQUEUED, JobState.DELETED}),
    JobState.FAILED: frozenset({JobState.ENQUEUED, JobState.DELETED}),
    JobState.DELETED: frozenset({JobState.ENQUEUED}),
}


def can_transition(source: JobState, target: JobState) -> bool:
    return target in TRANSITIONS[source]


class ContinuationCondition(str, Enum):
    """When a continuation may run: its parent Succeeded, or merely Finished."""

    SUCCEEDED = "Succeeded"
    FINISHED = "Finished"

    def satisfied_by(self, parent: JobState) -> bool:
        if self is ContinuationCondition.SUCCEEDED:
            return parent is JobState.SUCCEEDED
        # Finished: Succeeded or Deleted. Failed is not finished: it may be requeued.
        return parent in FINAL_STATES

    def impossible_for(self, parent: JobState) -> bool:
        """A deleted parent can never succeed, so an on=Succeeded child is deleted too."""
        return self is ContinuationCondition.SUCCEEDED and parent is JobState.DELETED


class ConcurrencyPolicy(str, Enum):
    """What a recurring job does when its previous run is still going (CronJob's words)."""

    ALLOW = "Allow"
    FORBID = "Forbid"
    REPLACE = "Replace"
