"""The job type every scenario runs: it writes down each execution itself.

`proof-work` appends JSON lines to the file named in its parameters: `start`
(job id, attempt, pid), a `tick` every TICK_SECONDS while it works, and
`end` with `done` or `cancelled`. A run killed outright writes no `end`; its
last tick says until when it was alive. The harness (records.py) counts
executions and overlaps from these lines alone, independently of what the
engine or the operator believe happened.

Job processes import this module through CRAFT_JOB_MODULES (PYTHONPATH must
include the repository root).
"""

from __future__ import annotations

import asyncio
import json
import os
import time

from craft_jobs_runner import Job, JobContext
from pydantic import BaseModel, Field

TICK_SECONDS = 0.25
MODULE = __name__


def _append(path: str, **fields) -> None:
    # One write of a short line with O_APPEND: lines of concurrent runs never interleave.
    line = json.dumps({"pid": os.getpid(), "t": time.time(), **fields}) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


class ProofWork(Job):
    job_type = "proof-work"

    class Parameters(BaseModel):
        log: str
        seconds: float = Field(gt=0, le=600)

    async def run(self, params: Parameters, context: JobContext) -> None:
        job_id = int(context.job_id)
        _append(params.log, event="start", job_id=job_id, attempt=context.attempt)
        deadline = time.monotonic() + params.seconds
        while time.monotonic() < deadline:
            if context.cancelled:
                _append(params.log, event="end", job_id=job_id, outcome="cancelled")
                context.raise_if_cancelled()
            _append(params.log, event="tick", job_id=job_id)
            await asyncio.sleep(min(TICK_SECONDS, max(deadline - time.monotonic(), 0)))
        _append(params.log, event="end", job_id=job_id, outcome="done")
