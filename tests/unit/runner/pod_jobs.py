"""Jobs for the entry-point tests, imported by a child `python -m craft_jobs_runner`.

Not a test module: the tests put this folder on the child's PYTHONPATH and
name `pod_jobs` in CRAFT_JOB_MODULES, as a job image's Dockerfile would.
"""

import asyncio
import json
from pathlib import Path

from pydantic import BaseModel

from craft_jobs_runner import Job, NonRetryableError


class Echo(Job):
    """Write what the job saw to a file."""

    job_type = "pod-echo"
    max_attempts = 4

    class Parameters(BaseModel):
        output: str
        greeting: str

    async def run(self, params, context):
        context.logger.info("echoing %s", params.greeting)
        seen = {
            "greeting": params.greeting,
            "job_id": context.job_id,
            "job_type": context.job_type,
            "attempt": context.attempt,
            "tenant_id": context.tenant_id,
            "user_id": context.user_id,
            "created_at": context.created_at.isoformat(),
            "scheduled_for": context.scheduled_for.isoformat(),
            "metadata": context.metadata,
        }
        Path(params.output).write_text(json.dumps(seen))


class Fails(Job):
    job_type = "pod-fails"

    class Parameters(BaseModel):
        message: str

    async def run(self, params, context):
        raise RuntimeError(params.message)


class GivesUp(Job):
    job_type = "pod-gives-up"

    async def run(self, params, context):
        raise NonRetryableError("the invoice no longer exists")


class WaitsToBeStopped(Job):
    job_type = "pod-waits"

    class Parameters(BaseModel):
        started_marker: str
        cooperative: bool

    async def run(self, params, context):
        Path(params.started_marker).touch()
        if params.cooperative:
            await context.wait_cancelled()
            context.logger.info("stopping as asked")
            context.raise_if_cancelled()
        await asyncio.sleep(3600)


class Spawns(Job):
    """Starts processes every way a job might: in its process group, in a session
    of their own, and orphaned by a shell that exits; writes their pids; waits."""

    job_type = "pod-spawns"

    class Parameters(BaseModel):
        pids_file: str

    async def run(self, params, context):
        import subprocess
        import sys

        sleeper = [sys.executable, "-c", "import time; time.sleep(600)"]
        same_group = subprocess.Popen(sleeper)
        own_session = subprocess.Popen(sleeper, start_new_session=True)
        orphaned = subprocess.run(["sh", "-c", "setsid sleep 600 >/dev/null 2>&1 & echo $!"],
                                  capture_output=True, text=True, check=True)
        pids = [same_group.pid, own_session.pid, int(orphaned.stdout)]
        Path(params.pids_file).write_text(json.dumps(pids))
        await asyncio.sleep(3600)
