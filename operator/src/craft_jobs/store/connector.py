"""A small async connector over a psycopg 3 pool: execute / fetch_one / fetch_all.

Driver errors are translated here, and only here, into Craft Jobs errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import operator
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import psycopg_pool
from psycopg import pq
from psycopg.adapt import PyFormat, Transformer
from psycopg.rows import dict_row

from craft_jobs.decisions import SLOW_QUERY_SECONDS
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


@dataclass(frozen=True)
class _Statement:
    """A query as PostgreSQL prepares it: `$n` placeholders, and which
    parameter each one takes."""

    name: bytes
    text: bytes
    params: tuple[str, ...]
    values: Callable[[Mapping[str, Any]], Sequence[Any]]  # the parameters' values, in order
    formats: tuple[PyFormat, ...]


@functools.cache
def _statement(query: str) -> _Statement:
    names: list[str] = []

    def placeholder(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    text = re.sub(r"%\((\w+)\)s", placeholder, query)
    if "%" in text:
        raise ValueError("a prepared statement takes %(name)s placeholders only")
    name = "craft_jobs_" + hashlib.sha1(query.encode()).hexdigest()[:16]
    if len(names) > 1:
        values = operator.itemgetter(*names)
    else:
        values = (lambda params: [params[names[0]]]) if names else (lambda params: [])
    return _Statement(name.encode(), text.encode(), tuple(names), values, (PyFormat.TEXT,) * len(names))


_TIMESTAMPTZ_OID = psycopg.postgres.types["timestamptz"].oid
_AWARE_OR_NULL = frozenset((_TIMESTAMPTZ_OID, 0))  # psycopg's types for an aware datetime, and None


@dataclass(frozen=True)
class _Formats:
    """How a statement prepared on one connection takes its parameters: as text,
    for PostgreSQL to read by the types it inferred, except timestamps with
    time zone, in binary when given as aware datetimes. Dumping a datetime as
    text (isoformat) cost some 1.7 µs, as binary 0.3: two or three per enqueue."""

    binary_at: tuple[int, ...]  # the timestamptz parameters
    formats: tuple[PyFormat, ...]  # text, and binary at those

    @classmethod
    def of(cls, described: pq.abc.PGresult) -> _Formats:
        types = [described.param_type(i) for i in range(described.nparams)]
        return cls(tuple(i for i, oid in enumerate(types) if oid == _TIMESTAMPTZ_OID),
                   tuple(PyFormat.BINARY if oid == _TIMESTAMPTZ_OID else PyFormat.TEXT for oid in types))

    def fit(self, types: Sequence[int]) -> bool:
        """Whether psycopg dumped every value at a timestamptz parameter (`types`:
        the types it chose) as an aware datetime or None. Not so, the values go
        as text: a string, or a naive datetime, which PostgreSQL reads in the
        session's time zone. Asked of the types, not of the values, to spare
        a Python loop per statement."""
        return _AWARE_OR_NULL.issuperset(map(types.__getitem__, self.binary_at))


async def _until_writable(fileno: int) -> None:
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    loop.add_writer(fileno, lambda: ready.done() or ready.set_result(None))
    try:
        await ready
    finally:
        loop.remove_writer(fileno)


class PooledConnection(psycopg.AsyncConnection):
    """A connection of our pools: it keeps when it was last given back, and
    runs the enqueue's statement the short way (`fetch_prepared`)."""

    returned_at = float("-inf")
    _prepared_here: dict[bytes, _Formats] | None = None  # by statement name
    _adapt: Transformer | None = None
    # The event loop watches the socket for our statements from the first one
    # on, not once per statement: registering and removing a reader each time
    # cost an enqueue about 30 µs of CPU. `_watched` is the loop and the fd.
    _watched: tuple[asyncio.AbstractEventLoop, int] | None = None
    _waiter: asyncio.Future | None = None

    async def fetch_prepared(self, query: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """The rows of `query`, prepared by name on this connection the first
        time it runs here, its parameters sent as `_Formats` says.

        An enqueue one by one spent most of its client time in psycopg's
        cursor around its one round trip (generators, a timer and an fd
        registration per wait, result handling): measured here, about 235 µs
        of CPU for the statement against 127 µs for the same libpq calls made
        directly, as here, through psycopg's own `pgconn` and adapters
        (asyncpg: about 100). For our pools' connections only: nothing else
        runs on one while it is borrowed."""
        statement = _statement(query)
        if self._prepared_here is None:
            self._prepared_here, self._adapt = {}, Transformer(self)
        formats = self._prepared_here.get(statement.name)
        if formats is None:
            formats = self._prepared_here[statement.name] = await self._prepare(statement)
        values = statement.values(params)
        dumped = self._adapt.dump_sequence(values, formats.formats)
        if not formats.fit(self._adapt.types):
            dumped = self._adapt.dump_sequence(values, statement.formats)
        self.pgconn.send_query_prepared(statement.name, dumped, self._adapt.formats)
        result = await self._result()
        self._adapt.set_pgresult(result)
        return self._adapt.load_rows(0, result.ntuples, tuple)

    async def _prepare(self, statement: _Statement) -> _Formats:
        """Prepares `statement` here, and learns the types PostgreSQL gave its parameters."""
        self.pgconn.send_prepare(statement.name, statement.text)
        with contextlib.suppress(psycopg.errors.DuplicatePreparedStatement):  # by a call cancelled meanwhile
            await self._result()
        self.pgconn.send_describe_prepared(statement.name)
        return _Formats.of(await self._result())

    async def _result(self) -> pq.abc.PGresult:
        try:
            return await self._next_result()
        except asyncio.CancelledError:
            # Cancelled mid-statement: wait for its end, as psycopg's cursor
            # does, so that the connection goes back to the pool usable
            # (given back busy, the pool would close it).
            with contextlib.suppress(psycopg.Error):
                await self._next_result()
            raise

    async def _next_result(self) -> pq.abc.PGresult:
        """The result of the statement just sent; its error raised as psycopg would."""
        pgconn = self.pgconn
        while pgconn.flush():  # rare: the socket's buffer is full
            await _until_writable(pgconn.socket)
        results = []
        while True:
            try:
                while pgconn.is_busy():
                    await self._readable()  # `_on_input` reads what comes
            except psycopg.DatabaseError:
                # libpq may have closed the socket: no reader may outlive it.
                self._stop_watching()
                # As psycopg does: a backend ended by the server says why
                # before its socket closes; raise that error (AdminShutdown,
                # which Connector retries), not the closed socket's.
                if any(r.status == pq.ExecStatus.FATAL_ERROR for r in results):
                    break
                raise
            result = pgconn.get_result()
            if result is None:
                break
            results.append(result)
        if not results:
            raise psycopg.OperationalError("the server sent no result")
        result = results[0]
        if result.status == pq.ExecStatus.FATAL_ERROR:
            raise psycopg.errors.error_from_result(result, encoding=self.info.encoding)
        if result.status not in (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK):
            raise psycopg.InternalError(f"unexpected result: {pq.ExecStatus(result.status).name}")
        return result

    async def _readable(self) -> None:
        """Until the input read from the socket completes our statement's result
        (or `consume_input` fails)."""
        if self._watched is None:
            loop, fileno = asyncio.get_running_loop(), self.pgconn.socket
            loop.add_reader(fileno, self._on_input)
            self._watched = (loop, fileno)
        self._waiter = self._watched[0].create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _on_input(self) -> None:
        """Reads the input here, in the loop's callback, and wakes the statement
        only once its result is complete. Waking it to read would leave the
        socket ready for one more turn of the loop: a second, empty wake-up of
        every statement (an epoll_wait, a recv() that found nothing and a task
        step, measured on each enqueue)."""
        waiter = self._waiter
        if waiter is None:
            # Input that no statement of ours waits for (the server ending the
            # connection, say): stop watching, or the socket, ready until read,
            # would wake the loop on every turn. The next statement watches again.
            self._stop_watching()
            return
        if waiter.done():
            return
        try:
            self.pgconn.consume_input()
            if self.pgconn.is_busy():
                return  # a part of the result: wait for the rest
        except psycopg.Error as exc:
            waiter.set_exception(exc)
            return
        waiter.set_result(None)

    def _stop_watching(self) -> None:
        if self._watched is not None:
            loop, fileno = self._watched
            self._watched = None
            loop.remove_reader(fileno)

    async def wait(self, gen: Any, *args: Any, **kwargs: Any) -> Any:
        """psycopg's own waits (cursors, commits, the pool's checks) register the
        socket themselves, and remove it after."""
        self._stop_watching()
        return await super().wait(gen, *args, **kwargs)

    async def close(self) -> None:
        self._stop_watching()
        await super().close()


# A connection used within the last second is known to be alive; checking it
# again would cost a round trip on every query of a busy engine. One idle for
# longer may have been cut (a database restart), so it is checked first.
_IDLE_CHECK_SECONDS = 1.0


async def _check_if_idle(connection: PooledConnection) -> None:
    if time.monotonic() - connection.returned_at > _IDLE_CHECK_SECONDS:
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

    async def fetch_value(self, query: str, params: Params = None) -> Any:
        """The first column of the first row; None without a row. On our
        pools' connections, prepared (`PooledConnection.fetch_prepared`)."""
        with translated_errors():
            if isinstance(self.connection, PooledConnection):
                rows = await self.connection.fetch_prepared(query, params or {})
            else:
                cursor = self.connection.cursor()
                await cursor.execute(query, params)
                rows = await cursor.fetchall()
            return rows[0][0] if rows else None

    async def fetch_column(self, query: str, params: Params = None) -> list[Any]:
        """The first column of every row."""
        with translated_errors():
            cursor = self.connection.cursor()
            await cursor.execute(query, params)
            return [row[0] for row in await cursor.fetchall()]


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


class _Lender:
    """Lends a pool's connections, keeping the one given back last for the next
    borrower instead of returning it: a statement at a time, the common case,
    then skips the pool's getconn and putconn (some 15-20 µs of CPU an enqueue,
    measured). Kept for a second at most (after that the pool checks it, as
    `_check_if_idle` says), only when idle and error-free, and never while
    someone waits for the pool: such a borrower gets it from the pool."""

    def __init__(self, pool: psycopg_pool.AsyncConnectionPool):
        self.pool = pool
        self._kept: PooledConnection | None = None
        self._waiting = 0

    async def borrow(self) -> PooledConnection:
        connection, self._kept = self._kept, None
        if connection is not None:
            if time.monotonic() - connection.returned_at <= _IDLE_CHECK_SECONDS:
                return connection
            await self.pool.putconn(connection)
        self._waiting += 1
        try:
            return await self.pool.getconn()
        finally:
            self._waiting -= 1

    async def give_back(self, connection: PooledConnection, *, failed: bool = False) -> None:
        """`failed`: its statement raised; the pool decides whether it is still usable."""
        connection.returned_at = time.monotonic()
        if (not failed and self._kept is None and not self._waiting and not connection.closed
                and connection.pgconn.transaction_status == pq.TransactionStatus.IDLE):
            self._kept = connection
            return
        await self.pool.putconn(connection)

    async def lend(self, work: Callable[[PooledConnection], Any]) -> Any:
        """`await work(connection)` on a borrowed connection, given back after.
        The connector's statements use this rather than a context manager: one
        generator fewer on every query."""
        connection = await self.borrow()
        try:
            result = await work(connection)
        except BaseException:
            await self.give_back(connection, failed=True)
            raise
        await self.give_back(connection)
        return result

    async def close(self) -> None:
        connection, self._kept = self._kept, None
        if connection is not None:
            await self.pool.putconn(connection)
        await self.pool.close()


class Connector:
    def __init__(
        self, conninfo: str, *, min_size: int = 1, max_size: int = 10, name: str = "craft-jobs",
        generic_plan_pool_size: int = 0,
    ):
        """`generic_plan_pool_size` > 0 adds a pool whose connections always use
        generic plans, for `fetch_all(..., generic_plan=True)`."""
        self.conninfo = conninfo
        self._slow_query_log: Callable[..., None] | None = None
        self._query_names: dict[str, str] = {}
        self._lender = _Lender(self._new_pool(min_size, max_size, name, {}))
        self._generic_lender = (
            _Lender(self._new_pool(1, generic_plan_pool_size, f"{name}-dispatch", _with_generic_plans(conninfo)))
            if generic_plan_pool_size > 0 else None
        )

    def _new_pool(self, min_size: int, max_size: int, name: str, extra: dict[str, Any]) -> psycopg_pool.AsyncConnectionPool:
        return psycopg_pool.AsyncConnectionPool(
            self.conninfo,
            min_size=min_size,
            max_size=max_size,
            connection_class=PooledConnection,
            open=False,
            name=name,
            timeout=10,
            kwargs={"autocommit": True, "application_name": name, **extra},
            check=_check_if_idle,
            # No `reset` callback: with one, the pool hands every returned
            # connection to a background worker, a detour on every query.
        )

    def log_slow_queries(self, log: Callable[..., None], query_names: dict[str, str]) -> None:
        """From now on, statements run on their own (not inside `transaction()`)
        that take over SLOW_QUERY_SECONDS go to `log`, named by `query_names`."""
        self._slow_query_log, self._query_names = log, query_names

    def _note_if_slow(self, query: str, started: float) -> None:
        elapsed = time.monotonic() - started
        if elapsed > SLOW_QUERY_SECONDS and self._slow_query_log is not None:
            name = self._query_names.get(query) or " ".join(query.split())[:80]
            self._slow_query_log("slow query %s: %.3f s", name, elapsed)

    def _lenders(self) -> list[_Lender]:
        return [self._lender] if self._generic_lender is None else [self._lender, self._generic_lender]

    async def open(self, wait_seconds: float = 10) -> None:
        with translated_errors():
            for lender in self._lenders():
                await lender.pool.open(wait=True, timeout=wait_seconds)

    async def close(self) -> None:
        for lender in self._lenders():
            await lender.close()

    def _lender_for(self, generic_plan: bool) -> _Lender:
        return self._generic_lender if generic_plan and self._generic_lender is not None else self._lender

    @contextlib.asynccontextmanager
    async def _borrowed(self, generic_plan: bool = False) -> AsyncIterator[psycopg.AsyncConnection]:
        lender = self._lender_for(generic_plan)
        connection = await lender.borrow()
        try:
            yield connection
        except BaseException:
            await lender.give_back(connection, failed=True)
            raise
        await lender.give_back(connection)

    @contextlib.asynccontextmanager
    async def session(self, generic_plan: bool = False) -> AsyncIterator[Session]:
        """One pooled connection in autocommit mode."""
        with translated_errors():
            async with self._borrowed(generic_plan) as connection:
                yield Session(connection)

    @contextlib.asynccontextmanager
    async def transaction(self, generic_plan: bool = False) -> AsyncIterator[Session]:
        with translated_errors():
            async with self._borrowed(generic_plan) as connection:
                async with connection.transaction():
                    yield Session(connection)

    async def _again_if_cut(self, run, generic_plan: bool = False, query: str = ""):
        """Runs `run(session)`; again on another connection while the pooled ones
        turn out cut by a server restart (each is then dropped from the pool).
        The server ended such a backend before our statement reached it, so
        running it again cannot run it twice."""
        lender = self._lender_for(generic_plan)
        started = time.monotonic() if self._slow_query_log is not None else None
        try:
            for retries_left in range(lender.pool.max_size, -1, -1):
                try:
                    with translated_errors():
                        return await lender.lend(lambda connection: run(Session(connection)))
                except DatabaseUnavailableError as exc:
                    if not retries_left or not isinstance(exc.__cause__, _SERVER_ENDED_BACKEND):
                        raise
        finally:
            if started is not None:
                self._note_if_slow(query, started)

    async def execute(self, query: str, params: Params = None) -> None:
        await self._again_if_cut(lambda session: session.execute(query, params), query=query)

    async def fetch_one(self, query: str, params: Params = None) -> dict[str, Any] | None:
        return await self._again_if_cut(lambda session: session.fetch_one(query, params), query=query)

    async def fetch_all(self, query: str, params: Params = None, *, generic_plan: bool = False) -> list[dict[str, Any]]:
        """`generic_plan`: on the generic-plan pool, when there is one."""
        return await self._again_if_cut(lambda session: session.fetch_all(query, params), generic_plan, query)

    async def fetch_value(self, query: str, params: Params = None) -> Any:
        return await self._again_if_cut(lambda session: session.fetch_value(query, params), query=query)

    async def fetch_column(self, query: str, params: Params = None) -> list[Any]:
        return await self._again_if_cut(lambda session: session.fetch_column(query, params), query=query)
