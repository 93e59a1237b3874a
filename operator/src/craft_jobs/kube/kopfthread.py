"""kopf in a thread of its own, bridged to the operator's event loop.

kopf assumes it owns its event loop: when it stops, it cancels every task
created after it started ("hung tasks"), which in a shared loop would be the
engine's runs and anything else. So kopf gets its own loop in a thread, and
handlers hand their work to the main loop (where the store's pool lives)
through `Bridge`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, Callable, TypeVar

import kopf

T = TypeVar("T")


class Bridge:
    """Runs coroutines and callbacks on the main loop from kopf's thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop

    async def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self.loop))

    def soon(self, callback: Callable[..., Any], *args: Any) -> None:
        self.loop.call_soon_threadsafe(callback, *args)


class KopfThread:
    def __init__(self, **operator_kwargs: Any):
        self.kwargs = operator_kwargs
        self.stop_flag = threading.Event()
        self.ready_flag = threading.Event()
        self.done: concurrent.futures.Future = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._main, name="craft-kopf", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._thread.start()

    def _main(self) -> None:
        try:
            asyncio.run(self._operator())
        except BaseException as exc:  # reported to the main loop through `done`
            self.done.set_exception(exc)
        else:
            self.done.set_result(None)

    async def _operator(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        try:
            await kopf.operator(stop_flag=self.stop_flag, ready_flag=self.ready_flag, **self.kwargs)
        except asyncio.CancelledError:
            if not self.stop_flag.is_set():
                raise

    async def wait_ready(self) -> None:
        while not self.ready_flag.is_set():
            if self.done.done():
                self.done.result()
                raise RuntimeError("kopf stopped before it was ready")
            await asyncio.sleep(0.05)

    async def stop(self, graceful: float = 1, timeout: float = 15) -> None:
        """Asks kopf to stop; after `graceful` seconds cancels it (kopf otherwise waits
        5 s for its "hung" tasks, the open watch requests among them)."""
        self.stop_flag.set()
        await asyncio.to_thread(self._thread.join, graceful)
        if self._thread.is_alive() and self._loop is not None and self._task is not None:
            try:
                self._loop.call_soon_threadsafe(self._task.cancel)
            except RuntimeError:  # its loop closed meanwhile
                pass
            await asyncio.to_thread(self._thread.join, timeout)
