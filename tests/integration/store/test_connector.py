"""The connector's pools, on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import datetime, timedelta, timezone

import pytest
from psycopg.conninfo import make_conninfo

from craft_jobs.clock import SystemClock
from craft_jobs.engine.engine import connect_store
from craft_jobs.errors import DatabaseUnavailableError, StoreError
from craft_jobs.options import load_options
from craft_jobs.store.connector import Connector

SETTINGS = "SELECT current_setting('plan_cache_mode') AS plans, current_setting('statement_timeout') AS timeout"


async def test_the_dispatch_pool_plans_generically_and_keeps_the_users_options(database_url_for_test):
    url = make_conninfo(database_url_for_test, options="-c statement_timeout=12345")
    connector = Connector(url, max_size=2, generic_plan_pool_size=1)
    await connector.open()
    try:
        assert await connector.fetch_all(SETTINGS, generic_plan=True) == [
            {"plans": "force_generic_plan", "timeout": "12345ms"}]
        assert await connector.fetch_all(SETTINGS) == [{"plans": "auto", "timeout": "12345ms"}]
    finally:
        await connector.close()


async def test_without_a_dispatch_pool_generic_plan_queries_use_the_main_one(database_url_for_test):
    connector = Connector(database_url_for_test, max_size=1)
    await connector.open()
    try:
        [row] = await connector.fetch_all(SETTINGS, generic_plan=True)
        assert row["plans"] == "auto"
    finally:
        await connector.close()


@pytest.fixture
def silent_server():
    """A TCP port that accepts connections and never answers, as a server behind a partition."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"postgresql://postgres@127.0.0.1:{listener.getsockname()[1]}/jobs"


async def test_a_database_that_never_answers_fails_the_start_instead_of_hanging(silent_server):
    options = load_options(connection_string=silent_server, database_connect_timeout_seconds=1)
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailableError, match="gave up after 2 s"):
        await asyncio.wait_for(connect_store(options, SystemClock(), startup_timeout=2, pool_size=1), 30)
    assert time.monotonic() - started < 10


async def test_a_statement_that_runs_too_long_fails_with_database_unavailable(database_url_for_test):
    options = load_options(connection_string=database_url_for_test, database_statement_timeout_seconds=1)
    store = await connect_store(options, SystemClock(), startup_timeout=5, pool_size=1)
    try:
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailableError, match="statement timeout"):
            await store.connector.fetch_one("SELECT pg_sleep(5)")
        assert time.monotonic() - started < 4
        assert await store.connector.fetch_one("SELECT 1 AS one") == {"one": 1}  # and the pool recovers
    finally:
        await store.close()


PID = "SELECT pg_backend_pid()"


@pytest.fixture
async def one_connection(database_url_for_test):
    """A connector whose pool holds one connection."""
    connector = Connector(database_url_for_test, max_size=1)
    await connector.open()
    yield connector
    await connector.close()


async def only_connection(connector: Connector):
    async with connector.session() as session:
        return session.connection


async def test_a_connection_serves_our_statements_and_psycopgs_own_in_turn(one_connection):
    """Our statements leave the socket watched between them; psycopg's waits
    (cursors) take it over and give it back."""
    for round_number in range(3):
        assert await one_connection.fetch_value("SELECT %(n)s::int + 1", {"n": round_number}) == round_number + 1
        assert await one_connection.fetch_all("SELECT %(n)s::int AS n", {"n": round_number}) == [{"n": round_number}]
    connection = await only_connection(one_connection)
    assert connection._watched is None  # the cursor came last
    await one_connection.fetch_value(PID)
    assert connection._watched is not None


async def test_a_watched_connection_that_the_server_ends_while_idle_stops_being_watched(one_connection, store):
    pid = await one_connection.fetch_value(PID)
    connection = await only_connection(one_connection)
    loop, fileno = connection._watched
    await store.connector.fetch_value("SELECT pg_terminate_backend(%(pid)s::int)", {"pid": pid})
    for _ in range(100):
        if connection._watched is None:
            break
        await asyncio.sleep(0.01)
    assert connection._watched is None
    assert not loop.remove_reader(fileno)  # no reader left to wake the loop on every turn
    # The next statement finds the connection ended and runs on a new one.
    assert await one_connection.fetch_value(PID) != pid


async def test_a_result_read_in_many_parts_and_a_refused_statement_leave_the_connection_usable(one_connection):
    """The socket's reader reads the input as it comes and wakes the statement
    once its result is whole, or with the error it got."""
    big = await one_connection.fetch_value("SELECT repeat('x', %(n)s::int)", {"n": 4_000_000})
    assert big == "x" * 4_000_000
    with pytest.raises(StoreError, match="division by zero"):
        await one_connection.fetch_value("SELECT 1 / %(zero)s::int", {"zero": 0})
    assert await one_connection.fetch_value("SELECT %(n)s::int", {"n": 7}) == 7


async def test_timestamps_given_in_any_form_are_read_as_psycopgs_cursor_reads_them(one_connection):
    """Aware datetimes go to a timestamptz parameter in binary, anything else as text."""
    plus_two = timezone(timedelta(hours=2))
    query = "SELECT (%(at)s::timestamptz - %(since)s)::text || ' ' || (%(at)s::timestamptz = %(again)s)::text"
    since = datetime(2000, 1, 1, tzinfo=timezone.utc)
    for at in (datetime(2026, 3, 1, 12, 30, 0, 123456, tzinfo=plus_two), datetime(2026, 3, 1, 12, 30),
               "2026-03-01 12:30:00+05", None):
        params = {"at": at, "since": since, "again": at}
        async with one_connection.session() as session:
            cursor = session.connection.cursor()
            await cursor.execute(query, params)
            [expected] = await cursor.fetchone()
        assert await one_connection.fetch_value(query, params) == expected
    connection = await only_connection(one_connection)
    assert [formats.binary_at for formats in connection._prepared_here.values()] == [(0, 1, 2)]


async def test_a_statement_whose_backend_is_ended_meanwhile_runs_again_on_a_new_connection(one_connection, store):
    pid = await one_connection.fetch_value(PID)
    slow = asyncio.create_task(one_connection.fetch_value("SELECT pg_backend_pid() FROM pg_sleep(2)"))
    await asyncio.sleep(0.3)
    await store.connector.fetch_value("SELECT pg_terminate_backend(%(pid)s::int)", {"pid": pid})
    assert await asyncio.wait_for(slow, 10) != pid  # AdminShutdown: run again, as after a restart


async def test_closing_a_watched_connection_removes_its_reader(one_connection):
    await one_connection.fetch_value(PID)
    connection = await only_connection(one_connection)
    loop, fileno = connection._watched
    await one_connection.close()
    assert connection._watched is None
    assert not loop.remove_reader(fileno)


async def test_statements_that_wait_for_the_only_connection_get_it(one_connection):
    """The connection given back last is kept for the next statement, but never
    while another waits for the pool: with one connection, all get their turn."""
    results = await asyncio.wait_for(asyncio.gather(*(
        one_connection.fetch_value("SELECT %(n)s::int FROM pg_sleep(0.01)", {"n": n}) for n in range(20))), 10)
    assert results == list(range(20))


async def test_a_transaction_that_failed_leaves_a_usable_connection(one_connection):
    with pytest.raises(StoreError):
        async with one_connection.transaction() as session:
            await session.execute("SELECT 1 / 0")
    with pytest.raises(RuntimeError):
        async with one_connection.transaction() as session:
            await session.execute("SELECT 1")
            raise RuntimeError("the caller's own error, mid-transaction")
    assert await one_connection.fetch_value("SELECT 2") == 2
    async with one_connection.transaction() as session:
        assert await session.fetch_value("SELECT 3") == 3
