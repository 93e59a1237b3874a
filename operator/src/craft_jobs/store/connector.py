"""A small async connector over a psycopg 3 pool: execute / fetch_one / fetch_all.

Driver errors are translated here, and only here, into Craft Jobs errors.
"""

from __future__ import annotations

import contextlib
import time
import weakref
from collections.abc import AsyncIterator, Mapping
from typing import Any

import psycopg
import psycopg_pool
from psycopg.rows import dict_row

from craft_jobs.errors import DatabaseUnavailableError, StoreError

Params = Mapping[str, Any] | None
_SERVER_ENDED_BACKEND = (psycopg.errors.AdminShutdown, psycopg.errors.CrashShutdown)


class translated_errors:
    """`with translated_errors():` turns driver errors into Craft Jobs errors.
    A class, not a generator: it wraps every query, and costs a third as much."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> bool:
        if exc is None:
            return False
        if isinstance(exc, (psycopg.OperationalError, psycopg_pool.PoolTimeout)):
            raise DatabaseUnavailableError(f"PostgreSQL is unavailable: {exc}".strip()) from exc
        if isinstance(exc, psycopg.errors.CheckViolation):
            raise StoreError(f"the database refused a value: {exc.diag.message_primary}") from exc
        if isinstance(exc, psycopg.Error):
            raise StoreError(f"database error: {exc}") from exc
        return False


# A connection used within the last second is known to be alive; checking it
# again would cost a round trip on every query of a busy engine. One idle for
# longer may have been cut (a database restart), so it is checked first.
_IDLE_CHECK_SECONDS = 1.0
_returned_at: "weakref.WeakKeyDictionary[psycopg.AsyncConnection, float]" = weakref.WeakKeyDictionary()


async def _check_if_idle(connection: psycopg.AsyncConnection) -> None:
    returned = _returned_at.get(connection)
    if returned is None or time.monotonic() - returned > _IDLE_CHECK_SECONDS:
        await psycopg_pool.AsyncConnectionPool.check_connection(connection)


class Session:
    """Runs queries on one connection (inside a transaction, or the caller's own)."""

    def __init__(self, connection: psycopg.AsyncConnection):
        self.connection = connection

    async def execute(self, query: str, params: Params = None) -> None:
        with translated_errors():
            await self.connection.execute(query, params)

    async def fetch_one(self, query: str, params: Params = None) -> dict[str, Any] | None:
        with translated_errors():
            cursor = self.connection.cursor(row_factory=dict_row)
            await cursor.execute(query, params)
            return await cursor.fetchone()

    async def fetch_all(self, query: str, params: Params = None) -> list[dict[str, Any]]:
        with translated_errors():
            cursor = self.connection.cursor(row_factory=dict_row)
            await cursor.execute(query, params)
            return await cursor.fetchall()


# The dispatcher's statements are long and run thousands of times a second
# in the same shape. PostgreSQL kept choosing custom plans for them, planning
# each execution: about a third of a dispatch cycle. Their generic plans are
# tested to touch only their own rows (tests/integration/store/test_query_plans.py).
_GENERIC_PLANS = "-c plan_cache_mode=force_generic_plan"


def with_timeouts(conninfo: str, connect_seconds: float, statement_seconds: float | None = None) -> str:
    """`conninfo` with a bound on every wait, where it sets none itself: the
    connect; a peer that vanished (TCP keepalives, and data left unacknowledged
    for as long); with `statement_seconds`, each statement. Without them, a
    network partition hangs a call until the kernel gives up, minutes later."""
    params = psycopg.conninfo.conninfo_to_dict(conninfo)
    seconds = max(1, round(connect_seconds))
    for name, value in (
        ("connect_timeout", seconds), ("keepalives", 1), ("keepalives_idle", seconds),
        ("keepalives_interval", 1), ("keepalives_count", 3), ("tcp_user_timeout", (seconds + 3) * 1000),
    ):
        params.setdefault(name, value)
    options = params.get("options") or ""
    if statement_seconds is not None and "statement_timeout" not in options:
        params["options"] = f"{options} -c statement_timeout={round(statement_seconds * 1000)}".strip()
    return psycopg.conninfo.make_conninfo(**params)


def with_settings(conninfo: str, settings: str) -> dict[str, Any]:
    """Connection arguments adding server `settings` ("-c name=value ...") to any `options` the conninfo has."""
    existing = psycopg.conninfo.conninfo_to_dict(conninfo).get("options") or ""
    return {"options": f"{existing} {settings}".strip()}


def _with_generic_plans(conninfo: str) -> dict[str, Any]:
    return with_settings(conninfo, _GENERIC_PLANS)


class Connector:
    def __init__(
        self, conninfo: str, *, min_size: int = 1, max_size: int = 10, name: str = "craft-jobs",
        generic_plan_pool_size: int = 0,
    ):
        """`generic_plan_pool_size` > 0 adds a pool whose connections always use
        generic plans, for `fetch_all(..., generic_plan=True)`."""
        self.conninfo = conninfo
        self._pool = self._new_pool(min_size, max_size, name, {})
        self._generic_pool = (
            self._new_pool(1, generic_plan_pool_size, f"{name}-dispatch", _with_generic_plans(conninfo))
            if generic_plan_pool_size > 0 else None
        )

    def _new_pool(self, min_size: int, max_size: int, name: str, extra: dict[str, Any]) -> psycopg_pool.AsyncConnectionPool:
        return psycopg_pool.AsyncConnectionPool(
            self.conninfo,
            min_size=min_size,
            max_size=max_size,
            open=False,
            name=name,
            timeout=10,
            kwargs={"autocommit": True, "application_name": name, **extra},
            check=_check_if_idle,
            # No `reset` callback: with one, the pool hands every returned
            # connection to a background worker, a detour on every query.
        )

    def _pools(self) -> list[psycopg_pool.AsyncConnectionPool]:
        return [self._pool] if self._generic_pool is None else [self._pool, self._generic_pool]

    async def open(self, wait_seconds: float = 10) -> None:
        with translated_errors():
            for pool in self._pools():
                await pool.open(wait=True, timeout=wait_seconds)

    async def close(self) -> None:
        for pool in self._pools():
            await pool.close()

    def _pool_for(self, generic_plan: bool) -> psycopg_pool.AsyncConnectionPool:
        return self._generic_pool if generic_plan and self._generic_pool is not None else self._pool

    # getconn/putconn rather than pool.connection(): one generator fewer on
    # every query.
    @staticmethod
    async def _give_back(pool: psycopg_pool.AsyncConnectionPool, connection: psycopg.AsyncConnection) -> None:
        _returned_at[connection] = time.monotonic()
        await pool.putconn(connection)

    async def _run_borrowed(self, pool: psycopg_pool.AsyncConnectionPool, run):
        """`run(session)` on a connection of `pool`."""
        connection = await pool.getconn()
        try:
            return await run(Session(connection))
        finally:
            await self._give_back(pool, connection)

    @contextlib.asynccontextmanager
    async def _borrowed(self, generic_plan: bool = False) -> AsyncIterator[psycopg.AsyncConnection]:
        pool = self._pool_for(generic_plan)
        connection = await pool.getconn()
        try:
            yield connection
        finally:
            await self._give_back(pool, connection)

    @contextlib.asynccontextmanager
    async def session(self, generic_plan: bool = False) -> AsyncIterator[Session]:
        """One pooled connection in autocommit mode."""
        with translated_errors():
            async with self._borrowed(generic_plan) as connection:
                yield Session(connection)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Session]:
        with translated_errors():
            async with self._borrowed() as connection:
                async with connection.transaction():
                    yield Session(connection)

    async def _again_if_cut(self, run, generic_plan: bool = False):
        """Runs `run(session)`; again on another connection while the pooled ones
        turn out cut by a server restart (each is then dropped from the pool).
        The server ended such a backend before our statement reached it, so
        running it again cannot run it twice."""
        pool = self._pool_for(generic_plan)
        for retries_left in range(pool.max_size, -1, -1):
            try:
                with translated_errors():
                    return await self._run_borrowed(pool, run)
            except DatabaseUnavailableError as exc:
                if not retries_left or not isinstance(exc.__cause__, _SERVER_ENDED_BACKEND):
                    raise

    async def execute(self, query: str, params: Params = None) -> None:
        await self._again_if_cut(lambda session: session.execute(query, params))

    async def fetch_one(self, query: str, params: Params = None) -> dict[str, Any] | None:
        return await self._again_if_cut(lambda session: session.fetch_one(query, params))

    async def fetch_all(self, query: str, params: Params = None, *, generic_plan: bool = False) -> list[dict[str, Any]]:
        """`generic_plan`: on the generic-plan pool, when there is one."""
        return await self._again_if_cut(lambda session: session.fetch_all(query, params), generic_plan)
