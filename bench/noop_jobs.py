"""The Craft Jobs no-op job of the benchmarks (imported through `job_modules`)."""

from __future__ import annotations

from craft_jobs_runner import Job, JobContext
from pydantic import BaseModel

import common


class NoopJob(Job):
    job_type = "noop"

    class Parameters(BaseModel):
        # common.now() when it was enqueued; 0 when latency is not measured.
        enqueued_at: float = 0.0

    async def run(self, params: Parameters, context: JobContext) -> None:
        common.RECORDER.started(params.enqueued_at)
