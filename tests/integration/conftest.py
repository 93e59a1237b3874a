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
    return JobStore(connector, options, clock)
