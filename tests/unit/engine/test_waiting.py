"""The engine's loops stop even when a library call swallowed their cancel
(Python 3.11's asyncio.wait_for does when the awaited thing completes at the
same moment)."""

from __future__ import annotations

import asyncio

import pytest

from craft_jobs.engine.waiting import pause, wait_event


async def _swallowing_then(wait) -> str:
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        pass  # what the race in wait_for amounts to
    await wait()
    return "ran on"


@pytest.mark.parametrize("wait", [lambda: pause(10), lambda: wait_event(asyncio.Event(), 10)], ids=["pause", "wait_event"])
async def test_a_loop_whose_cancel_was_swallowed_stops_at_its_next_wait(wait):
    task = asyncio.create_task(_swallowing_then(wait))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)


async def test_a_wait_that_timed_out_leaves_the_loop_running():
    assert await wait_event(asyncio.Event(), 0.01) is False
    await pause(0)  # the timeout's own cancel is not mistaken for the engine's
