"""After an outage of its own, a server rescues nothing (its own runs or the others')
until its heartbeat is written again, and then not for a full server timeout."""

from __future__ import annotations

from datetime import timedelta

import pytest

from craft_jobs.engine.heartbeat import Heartbeat
from craft_jobs.engine.maintenance import Maintenance
from craft_jobs.states import JobState
from craft_jobs.store.lease import LeaseConnection
from tests.support.jobs import Noop

ME, OTHER = "engine-me", "engine-other"


class Monotonic:
    """The heartbeat's monotonic time, moved by the test."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def monotonic():
    return Monotonic()


@pytest.fixture
def maintenance(store, options, clock, monotonic):
    """Our server's rescue, with its heartbeat driven by hand (no threads)."""
    lease = LeaseConnection(store.connector.conninfo, options.schema_name, options.server_timeout_seconds)
    maintenance = Maintenance(store, options, ME, clock)
    maintenance.heartbeat = Heartbeat(lease, maintenance.server_row, options, clock, monotonic=monotonic)
    yield maintenance
    lease.close()


@pytest.fixture
def heartbeat(maintenance):
    return maintenance.heartbeat


def _silence(options, clock, monotonic, heartbeat, seconds):
    """Nobody could heartbeat for `seconds`: the heartbeat's session (and its lock) is gone."""
    heartbeat.lease.close()
    clock.advance(timedelta(seconds=seconds))
    monotonic.now += seconds


async def _states(store, *job_ids):
    return [(await store.get_job(job_id)).state for job_id in job_ids]


async def test_a_server_back_from_an_outage_rescues_nothing_before_its_heartbeat_and_a_timeout(
        scheduler, store, options, clock, monotonic, maintenance, heartbeat):
    mine, theirs = await scheduler.schedule(Noop), await scheduler.schedule(Noop)
    heartbeat.beat_once()
    await store.claim_jobs(ME, 1)
    await store.heartbeat({"id": OTHER, "kind": "engine", "hostname": "h", "pid": 2, "worker_count": 1,
                           "queues": None, "in_flight": 1})
    await store.claim_jobs(OTHER, 1)
    timeout = options.server_timeout_seconds

    # PostgreSQL was away for three timeouts and is back; our heartbeat has not been written yet.
    _silence(options, clock, monotonic, heartbeat, 3 * timeout)
    assert not heartbeat.may_rescue()
    assert await maintenance.rescue_once() == 0
    assert await _states(store, mine, theirs) == [JobState.PROCESSING] * 2, "no run rescued, ours included"

    heartbeat.beat_once()  # written again: the others get a full timeout to do the same
    for since in range(1, int(timeout)):  # beating every second, as the options say
        clock.advance(timedelta(seconds=1))
        monotonic.now += 1
        heartbeat.beat_once()
        assert await maintenance.rescue_once() == 0, f"rescued {since} s after heartbeating again"
    assert await _states(store, mine, theirs) == [JobState.PROCESSING] * 2

    clock.advance(timedelta(seconds=1.5))
    monotonic.now += 1.5
    heartbeat.beat_once()
    assert await maintenance.rescue_once() == 1, "the other server stayed silent for a timeout: its run is rescued"
    assert await _states(store, mine, theirs) == [JobState.PROCESSING, JobState.ENQUEUED]


async def test_a_late_heartbeat_of_its_own_holds_the_rescue_even_before_the_timeout(
        scheduler, store, options, clock, monotonic, maintenance, heartbeat):
    """Missing two beats is enough: the others may have missed as many, and be a
    little further behind."""
    theirs = await scheduler.schedule(Noop)
    await store.heartbeat({"id": OTHER, "kind": "engine", "hostname": "h", "pid": 2, "worker_count": 1,
                           "queues": None, "in_flight": 1})
    await store.claim_jobs(OTHER, 1)
    heartbeat.beat_once()
    late = options.outage_after_seconds + 0.5
    assert late < options.server_timeout_seconds
    _silence(options, clock, monotonic, heartbeat, late)
    assert not heartbeat.may_rescue(), "our own heartbeat is late"
    clock.advance(timedelta(seconds=options.server_timeout_seconds))  # the other row is stale now
    monotonic.now += 0.1
    heartbeat.beat_once()
    assert await maintenance.rescue_once() == 0
    assert await _states(store, theirs) == [JobState.PROCESSING]
