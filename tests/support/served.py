"""An ASGI app served by a real uvicorn on 127.0.0.1 (a free port), inside the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import uvicorn

from tests.support.cluster.controlplane import free_port


@contextlib.asynccontextmanager
async def served(app) -> AsyncIterator[str]:
    """Yields the base URL while uvicorn serves `app`."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started or task.done():
            break
        await asyncio.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
