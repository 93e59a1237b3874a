"""When enqueues NOTIFY: a lone one with its commit, concurrent ones just after
theirs, coalesced; no job is left without a wake-up call."""

from __future__ import annotations

import asyncio
import time

from craft_jobs.states import JobState
from craft_jobs.store.connector import Connector
from craft_jobs.store.store import JobStore
from tests.support.jobs import Noop
from tests.support.polling import eventually


class Listener:
    """Collects this store's NOTIFY payloads over a connection of its own."""

    def __init__(self, store):
        self.store = store
        self.payloads: list[str] = []
        self.listening = asyncio.Event()

    async def run(self):
        async for payload in self.store.notifications(on_listening=self.listening.set):
            self.payloads.append(payload)

    async def received(self, count: int) -> bool:
        return len(self.payloads) >= count


async def listening(store):
    listener = Listener(store)
    task = asyncio.create_task(listener.run())
    await asyncio.wait_for(listener.listening.wait(), 5)
    return listener, task


async def test_only_an_enqueue_with_none_other_under_way_notifies_with_its_commit(store):
    notifier = store.notifier
    assert notifier.starting()
    assert not notifier.starting()  # runs alongside the first
    notifier.finished()
    notifier.finished()
    assert notifier.starting()
    notifier.finished()


async def test_notifies_after_commits_are_coalesced_and_sent_before_the_store_closes(store, options, clock):
    listener, task = await listening(store)
    producer = JobStore(Connector(options.connection_string, max_size=2), options, clock)
    await producer.connector.open()
    try:
        for _ in range(50):
            producer.notifier.after_commit(JobState.ENQUEUED.value)
        producer.notifier.after_commit(JobState.SCHEDULED.value)
        await producer.close()  # at once: the pending NOTIFYs go out before the pool closes
        await eventually(lambda: listener.received(2), 5, what="the coalesced NOTIFYs")
        await asyncio.sleep(0.2)
        assert sorted(listener.payloads) == ["Enqueued", "Scheduled"]
    finally:
        task.cancel()


async def test_a_job_committed_just_after_a_notify_gets_its_own_once_the_interval_passed(store):
    listener, task = await listening(store)
    try:
        store.notifier.after_commit("Enqueued")
        await eventually(lambda: listener.received(1), 5, what="the first NOTIFY")
        started = time.monotonic()
        store.notifier.after_commit("Enqueued")  # within the quiet interval: sent once it has passed
        await eventually(lambda: listener.received(2), 5, interval=0.001, what="the trailing NOTIFY")
        assert time.monotonic() - started < 1 and listener.payloads == ["Enqueued", "Enqueued"]
    finally:
        task.cancel()


async def test_concurrent_producers_lose_no_wake_up_call(scheduler, store, start_engine, options):
    # With a minute between polls, a job committed after the engine's last
    # claim without a NOTIFY after it would wait that minute.
    engine = await start_engine(engine_options=options.model_copy(update={"polling_interval_seconds": 60}))
    listener, task = await listening(store)
    try:
        async def producer():
            return [await scheduler.schedule(Noop) for _ in range(30)]

        # As if one more enqueue were under way throughout: every job below
        # commits without a NOTIFY and relies on the ones sent after commits.
        assert store.notifier.starting()
        try:
            ids = [i for batch in await asyncio.gather(*(producer() for _ in range(8))) for i in batch]
        finally:
            store.notifier.finished()

        async def all_done():
            return len(await store.list_jobs(state=JobState.SUCCEEDED, limit=1000)) == len(ids)

        await eventually(all_done, 10, what=f"all {len(ids)} jobs to succeed")
        assert engine.dispatcher.in_flight == 0
        wake_ups = [payload for payload in listener.payloads if payload.startswith("Enqueued")]
        assert 0 < len(wake_ups) < len(ids)  # coalesced, yet none missed
    finally:
        task.cancel()
