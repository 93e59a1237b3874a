"""Helpers shared by the benchmark scripts under bench/.

- which PostgreSQL to use (an env URL, else the embedded server), and a fresh
  database per system, dropped at the end;
- a `Recorder` that no-op jobs of every system call when they start, so that a
  phase can wait for "all N ran" in-process and read enqueue-to-start latencies;
- pacing, waiting, percentiles, and printing (human lines as we go, one JSON
  object as the last line).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

# Where the soaks sample memory, besides the start and the end.
CHECKPOINTS = (0.25, 0.5, 0.75)
BENCH_URL_ENV = "CRAFT_JOBS_BENCH_DATABASE_URL"
TEST_URL_ENV = "CRAFT_JOBS_TEST_DATABASE_URL"


# -- output -------------------------------------------------------------------


def say(message: str = "") -> None:
    """A human-readable line, flushed at once (the run is long)."""
    print(message, flush=True)


def emit_json(result: dict[str, Any]) -> None:
    """The machine-readable result: exactly one JSON object on the last line."""
    print(json.dumps(result, separators=(",", ":"), sort_keys=False), flush=True)


def rss_mib(pid: int) -> float:
    """A process's resident memory (VmRSS), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def per_second(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0-100) of `values`; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


# -- the database -----------------------------------------------------------------


class Server:
    """The PostgreSQL server to benchmark on: a URL from the environment, or the
    embedded server (started here, stopped at the end) on a fresh machine."""

    def __init__(self) -> None:
        self.url: str | None = None
        self.source = ""
        self._embedded = None
        self._tmp: tempfile.TemporaryDirectory | None = None

    def start(self) -> str:
        for name in (BENCH_URL_ENV, TEST_URL_ENV):
            value = os.environ.get(name)
            if value:
                self.url, self.source = value, name
                return value
        from craft_jobs.store.embedded import EmbeddedPostgres

        self._tmp = tempfile.TemporaryDirectory(prefix="craft-jobs-bench-")
        self._embedded = EmbeddedPostgres(Path(self._tmp.name))
        self.url, self.source = self._embedded.start(), "embedded server"
        return self.url

    def stop(self) -> None:
        if self._embedded is not None:
            self._embedded.stop()
            self._embedded = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def database_url(base_url: str, dbname: str) -> str:
    """`base_url` pointed at another database (URIs and key=value strings alike)."""
    return make_conninfo(base_url, dbname=dbname)


def describe_server(url: str) -> dict[str, str]:
    with psycopg.connect(url, autocommit=True) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('synchronous_commit', 'fsync', 'shared_buffers', 'max_connections')"
            ).fetchall()
        )
    host = conninfo_to_dict(url).get("host") or "local socket"
    return {"version": version, "host": str(host), **settings}


@contextlib.asynccontextmanager
async def fresh_database(base_url: str, name: str) -> AsyncIterator[str]:
    """Creates database `name` (dropping a leftover one first), yields its URL, drops it."""
    ident = sql.Identifier(name)
    async with await psycopg.AsyncConnection.connect(base_url, autocommit=True) as admin:
        await admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        await admin.execute(sql.SQL("CREATE DATABASE {}").format(ident))
    try:
        yield database_url(base_url, name)
    finally:
        async with await psycopg.AsyncConnection.connect(base_url, autocommit=True) as admin:
            await admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))


async def query_one(url: str, query: str, params: Any = None) -> tuple:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cursor = await conn.execute(query, params)
        return await cursor.fetchone()


async def execute(url: str, *queries: str) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for query in queries:
            await conn.execute(query)


# -- what the no-op jobs report -------------------------------------------------------


def now() -> float:
    """The clock for enqueue and start stamps: monotonic, system-wide on Linux."""
    return time.perf_counter()


class Recorder:
    """Counts job starts and keeps enqueue-to-start latencies (ms).

    A job calls `started(enqueued_at)` first thing in its body, with the
    `now()` stamp the enqueuer put in its parameters (0 when not measured).
    """

    def __init__(self) -> None:
        self.reset(0)

    def reset(self, expected: int) -> None:
        self.expected = expected
        self.count = 0
        self.latencies_ms: list[float] = []
        self.first_start: float | None = None
        self.last_start: float | None = None
        self._all_started = asyncio.Event() if expected else None

    def started(self, enqueued_at: float = 0.0) -> None:
        stamp = now()
        self.count += 1
        if self.first_start is None:
            self.first_start = stamp
        self.last_start = stamp
        if enqueued_at:
            self.latencies_ms.append((stamp - enqueued_at) * 1000)
        if self._all_started is not None and self.count >= self.expected:
            self._all_started.set()

    async def wait_all_started(self, timeout: float) -> bool:
        if self._all_started is None:
            return True
        try:
            await asyncio.wait_for(self._all_started.wait(), timeout)
            return True
        except TimeoutError:
            return False


RECORDER = Recorder()


# -- pacing and waiting -----------------------------------------------------------------


async def paced(count: int, rate: float, action: Callable[[int], Awaitable[None]]) -> float:
    """Calls `action(i)` for i in range(count) at a steady `rate` per second
    (absolute deadlines, so a slow call does not shift the later ones);
    returns the seconds it took."""
    start = time.perf_counter()
    for i in range(count):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await action(i)
    return time.perf_counter() - start


async def wait_for(check: Callable[[], Awaitable[bool]], timeout: float, interval: float = 0.02) -> bool:
    """Polls `check` until it is true or `timeout` passes."""
    deadline = time.perf_counter() + timeout
    while True:
        if await check():
            return True
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(interval)


def add_to_path(folder: str | os.PathLike) -> None:
    folder = str(Path(folder).resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)
