"""Server-side job filters, as Hangfire's IServerFilter.

`on_performing` hooks run in order (global filters first, then the class's
`filters`) before the job; `on_performed` hooks run in reverse order after it,
for every filter whose `on_performing` completed, like nested context managers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .context import JobContext
    from .execution import RunResult


class JobFilter:
    """Override either hook; the defaults do nothing."""

    async def on_performing(self, context: JobContext) -> None:
        """Before `run()`. Raising fails the run (retryable) and skips the job."""

    async def on_performed(self, context: JobContext, result: RunResult) -> None:
        """After `run()` and after the run's services are closed."""


# A tuple, replaced on change, so a run reads it without copying.
_global_filters: tuple[JobFilter, ...] = ()


def add_global_filter(job_filter: JobFilter) -> None:
    """Apply `job_filter` to every job type, after the filters added before it."""
    global _global_filters
    if not isinstance(job_filter, JobFilter):
        raise TypeError(
            f"add_global_filter: expected a JobFilter instance, got {job_filter!r}"
        )
    _global_filters = (*_global_filters, job_filter)


def remove_global_filter(job_filter: JobFilter) -> None:
    """Remove a filter added with `add_global_filter`; ValueError if absent."""
    global _global_filters
    if job_filter not in _global_filters:
        raise ValueError(f"remove_global_filter: {job_filter!r} is not a global filter")
    _global_filters = tuple(f for f in _global_filters if f is not job_filter)


def global_filters() -> tuple[JobFilter, ...]:
    return _global_filters
