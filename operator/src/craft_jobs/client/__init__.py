"""The SDK: schedule and manage jobs from application code."""

from craft_jobs.client.context import job_context
from craft_jobs.client.filters import ClientFilter
from craft_jobs.client.scheduler import JobScheduler
from craft_jobs.schedules import CronExpressions
from craft_jobs.states import ConcurrencyPolicy, ContinuationCondition, JobState

__all__ = [
    "ClientFilter",
    "ConcurrencyPolicy",
    "ContinuationCondition",
    "CronExpressions",
    "JobScheduler",
    "JobState",
    "job_context",
]
