"""A proxy in front of PostgreSQL that can cut the network, for partition tests.

`cut()` stalls every byte in both directions, as a partition does (what was
sent is delivered on `heal()`, as TCP would retransmit it); `end_sessions()`
then closes the proxy's side towards the server, so PostgreSQL sees those
sessions end (and frees their locks) while the client still hears nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

_PORT = 5432


class PgProxy:
    def __init__(self, conninfo: str):
        self.conninfo = conninfo
        self._open = asyncio.Event()
        self._open.set()
        self._upstreams: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task] = set()
        # Unix socket paths are short (108 bytes): not under pytest's tmp_path.
        self._dir = Path(tempfile.mkdtemp(prefix="cj-proxy-", dir="/tmp"))
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> str:
        """Starts listening; returns the conninfo that goes through the proxy."""
        self._server = await asyncio.start_unix_server(self._accept, path=str(self._dir / f".s.PGSQL.{_PORT}"))
        params = conninfo_to_dict(self.conninfo)
        params.update(host=str(self._dir), port=str(_PORT))
        return make_conninfo(**params)

    def cut(self) -> None:
        self._open.clear()

    def heal(self) -> None:
        self._open.set()

    def end_sessions(self) -> None:
        for upstream in self._upstreams:
            upstream.transport.abort()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.heal()
        self.end_sessions()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        shutil.rmtree(self._dir, ignore_errors=True)

    async def _open_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        params = conninfo_to_dict(self.conninfo)
        host, port = params.get("host") or "/tmp", int(params.get("port") or _PORT)
        if host.startswith("/"):
            return await asyncio.open_unix_connection(f"{host}/.s.PGSQL.{port}")
        return await asyncio.open_connection(host, port)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._open.wait()
        up_reader, up_writer = await self._open_upstream()
        self._upstreams.append(up_writer)
        pumps = [asyncio.ensure_future(self._pump(reader, up_writer)),
                 asyncio.ensure_future(self._pump(up_reader, writer))]
        self._tasks.update(pumps)
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for pump in pumps:
            pump.cancel()
        up_writer.transport.abort()
        await self._open.wait()  # through a partition, the client learns nothing
        writer.transport.abort()

    async def _pump(self, source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await source.read(65536):
                await self._open.wait()
                target.write(data)
                await target.drain()
