"""Delete and requeue from any state (store.change_state): each real change is one history row."""

from __future__ import annotations

from datetime import timedelta

from craft_jobs.states import JobState
from tests.integration.dashboard.factory import enqueue


async def test_deleting_a_deleted_job_changes_nothing(store, clock):
    job_id = await enqueue(store)
    assert await store.change_state(job_id, JobState.DELETED, reason="deleted") is JobState.ENQUEUED
    first = await store.get_job(job_id)
    clock.advance(timedelta(minutes=5))
    assert await store.change_state(job_id, JobState.DELETED, reason="deleted again") is JobState.DELETED
    again = await store.get_job(job_id)
    assert [h.state for h in await store.job_history(job_id)] == [JobState.ENQUEUED, JobState.DELETED]
    assert (again.finished_at, again.expires_at, again.state_changed_at) == (
        first.finished_at, first.expires_at, first.state_changed_at), "the expiry is not pushed back"
    assert await store.change_state(job_id, JobState.ENQUEUED, reason="requeued") is JobState.DELETED
    assert (await store.get_job(job_id)).state is JobState.ENQUEUED
    assert await store.change_state(987654, JobState.DELETED, reason="deleted") is None
