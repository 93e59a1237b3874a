"""Waiting in the engine's loops, cancellable at any moment.

On Python 3.11 `asyncio.wait_for` returns its result when the task is
cancelled just as the awaited thing completes: the cancel is swallowed, and
only the task's `cancelling()` count remembers it. So a loop that went through
one (`wait_for(event.wait(), t)`, or psycopg_pool handing out a connection)
would run on after its engine stopped; these waits look at that count first,
and use `asyncio.timeout`, which does not have the race.
"""

from __future__ import annotations

import asyncio


def raise_if_cancelled() -> None:
    """Raises the cancel a library call swallowed (see the module's docstring)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def pause(seconds: float) -> None:
    """`asyncio.sleep`, for a loop: not entered once the loop was cancelled."""
    raise_if_cancelled()
    await asyncio.sleep(seconds)


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """True if `event` was set within `timeout` seconds."""
    raise_if_cancelled()
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
        return True
    except TimeoutError:
        return False
