"""What the dispatcher needs from an executor; see docs/architecture.md."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

from craft_jobs.store.models import ClaimedJob


@dataclass(slots=True)
class ExecutionResult:
    exit_code: int | None
    error: dict[str, Any] | None = None
    executor_ref: str | None = None
    # The run hit its timeout and was stopped: a retryable failure, not a cancel.
    timed_out: bool = False


class Executor(Protocol):
    name: str

    async def run(self, job: ClaimedJob, cancel: asyncio.Event) -> ExecutionResult:
        """Run `job` once and return how it ended; setting `cancel` stops it."""

    async def close(self) -> None:
        """Release what the executor holds (clients, temporary folders)."""
