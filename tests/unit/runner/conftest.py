import asyncio
import time
from collections.abc import Callable

import pytest


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll `predicate` on the event loop until it holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.001)


@pytest.fixture
def events() -> list[str]:
    """What test jobs, filters and services did, in order (shared through `EVENTS`)."""
    EVENTS.clear()
    yield EVENTS
    EVENTS.clear()


EVENTS: list[str] = []
