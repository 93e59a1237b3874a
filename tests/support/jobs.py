"""Job classes used by the tests; the local executor's child imports them too."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from craft_jobs_runner import Job, JobContext, NonRetryableError
from pydantic import BaseModel


class Noop(Job):
    job_type = "test-noop"

    async def run(self, params, context: JobContext) -> None:
        return None


class RecordContext(Job):
    """Appends what the job saw (context, parameters, pid) to a JSON-lines file."""

    job_type = "test-record"

    class Parameters(BaseModel):
        path: str
        value: str = ""

    async def run(self, params: Parameters, context: JobContext) -> None:
        record = {
            "job_id": context.job_id,
            "attempt": context.attempt,
            "tenant_id": context.tenant_id,
            "user_id": context.user_id,
            "metadata": dict(context.metadata),
            "scheduled_for": context.scheduled_for.isoformat() if context.scheduled_for else None,
            "created_at": context.created_at.isoformat() if context.created_at else None,
            "value": params.value,
            "pid": os.getpid(),
            "control_plane_settings": sorted(k for k in os.environ if k.startswith("CRAFT_JOBS_")),
        }
        with Path(params.path).open("a") as out:
            out.write(json.dumps(record) + "\n")


class FailTimes(Job):
    """Fails while its attempt number is below `failures`."""

    job_type = "test-fail-times"
    max_attempts = 5

    class Parameters(BaseModel):
        failures: int

    async def run(self, params: Parameters, context: JobContext) -> None:
        if context.attempt < params.failures:
            raise RuntimeError(f"failing on attempt {context.attempt}")


class NotRetryable(Job):
    job_type = "test-not-retryable"

    async def run(self, params, context: JobContext) -> None:
        raise NonRetryableError("bad input, retrying cannot help")


class Sleep(Job):
    """Sleeps, stopping early when cancelled; writes a marker file when it starts."""

    job_type = "test-sleep"

    class Parameters(BaseModel):
        seconds: float
        started_marker: str | None = None

    async def run(self, params: Parameters, context: JobContext) -> None:
        if params.started_marker:
            Path(params.started_marker).write_text(str(os.getpid()))
        try:
            await asyncio.wait_for(context.wait_cancelled(), params.seconds)
        except TimeoutError:
            return
        context.raise_if_cancelled()
