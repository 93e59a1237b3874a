"""Fixtures shared by every test: a real PostgreSQL and a fresh database per test.

The server is `CRAFT_JOBS_TEST_DATABASE_URL` when set, else an embedded one
started once per session. A template database is migrated once; each test
gets its own copy (`CREATE DATABASE ... TEMPLATE`).
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path

import hypothesis  # noqa: F401
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.support.invariants import rows_breaking_rules

# hypothesis is imported here, not by its pytest plugin at the end of a session
# that used none of it: there the import's parsing can overlap a daemon thread's
# (an operator's, still stopping), and CPython 3.11's parser state is shared
# between threads ("AST constructor recursion depth mismatch").
ROOT = Path(__file__).resolve().parent.parent
SCHEMA = "craft_jobs"


# Outside pytest's temporary folders, which concurrent sessions prune; the
# server is shared by concurrent sessions and stopped by the last one.
EMBEDDED_DATA_DIR = ROOT / ".craft-jobs" / "test-postgres"


def _server_url() -> tuple[str, object | None]:
    url = os.environ.get("CRAFT_JOBS_TEST_DATABASE_URL")
    if url:
        return url, None
    from craft_jobs.store.embedded import EmbeddedPostgres

    server = EmbeddedPostgres(EMBEDDED_DATA_DIR)
    url = server.start()
    # A throwaway test server need not survive a power cut: skip the flushes
    # that make CREATE/DROP DATABASE take a second each.
    with psycopg.connect(url, autocommit=True) as conn:
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(f"ALTER SYSTEM SET {setting} = off")
        conn.execute("SELECT pg_reload_conf()")
    return url, server


def database_url(base_url: str, database: str) -> str:
    params = conninfo_to_dict(base_url)
    params["dbname"] = database
    return make_conninfo(**params)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    url, server = _server_url()
    yield url
    if server is not None:
        server.stop()


@pytest.fixture(scope="session")
def template_database(postgres_server) -> Iterator[str]:
    import asyncio

    from craft_jobs.store.migrations import migrate

    name = f"craft_jobs_tpl_{os.getpid()}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    asyncio.run(migrate(database_url(postgres_server, name), SCHEMA))
    yield name
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _scratch_database(server_url: str, prefix: str, template: str | None = None) -> Iterator[str]:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    url = database_url(server_url, name)
    yield url
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            broken = rows_breaking_rules(conn, SCHEMA)
        assert not broken, "rows left breaking their state's rules:\n" + "\n".join(broken)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url_for_test(postgres_server, template_database) -> Iterator[str]:
    """A migrated database of this test's own."""
    yield from _scratch_database(postgres_server, "craft_jobs_test", template_database)


@pytest.fixture
def empty_database_url(postgres_server) -> Iterator[str]:
    """A database with nothing in it, for migration tests."""
    yield from _scratch_database(postgres_server, "craft_jobs_empty")


def pytest_unconfigure(config):
    """A failed test may leave behind what it started (a thread that is not a
    daemon, blocked), and the interpreter's exit would wait for it after the
    summary, for ever: then name those threads with their stacks and end."""
    status = getattr(config, "_craft_exit_status", 0)
    left = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if not status or not left:
        return
    frames = sys._current_frames()
    for thread in left:
        print(f"\nthread {thread.name} was still running at the end:", file=sys.stderr)
        traceback.print_stack(frames.get(thread.ident), file=sys.stderr)
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(int(status))


def pytest_sessionfinish(session, exitstatus):
    session.config._craft_exit_status = exitstatus
