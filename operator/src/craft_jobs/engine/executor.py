"""What the dispatcher needs from an executor; see docs/architecture.md."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

from craft_jobs.store.models import ClaimedJob

# After its cancel grace a run gets this long to exit by itself (the runner
# cancels the job, closes its services, writes the termination message)
# before it is killed.
STOP_MARGIN_SECONDS = 5.0

# How the local executor names a run (`pid:1234`); a Kubernetes run is named
# `<namespace>/<Job name>`. The dashboard labels each ref by its executor.
PROCESS_REF_PREFIX = "pid:"


def executor_label(executor_ref: str) -> str:
    return "Process" if executor_ref.startswith(PROCESS_REF_PREFIX) else "Kubernetes Job"


@dataclass(slots=True)
class ExecutionResult:
    exit_code: int | None
    error: dict[str, Any] | None = None
    executor_ref: str | None = None
    # The run hit its timeout and was stopped: a retryable failure, not a cancel.
    timed_out: bool = False
    # Why the engine, not the job, ended the run (it lost PostgreSQL, it is
    # stopping): the job goes back to Enqueued without using an attempt.
    interrupted: str | None = None


class Executor(Protocol):
    name: str

    async def run(self, job: ClaimedJob, cancel: asyncio.Event) -> ExecutionResult:
        """Run `job` once and return how it ended; setting `cancel` stops it."""

    async def close(self) -> None:
        """Release what the executor holds (clients, temporary folders)."""


class Fenceable(Protocol):
    """An executor whose runs are processes of this host can stop them all at
    once, from any thread: the engine does so when it can no longer prove to
    the others that it is alive, before they may rescue its jobs."""

    def fence(self, reason: str) -> None: ...

    def unfence(self) -> None: ...
