"""The jobs of the soak (bench/soak.py), imported through `job_modules`.

Each run appends one line, "<job id> <attempt> <job type>", to the file named by
SOAK_EXECUTIONS_LOG: with O_APPEND a short write is atomic, so the lines of
concurrent runs (coroutines of the inline executor, processes of the local
one) never mix, and the soak counts executions from what the jobs wrote.
"""

from __future__ import annotations

import asyncio
import os

from craft_jobs_runner import Job, JobContext
from pydantic import BaseModel, Field

EXECUTIONS_LOG_ENV = "SOAK_EXECUTIONS_LOG"


def write_down(context: JobContext) -> None:
    fd = os.open(os.environ[EXECUTIONS_LOG_ENV], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, f"{context.job_id} {context.attempt} {context.job_type}\n".encode())
    finally:
        os.close(fd)


class SoakNoop(Job):
    job_type = "soak-noop"

    async def run(self, params: BaseModel, context: JobContext) -> None:
        write_down(context)


class SoakRecurring(SoakNoop):
    """What the soak's recurring jobs fire (told apart from the jobs it counts)."""

    job_type = "soak-recurring"


class SoakShort(Job):
    job_type = "soak-short"

    class Parameters(BaseModel):
        sleep_ms: int = Field(10, ge=0, le=1000)

    async def run(self, params: Parameters, context: JobContext) -> None:
        write_down(context)
        await asyncio.sleep(params.sleep_ms / 1000)


class SoakFlaky(Job):
    """Fails its first `failures` attempts, then succeeds (failures above the
    job's retries: it ends Failed)."""

    job_type = "soak-flaky"

    class Parameters(BaseModel):
        failures: int = Field(1, ge=0, le=11)

    async def run(self, params: Parameters, context: JobContext) -> None:
        write_down(context)
        if context.attempt < params.failures:
            raise RuntimeError(f"soak: attempt {context.attempt} fails on purpose")
