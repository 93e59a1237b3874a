"""A TCP forwarder to an API server that drops chosen requests mid-flight: the
client has sent its request and the connection closes with no answer, as a
load balancer or a restarting API server does (urllib3's ProtocolError)."""

from __future__ import annotations

import asyncio
from urllib.parse import urlparse


class DroppingProxy:
    def __init__(self, upstream: str, request_prefix: bytes, drops: int):
        parsed = urlparse(upstream)
        self.upstream = (parsed.hostname, parsed.port)
        self.request_prefix = request_prefix  # e.g. b"POST /apis/batch/v1/namespaces/jobs/jobs "
        self.drops_left = drops
        self.dropped = 0
        self._server: asyncio.AbstractServer | None = None

    @property
    def url(self) -> str:
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def __aenter__(self) -> DroppingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        back = asyncio.create_task(self._pump(up_reader, client_writer))
        try:
            while chunk := await client_reader.read(65536):
                # urllib3 sends a request's line and headers in one write, and never pipelines.
                if chunk.startswith(self.request_prefix) and self.drops_left > 0:
                    self.drops_left -= 1
                    self.dropped += 1
                    break
                up_writer.write(chunk)
                await up_writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            back.cancel()
            for writer in (client_writer, up_writer):
                writer.close()

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
