"""The job of bench/tenant_fairness.py (imported through `job_modules`)."""

from __future__ import annotations

import asyncio

from craft_jobs_runner import Job, JobContext
from pydantic import BaseModel

import common

# The quiet tenant's enqueue-to-start latencies (ms) of the current phase.
QUIET_LATENCIES_MS: list[float] = []


class WorkJob(Job):
    """Holds its slot for `work_ms`, so a flood keeps every slot busy."""

    job_type = "fairness-work"

    class Parameters(BaseModel):
        work_ms: float
        # common.now() when it was enqueued; 0 for the flood, whose latency is not measured.
        enqueued_at: float = 0.0

    async def run(self, params: Parameters, context: JobContext) -> None:
        if params.enqueued_at:
            QUIET_LATENCIES_MS.append((common.now() - params.enqueued_at) * 1000)
        await asyncio.sleep(params.work_ms / 1000)
