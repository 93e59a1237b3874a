"""One object for "a cluster" in tests: the emulator, its HTTP server and the Job controller."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import kmock

from tests.support.kube.emulator import ClusterEmulator
from tests.support.kube.jobcontroller import Image, JobController


class EmulatedCluster:
    def __init__(self, *, images: dict[str, Image] | None = None, run_jobs: bool = True, instant: bool = False,
                 **emulator_kwargs: Any):
        self.emulator = ClusterEmulator(**emulator_kwargs)
        self.controller = JobController(self.emulator, images, instant=instant) if run_jobs else None
        self._stack = contextlib.AsyncExitStack()
        self.server: kmock.Server | None = None

    @property
    def url(self) -> str:
        return str(self.server.url).rstrip("/")

    async def __aenter__(self) -> EmulatedCluster:
        await self._stack.__aenter__()
        await self._stack.enter_async_context(self.emulator)
        self.server = await self._stack.enter_async_context(kmock.Server(self.emulator))
        self._stack.push_async_callback(self.emulator.close)
        if self.controller is not None:
            await self.controller.start()
            self._stack.push_async_callback(self.controller.stop)
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self._stack.__aexit__(*exc_info)


async def eventually(check: Callable[[], Any], timeout: float = 20, interval: float = 0.05, message: str = "") -> Any:
    """Polls `check` (sync or async) until it returns something truthy; fails after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message or check}; last value {last!r}")
        await asyncio.sleep(interval)
