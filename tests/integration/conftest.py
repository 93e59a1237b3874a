"""Integration fixtures: options, a store and a clock over this test's database."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from craft_jobs.clock import FrozenClock
from craft_jobs.options import load_options
from craft_jobs.store.connector import Connector
from craft_jobs.store.store import JobStore


@pytest.fixture
def options(database_url_for_test, tmp_path):
    return load_options(
        connection_string=database_url_for_test,
        job_modules=["craft_jobs.samples.jobs", "tests.support.jobs"],
        polling_interval_seconds=1,
        heartbeat_interval_seconds=1,
        server_timeout_seconds=5,
        cancel_grace_seconds=2,
        data_dir=tmp_path,
    )


@pytest.fixture
def clock():
    return FrozenClock(datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc))


@pytest.fixture
async def connector(options):
    connector = Connector(options.connection_string, max_size=5)
    await connector.open()
    yield connector
    await connector.close()


@pytest.fixture
async def store(connector, options, clock):
    store = JobStore(connector, options, clock)
    yield store
    await store.notifier.flush()  # before the connector fixture closes the pool


@pytest.fixture
async def scheduler(store, options):
    import craft_jobs_runner

    from craft_jobs.client.scheduler import JobScheduler
    from craft_jobs.engine.engine import register_job_types

    await register_job_types(store, options.job_modules)
    assert "test-noop" in craft_jobs_runner.registered_job_types()
    return JobScheduler(store, options)


@pytest.fixture
async def start_engine(options, clock):
    """Starts engines on this test's database; all are stopped at the end."""
    from craft_jobs.engine.engine import Engine
    from craft_jobs.engine.inline import InlineExecutor

    engines = []

    async def start(executor=None, *, engine_options=None, use_clock=True, store=None, queues=None):
        engine = Engine(
            engine_options or options,
            executor or InlineExecutor(cancel_grace_seconds=1),
            clock=clock if use_clock else None,
            startup_timeout=5,
            store=store,
            queues=queues,
        )
        await engine.start()
        engines.append(engine)
        return engine

    yield start
    for engine in engines:
        await engine.stop(grace_seconds=1)
