"""Job classes used by the tests; the local executor's child imports them too."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
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


class DeletedWhenExhausted(Job):
    """Always fails; once its one retry is used up it is Deleted, not Failed."""

    job_type = "test-deleted-when-exhausted"
    max_attempts = 1
    on_attempts_exceeded = "Delete"

    async def run(self, params, context: JobContext) -> None:
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


def _append_event(path: str, event: str, **fields) -> None:
    """One JSON line per event; O_APPEND keeps lines of concurrent runs whole."""
    line = json.dumps({"event": event, "pid": os.getpid(), "t": time.time(), **fields}) + "\n"
    with open(path, "a") as out:
        out.write(line)


class Ticker(Job):
    """Records `start`, a `tick` every `interval` s and `end` in `path`, so a
    test can tell when each run was alive. It never looks at cancellation (its
    task can still be cancelled). With `grandchild`, it first starts a process
    in a session of its own, as a job calling a tool might."""

    job_type = "test-ticker"

    class Parameters(BaseModel):
        path: str
        seconds: float
        interval: float = 0.05
        grandchild: bool = False

    async def run(self, params: Parameters, context: JobContext) -> None:
        grandchild = None
        if params.grandchild:
            grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
        _append_event(params.path, "start", grandchild=grandchild and grandchild.pid, attempt=context.attempt)
        try:
            deadline = time.monotonic() + params.seconds
            while time.monotonic() < deadline:
                _append_event(params.path, "tick")
                await asyncio.sleep(params.interval)
        finally:
            if grandchild is not None:
                grandchild.kill()
                grandchild.wait()
        _append_event(params.path, "end")


class Stubborn(Job):
    """Ignores cancellation, even of its own task: only a kill stops it early."""

    job_type = "test-stubborn"

    class Parameters(BaseModel):
        seconds: float
        started_marker: str

    async def run(self, params: Parameters, context: JobContext) -> None:
        Path(params.started_marker).write_text(str(os.getpid()))
        deadline = time.monotonic() + params.seconds
        while time.monotonic() < deadline:
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                pass


class LogAtLevels(Job):
    """Logs `marker` once at each level named in `levels`, then succeeds or,
    with `fail`, raises (the runner logs that at ERROR with its traceback)."""

    job_type = "test-log-levels"
    max_attempts = 0

    class Parameters(BaseModel):
        marker: str
        levels: list[str]
        fail: bool = False

    async def run(self, params: Parameters, context: JobContext) -> None:
        for name in params.levels:
            context.logger.log(logging.getLevelNamesMapping()[name], "%s at %s", params.marker, name)
        if params.fail:
            raise RuntimeError(f"{params.marker} failed")


class FanOut(Job):
    """Schedules `children` no-op jobs and a continuation of itself through
    `context.scheduler`, tries what its credential must not allow, and writes
    all it saw (and, as a leak would, its credential) to `path`."""

    job_type = "test-fan-out"

    class Parameters(BaseModel):
        path: str
        children: int = 2

    async def run(self, params: Parameters, context: JobContext) -> None:
        from craft_jobs_runner import SchedulerError

        scheduler = context.scheduler
        seen: dict = {"children": [await scheduler.schedule(Noop) for _ in range(params.children)]}
        seen["delayed"] = await scheduler.schedule("test-noop", delay=3600)
        seen["continuation"] = await scheduler.continue_with(context.job_id, Noop)
        refused = {}
        for name, path, body in (
            ("other_tenant", "/api/jobs", {"job_type": "test-noop", "tenant_id": "globex"}),
            ("delete", f"/api/jobs/{seen['children'][0]}/delete", {}),
        ):
            try:
                await scheduler._post(path, body)
                refused[name] = None
            except SchedulerError as exc:
                refused[name] = [exc.status, str(exc)]
        seen["refused"] = refused
        seen["token"] = Path(os.environ["CRAFT_JOB_SCHEDULER_TOKEN_FILE"]).read_text()
        Path(params.path).write_text(json.dumps(seen))
