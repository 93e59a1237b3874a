"""A short-lived cache for aggregate views (counts, charts, percentiles).

Counting a million rows per state costs tens of milliseconds; every open
dashboard polls every few seconds. Sharing one answer per tenant scope for a
couple of seconds keeps the database's work flat however many people watch.
Job lists and job details are never cached: they must show an action at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any


class TtlCache:
    def __init__(self, seconds: float, max_entries: int = 1024):
        self.seconds = seconds
        self.max_entries = max_entries
        self._values: dict[Hashable, tuple[float, Any]] = {}
        self._locks: dict[Hashable, asyncio.Lock] = {}

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[Any]]) -> Any:
        if self.seconds <= 0:
            return await compute()
        hit = self._values.get(key)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        # One computation per key at a time: concurrent viewers wait for it.
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            hit = self._values.get(key)
            if hit and hit[0] > time.monotonic():
                return hit[1]
            value = await compute()
            if len(self._values) >= self.max_entries:
                self._values.clear()
                self._locks = {key: lock}
            self._values[key] = (time.monotonic() + self.seconds, value)
            return value

    def clear(self) -> None:
        self._values.clear()
