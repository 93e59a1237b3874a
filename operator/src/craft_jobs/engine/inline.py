"""Runs jobs inside the engine's own event loop.

For benchmarks and trusted local jobs: no process per run, so it measures the
engine itself. Jobs must be importable here (`job_modules`).
"""

from __future__ import annotations

import asyncio

import craft_jobs_runner
from craft_jobs_runner import EXIT_FAILED, RunScheduler

from craft_jobs.engine.executor import ExecutionResult
from craft_jobs.store.models import ClaimedJob


class InlineExecutor:
    name = "inline"

    def __init__(self, cancel_grace_seconds: float = 10):
        self.cancel_grace_seconds = cancel_grace_seconds

    async def run(self, job: ClaimedJob, cancel: asyncio.Event) -> ExecutionResult:
        run = craft_jobs_runner.execute(
            job.job_type,
            job.parameters,
            job_id=str(job.id),
            attempt=job.attempt,
            tenant_id=job.tenant_id or None,
            user_id=job.user_id,
            created_at=job.created_at,
            scheduled_for=job.scheduled_for,
            metadata=job.metadata,
            cancel_event=cancel,
            cancel_grace_seconds=self.cancel_grace_seconds,
            scheduler=RunScheduler(job.scheduler_access.api_url, job.scheduler_access.token)
            if job.scheduler_access else None,
        )
        if job.timeout_seconds is None:
            result = await run
        else:
            try:
                result = await asyncio.wait_for(run, job.timeout_seconds)
            except TimeoutError:
                message = f"the run exceeded its timeout of {job.timeout_seconds} s"
                return ExecutionResult(EXIT_FAILED, {"type": "Timeout", "message": message, "stack": ""}, timed_out=True)
        error = None if result.error is None else result.error.as_dict()
        return ExecutionResult(result.exit_code, error)

    async def close(self) -> None:
        return None
