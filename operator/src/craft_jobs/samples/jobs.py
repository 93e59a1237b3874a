"""Sample jobs: one of each kind a new user wants to see run."""

from __future__ import annotations

import asyncio
import contextlib

from craft_jobs_runner import Job, JobContext, NonRetryableError
from pydantic import BaseModel, Field


class Hello(Job):
    """Greets someone: the fire-and-forget sample."""

    job_type = "hello"

    class Parameters(BaseModel):
        name: str = Field("world", max_length=200)

    async def run(self, params: Parameters, context: JobContext) -> None:
        context.logger.info("hello, %s (tenant %s, user %s)", params.name, context.tenant_id, context.user_id)


class SendReport(Job):
    """Pretends to e-mail a report: the delayed and continuation sample."""

    job_type = "send-report"

    class Parameters(BaseModel):
        report: str = Field(min_length=1, max_length=200)
        recipients: list[str] = Field(default_factory=list, max_length=100)

    async def run(self, params: Parameters, context: JobContext) -> None:
        context.logger.info("sending report %r to %d recipients", params.report, len(params.recipients))


class Flaky(Job):
    """Fails on its first `failures` attempts, then succeeds: shows automatic retry."""

    job_type = "flaky"
    max_attempts = 3

    class Parameters(BaseModel):
        failures: int = Field(2, ge=0, le=10)

    async def run(self, params: Parameters, context: JobContext) -> None:
        if context.attempt < params.failures:
            raise RuntimeError(f"simulated failure on attempt {context.attempt}")
        context.logger.info("succeeded on attempt %d", context.attempt)


class AlwaysFails(Job):
    """Fails in a way retrying cannot fix: ends Failed at once, waiting for a human."""

    job_type = "always-fails"

    class Parameters(BaseModel):
        reason: str = "the input file is corrupt"

    async def run(self, params: Parameters, context: JobContext) -> None:
        raise NonRetryableError(params.reason)


class Slow(Job):
    """Works for a while and stops cleanly when cancelled: delete it while it runs."""

    job_type = "slow"

    class Parameters(BaseModel):
        seconds: float = Field(60, gt=0, le=3600)

    async def run(self, params: Parameters, context: JobContext) -> None:
        # Waits on the cancellation itself, so a delete (or Ctrl+C in `craft-jobs dev`) stops it at once.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(context.wait_cancelled(), timeout=params.seconds)
        context.raise_if_cancelled()


class Cleanup(Job):
    """A housekeeping job for the recurring sample."""

    job_type = "cleanup"

    class Parameters(BaseModel):
        older_than_days: int = Field(30, ge=1, le=3650)

    async def run(self, params: Parameters, context: JobContext) -> None:
        context.logger.info("cleaning up what is older than %d days (slot %s)", params.older_than_days, context.scheduled_for)


class FanOut(Job):
    """Schedules jobs from inside a run, in its own tenant: one greeting per
    name, then a report once this job has succeeded (context.scheduler)."""

    job_type = "fan-out"

    class Parameters(BaseModel):
        names: list[str] = Field(default_factory=lambda: ["Ada", "Grace"], min_length=1, max_length=100)

    async def run(self, params: Parameters, context: JobContext) -> None:
        ids = [await context.scheduler.schedule(Hello, Hello.Parameters(name=name)) for name in params.names]
        report = await context.scheduler.continue_with(
            context.job_id, SendReport, SendReport.Parameters(report=f"greeted {len(ids)}"))
        context.logger.info("scheduled greetings %s and report %s", ids, report)
