"""An engine that stops interrupts its local runs: they go back to Enqueued
without using an attempt, however they end, and their history says why."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from pathlib import Path

import pytest

from craft_jobs.engine.engine import Engine
from craft_jobs.engine.local import LocalExecutor
from craft_jobs.states import JobState
from tests.support.engineprocess import alive
from tests.support.jobs import Sleep, Stubborn, Ticker
from tests.support.polling import eventually


def _started_pid(marker: Path, ticker: bool):
    """The run's pid once it has started (a test-ticker writes JSON lines, the others their pid)."""
    if not marker.exists() or not marker.read_text():
        return None
    text = marker.read_text()
    return json.loads(text.splitlines()[0])["pid"] if ticker else int(text)


@pytest.mark.parametrize(
    ("job", "exit_code", "how"),
    [
        (Sleep, 143, ""),  # it looks for cancellation and stops at once
        (Ticker, 143, ""),  # it never looks: the runner cancels its task once the grace is over
        (Stubborn, 137, "; the run did not stop within its 2 s grace and was killed"),  # it ignores even that
    ],
    ids=["honours-cancellation", "cancelled-after-its-grace", "ignores-cancellation"],
)
async def test_a_run_stopped_by_its_engine_is_requeued_without_using_an_attempt(
    scheduler, store, options, tmp_path, job, exit_code, how
):
    marker = tmp_path / "started"
    params = {"path": str(marker), "seconds": 60} if job is Ticker else {"seconds": 60, "started_marker": str(marker)}
    engine = Engine(options, LocalExecutor(options.job_modules, options.cancel_grace_seconds), startup_timeout=5)
    await engine.start()
    try:
        job_id = await scheduler.schedule(job, params, max_attempts=0)

        async def started():
            return _started_pid(marker, job is Ticker)

        pid = await eventually(started, 20, what="the run to start")
    finally:
        await engine.stop(grace_seconds=0.2)
    assert not alive(pid)
    stored = await store.get_job(job_id)
    assert (stored.state, stored.attempt) == (JobState.ENQUEUED, 0)
    last = (await store.job_history(job_id))[-1]
    assert (last.state, last.reason) == (JobState.ENQUEUED, f"requeued without using an attempt: its engine stopped{how}")
    assert last.data["exit_code"] == exit_code


async def test_a_run_that_ends_within_the_grace_of_a_stop_keeps_its_outcome(scheduler, store, options, tmp_path):
    marker = tmp_path / "started"
    engine = Engine(options, LocalExecutor(options.job_modules, options.cancel_grace_seconds), startup_timeout=5)
    await engine.start()
    try:
        job_id = await scheduler.schedule(Sleep, {"seconds": 1, "started_marker": str(marker)}, max_attempts=0)
        await eventually(lambda: _exists(marker), 20, what="the run to start")
    finally:
        await engine.stop(grace_seconds=10)
    assert (await store.get_job(job_id)).state is JobState.SUCCEEDED


async def _exists(path: Path) -> bool:
    return path.exists()


async def test_a_stop_that_is_cancelled_still_ends_the_heartbeat(scheduler, options, tmp_path):
    """A caller that gives up on a stop (a timeout around it) must not leave the
    heartbeat's threads behind: they would keep the server alive in the others' eyes."""
    marker = tmp_path / "started"
    engine = Engine(options, LocalExecutor(options.job_modules, options.cancel_grace_seconds), startup_timeout=5)
    await engine.start()
    await scheduler.schedule(Sleep, {"seconds": 60, "started_marker": str(marker)}, max_attempts=0)
    await eventually(lambda: _exists(marker), 20, what="the run to start")
    assert _heartbeat_threads()
    stopping = asyncio.create_task(engine.stop(grace_seconds=30))
    await asyncio.sleep(0.3)
    stopping.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await stopping

    async def ended():
        return not _heartbeat_threads()

    await eventually(ended, 10, what="the heartbeat's threads to end")


def _heartbeat_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name in ("craft-heartbeat", "craft-fence")]
