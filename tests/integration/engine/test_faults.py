"""Faults: a database that is down at start or restarts mid-run; an engine killed
with -9, stopped, cut off from PostgreSQL, or with its event loop blocked."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from craft_jobs.engine.engine import Engine
from craft_jobs.engine.inline import InlineExecutor
from craft_jobs.engine.local import LocalExecutor
from craft_jobs.errors import DatabaseUnavailableError
from craft_jobs.options import load_options
from craft_jobs.states import JobState
from tests.support.engineprocess import alive, engine_process, events, overlapping, runs
from tests.support.jobs import Noop, Sleep, Ticker
from tests.support.pgproxy import PgProxy
from tests.support.polling import eventually


async def test_a_database_that_is_down_at_start_gives_a_clear_error(tmp_path):
    options = load_options(connection_string="postgresql://postgres@127.0.0.1:1/none?connect_timeout=1")
    engine = Engine(options, InlineExecutor(), startup_timeout=1)
    with pytest.raises(DatabaseUnavailableError, match=r"(?s)gave up after 1 s.*CRAFT_JOBS_CONNECTION_STRING"):
        await engine.start()


def test_the_cli_reports_a_database_that_is_down(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "craft_jobs.cli", "--connection-string", "postgresql://postgres@127.0.0.1:1/x?connect_timeout=1", "list"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "PostgreSQL is unavailable" in result.stderr and "Traceback" not in result.stderr


async def _terminate_other_connections(url: str) -> int:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cursor = await conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return (await cursor.fetchone())[0]


async def test_the_engine_reconnects_when_the_database_drops_every_connection(scheduler, store, start_engine, options):
    """What the engine sees of a PostgreSQL restart: every connection is cut."""
    await start_engine(use_clock=False, store=None)
    before = await scheduler.schedule(Noop)
    await eventually(lambda: _is(store, before, JobState.SUCCEEDED), what="the first job")
    killed = await _terminate_other_connections(options.connection_string)
    assert killed >= 2  # the engine's pool and its LISTEN connection at least
    # The test's own pool lost its connections too; its pool checks and replaces them.
    after = [await scheduler.schedule(Noop) for _ in range(5)]
    for job_id in after:
        await eventually(lambda: _is(store, job_id, JobState.SUCCEEDED), 20, what=f"job {job_id} after the restart")


async def _is(store, job_id, state):
    return (await store.get_job(job_id)).state is state


async def test_jobs_of_an_engine_killed_with_sigkill_are_rescued_by_another(scheduler, store, start_engine, options, tmp_path):
    async with engine_process(options.connection_string, heartbeat_interval_seconds=1, polling_interval_seconds=1) as doomed:
        markers = [tmp_path / f"started-{i}" for i in range(3)]
        ids = [await scheduler.schedule(Sleep, {"seconds": 2, "started_marker": str(m)}) for m in markers]

        async def all_started():
            return all(m.exists() for m in markers)

        await eventually(all_started, 30, what="the doomed engine to start the jobs")
        await doomed.kill()
    for job_id in ids:
        job = await store.get_job(job_id)
        assert job.state is JobState.PROCESSING and job.server_id == doomed.server_id
    # A second engine notices the silent server (timeout 5 s in these options) and finishes its jobs.
    await start_engine(use_clock=False, store=None)
    for job_id in ids:
        await eventually(lambda: _is(store, job_id, JobState.SUCCEEDED), 30, what=f"job {job_id} to be rescued")
        reasons = [h.reason for h in await store.job_history(job_id)]
        assert "rescued: its server stopped heartbeating" in reasons
    assert doomed.server_id not in {s.id for s in await store.list_servers()}


async def test_after_an_outage_of_its_own_an_engine_waits_before_rescuing(scheduler, store, start_engine, options, clock):
    """Everyone was cut off, not dead: the others get a full timeout to heartbeat again."""
    job_id = await scheduler.schedule(Sleep, {"seconds": 30})
    await store.heartbeat({"id": "other-engine", "kind": "engine", "hostname": "h", "pid": 1,
                           "worker_count": 1, "queues": None, "in_flight": 1})
    [claimed] = await store.claim_jobs("other-engine", 1)
    assert claimed.id == job_id
    engine = await start_engine(engine_options=options.model_copy(update={"worker_count": 1}), queues=["none"])
    clock.advance(timedelta(seconds=options.server_timeout_seconds + 1))  # the other engine's row is now stale
    heartbeat = engine.heartbeat
    heartbeat._last_ok = time.monotonic() - options.server_timeout_seconds - 1  # as after an outage
    await asyncio.to_thread(heartbeat.beat_once)
    assert await engine.maintenance.rescue_once() == 0
    assert (await store.get_job(job_id)).state is JobState.PROCESSING, "no rescue right after our own outage"
    heartbeat._rescue_after = 0.0  # a full timeout later
    assert await engine.maintenance.rescue_once() == 1
    assert (await store.get_job(job_id)).state is JobState.ENQUEUED


# -- a lost engine's runs: none outlives it, none is rescued while it may still run ---------

FAST = {"heartbeat_interval_seconds": 1, "server_timeout_seconds": 5, "polling_interval_seconds": 1,
        "cancel_grace_seconds": 1}


async def _first_start(path):
    started = [e for e in events(path) if e["event"] == "start"]
    return started[0] if started else None


async def test_a_killed_engines_runs_die_with_it_and_are_rescued_once(scheduler, store, start_engine, options, tmp_path):
    out = tmp_path / "ticks.jsonl"
    async with engine_process(options.connection_string, **FAST) as doomed:
        job_id = await scheduler.schedule(Ticker, {"path": str(out), "seconds": 8, "grandchild": True})
        first = await eventually(lambda: _first_start(out), 30, what="the doomed engine to start the job")
        await doomed.kill()
        killed, killed_at = time.monotonic(), datetime.now(timezone.utc)
    # The runner and the process it started in a session of its own go with the engine.
    await eventually(lambda: _gone(first["pid"], first["grandchild"]), 2, what="the job's processes to die")
    outlived = time.monotonic() - killed
    job = await store.get_job(job_id)
    assert job.state is JobState.PROCESSING and job.server_id == doomed.server_id
    await start_engine(LocalExecutor(options.job_modules, 1), use_clock=False, store=None)
    await eventually(lambda: _is(store, job_id, JobState.SUCCEEDED), 30, what="the rescued run")
    [rescue] = [h for h in await store.job_history(job_id) if h.reason == "rescued: its server stopped heartbeating"]
    rescue_delay = (rescue.created_at - killed_at).total_seconds()
    print(f"the runs outlived their engine by {outlived:.2f} s; rescued after {rescue_delay:.1f} s")
    [(_, _, first_ended), (_, _, second_ended)] = runs(out)
    assert not first_ended and second_ended and not overlapping(out)
    # server_timeout_seconds is 5: the rescue comes 4 to 5 s, plus up to a heartbeat interval, after the kill.
    assert 3.5 < rescue_delay < 7
    assert (await store.get_job(job_id)).attempt == 0


async def _gone(*pids):
    return not any(alive(pid) for pid in pids)


async def _ended(path):
    return any(e["event"] == "end" for e in events(path))


async def _held_by(store, job_id, server_id, path):
    """Until the run ends: the job stays Processing on `server_id`."""
    job = await store.get_job(job_id)
    assert (job.state, job.server_id) == (JobState.PROCESSING, server_id), "rescued while its run went on"
    return await _ended(path)


async def _heartbeat_age(store, server_id):
    [server] = [s for s in await store.list_servers() if s.id == server_id]
    return (datetime.now(timezone.utc) - server.heartbeat_at).total_seconds()


async def test_a_stopped_engine_whose_session_lives_is_not_rescued(scheduler, store, start_engine, options, tmp_path):
    """Silent but not dead (SIGSTOP, or a machine too busy to heartbeat): its runs go on, so no rescue."""
    out = tmp_path / "ticks.jsonl"
    await start_engine(use_clock=False, store=None, queues=["elsewhere"])  # a would-be rescuer, running none
    async with engine_process(options.connection_string, **FAST) as frozen:
        job_id = await scheduler.schedule(Ticker, {"path": str(out), "seconds": 9})
        await eventually(lambda: _first_start(out), 30, what="the job to start")
        assert (await store.get_job(job_id)).server_id == frozen.server_id
        frozen.send(signal.SIGSTOP)
        await eventually(lambda: _held_by(store, job_id, frozen.server_id, out), 20, interval=0.1, what="the run to end")
        assert await _heartbeat_age(store, frozen.server_id) > options.server_timeout_seconds + 1
        frozen.send(signal.SIGCONT)
        await eventually(lambda: _is(store, job_id, JobState.SUCCEEDED), 15, what="the run's outcome")
    assert len(runs(out)) == 1


async def test_a_blocked_event_loop_does_not_stop_the_heartbeat(scheduler, store, start_engine, options, tmp_path):
    out = tmp_path / "ticks.jsonl"
    await start_engine(use_clock=False, store=None, queues=["elsewhere"])  # a would-be rescuer, running none
    block = options.server_timeout_seconds + 3
    async with engine_process(options.connection_string, block_seconds=block, **FAST) as busy:
        job_id = await scheduler.schedule(Ticker, {"path": str(out), "seconds": block + 1})
        await eventually(lambda: _first_start(out), 30, what="the job to start")
        busy.send(signal.SIGUSR1)
        blocked = time.monotonic()
        oldest = 0.0
        while time.monotonic() - blocked < block:
            oldest = max(oldest, await _heartbeat_age(store, busy.server_id))
            assert await _held_by(store, job_id, busy.server_id, out) is False
            await asyncio.sleep(0.1)
        await eventually(lambda: _is(store, job_id, JobState.SUCCEEDED), 15, what="the run's outcome")
    assert oldest < 2 * options.heartbeat_interval_seconds + 1, f"a heartbeat was {oldest:.1f} s late"
    assert len(runs(out)) == 1


@pytest.fixture
async def proxy(options):
    proxy = PgProxy(options.connection_string)
    proxied = await proxy.start()
    yield proxy, proxied
    await proxy.close()


async def test_an_engine_cut_off_from_postgresql_stops_its_runs_before_they_can_be_rescued(
    scheduler, store, start_engine, options, tmp_path, proxy
):
    proxy, proxied = proxy
    out = tmp_path / "ticks.jsonl"
    async with engine_process(proxied, **FAST) as cut_off:
        job_id = await scheduler.schedule(Ticker, {"path": str(out), "seconds": 8})
        first = await eventually(lambda: _first_start(out), 30, what="the job to start")
        proxy.cut()
        cut = time.monotonic()
        # Its heartbeat is at most an interval old now; the others may rescue once it is 5 s old.
        await eventually(lambda: _gone(first["pid"]), FAST["server_timeout_seconds"] - 1, interval=0.02,
                         what="the cut-off engine to stop its run")
        stopped_after = time.monotonic() - cut
        proxy.end_sessions()  # PostgreSQL notices the sessions are gone: their locks are free
        await start_engine(LocalExecutor(options.job_modules, 1), use_clock=False, store=None)
        await eventually(lambda: _is(store, job_id, JobState.SUCCEEDED), 30, what="the rescued run")
    print(f"the cut-off engine stopped its run {stopped_after:.2f} s after the cut")
    [(_, _, first_ended), (_, _, second_ended)] = runs(out)
    assert not first_ended and second_ended and not overlapping(out)
    assert "rescued: its server stopped heartbeating" in [h.reason for h in await store.job_history(job_id)]


async def test_an_engine_back_from_a_partition_requeues_the_runs_it_stopped(scheduler, store, options, tmp_path, proxy):
    proxy, proxied = proxy
    out = tmp_path / "ticks.jsonl"
    async with engine_process(proxied, **FAST) as cut_off:
        job_id = await scheduler.schedule(Ticker, {"path": str(out), "seconds": 6}, max_attempts=0)
        first = await eventually(lambda: _first_start(out), 30, what="the job to start")
        proxy.cut()
        await eventually(lambda: _gone(first["pid"]), FAST["server_timeout_seconds"] - 1, interval=0.02,
                         what="the cut-off engine to stop its run")
        proxy.heal()  # before anyone rescued it
        await eventually(lambda: _is(store, job_id, JobState.SUCCEEDED), 30, what="the run after the partition")
        servers = {h.server_id for h in await store.job_history(job_id) if h.state is JobState.PROCESSING}
    assert servers == {cut_off.server_id}
    [(_, _, first_ended), (_, _, second_ended)] = runs(out)
    assert not first_ended and second_ended and not overlapping(out)
    job = await store.get_job(job_id)
    assert job.attempt == 0
    history = [(h.state, h.reason) for h in await store.job_history(job_id)]
    assert [state for state, _ in history] == [JobState.ENQUEUED, JobState.PROCESSING, JobState.ENQUEUED,
                                               JobState.PROCESSING, JobState.SUCCEEDED], history
    assert history[2][1].startswith("requeued without using an attempt: its engine could not heartbeat for "), history
