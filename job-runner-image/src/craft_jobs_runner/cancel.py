"""CancelSignal: an asyncio.Event that also calls back when it is set.

A run races its job against cancellation. With a plain Event that takes a
task waiting on it for every run; with a CancelSignal a callback suffices,
which matters when an engine runs thousands of short jobs a second inline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class CancelSignal(asyncio.Event):
    def __init__(self) -> None:
        super().__init__()
        self._callbacks: list[Callable[[], None]] = []

    def set(self) -> None:
        if self.is_set():
            return
        super().set()
        for callback in list(self._callbacks):
            callback()

    def on_set(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Calls `callback` when the signal is set (at once if it is); returns a
        function that unregisters it."""
        if self.is_set():
            callback()
            return lambda: None
        self._callbacks.append(callback)

        def forget() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return forget
