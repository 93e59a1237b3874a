"""Waiting for an event with a timeout, cancellable at any moment.

`asyncio.wait_for(event.wait(), t)` on Python 3.11 can leave a task that was
cancelled at the instant its timeout fired waiting forever; `asyncio.timeout`
does not have that race.
"""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """True if `event` was set within `timeout` seconds."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
        return True
    except TimeoutError:
        return False
