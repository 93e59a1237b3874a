"""Every JobScheduler operation against a real PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from craft_jobs.backoff import RetryPolicy
from craft_jobs.client import ClientFilter, ConcurrencyPolicy, ContinuationCondition, CronExpressions, JobScheduler, job_context
from craft_jobs.errors import (
    InvalidParametersError,
    InvalidScheduleError,
    RecurringJobNotFoundError,
    UnknownJobTypeError,
    ValidationError,
)
from craft_jobs.states import JobState
from tests.support.jobs import DeletedWhenExhausted, FailTimes, Noop, RecordContext


async def test_fire_and_forget_is_enqueued_with_its_history(scheduler, store, clock):
    job_id = await scheduler.schedule(RecordContext, RecordContext.Parameters(path="/tmp/x"))
    job = await store.get_job(job_id)
    assert job.state is JobState.ENQUEUED and job.parameters == {"path": "/tmp/x", "value": ""}
    assert job.scheduled_for == clock.now() and job.max_attempts == 3
    history = await store.job_history(job_id)
    assert [(h.state, h.reason) for h in history] == [(JobState.ENQUEUED, "created")]


async def test_delay_and_at(scheduler, store, clock):
    delayed = await store.get_job(await scheduler.schedule(Noop, delay=timedelta(minutes=5)))
    assert delayed.state is JobState.SCHEDULED and delayed.run_at == clock.now() + timedelta(minutes=5)
    at = clock.now() + timedelta(hours=2)
    assert (await store.get_job(await scheduler.schedule(Noop, at=at))).run_at == at
    past = await store.get_job(await scheduler.schedule(Noop, at=clock.now() - timedelta(hours=1)))
    assert past.state is JobState.ENQUEUED


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"delay": timedelta(minutes=1), "at": datetime(2030, 1, 1, tzinfo=timezone.utc)}, "at"),
        ({"delay": timedelta(seconds=-1)}, "delay"),
        ({"at": datetime(2030, 1, 1)}, "at"),
        ({"max_attempts": 11}, "max_attempts"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"queue": "q" * 101}, "queue"),
        ({"metadata": ["not", "a", "mapping"]}, "metadata"),
        ({"connection": "postgresql://not-a-connection"}, "connection"),
        ({"timeout_seconds": 2**40}, "timeout_seconds"),
        ({"delay": timedelta(days=10**6)}, "delay"),
        ({"metadata": {"blob": "x" * 300_000}}, "metadata"),
        ({"metadata": {"note": "a\x00b"}}, "metadata.note"),
        ({"metadata": _nested(900)}, "metadata"),
        ({"queue": "q\x00"}, "queue"),
        ({"user_id": "\x00"}, "user_id"),
    ],
)
async def test_bad_arguments_name_the_field_and_store_nothing(scheduler, store, kwargs, field):
    with pytest.raises(ValidationError) as raised:
        await scheduler.schedule(Noop, **kwargs)
    assert raised.value.field == field
    assert await store.list_jobs() == []


async def test_parameters_with_nul_bytes_or_deep_nesting_are_refused(scheduler, store):
    with pytest.raises(ValidationError) as raised:
        await scheduler.schedule(RecordContext, {"path": "/tmp/\x00"})
    assert (raised.value.field, raised.value.reason) == ("parameters.path", "contains a NUL byte")
    await store.upsert_job_types([{"job_type": "free-form", "parameters_schema": {"type": "object"}}])
    with pytest.raises(ValidationError, match="parameters: nests deeper than 32 levels"):
        await scheduler.schedule_batch([(RecordContext, {"path": "/tmp/x"}), ("free-form", _nested(900))])
    with pytest.raises(ValidationError) as raised:
        await scheduler.schedule("no-such\x00type", {})
    assert raised.value.field == "job_type"
    assert await store.list_jobs() == []


async def test_unknown_job_type_is_refused(scheduler, store):
    with pytest.raises(UnknownJobTypeError, match="unknown job type 'no-such-job'"):
        await scheduler.schedule("no-such-job", {})
    assert await store.list_jobs() == []


async def test_parameters_are_validated_against_the_model_before_storing(scheduler, store):
    with pytest.raises(InvalidParametersError) as raised:
        await scheduler.schedule(FailTimes, {"failures": "many"})
    assert raised.value.field == "parameters" and "failures" in raised.value.reason
    with pytest.raises(InvalidParametersError, match="path: Field required"):
        await scheduler.schedule("test-record", {})
    assert await store.list_jobs() == []


async def test_a_type_name_unknown_to_this_process_is_validated_with_its_registered_schema(scheduler, store, monkeypatch):
    import craft_jobs_runner
    from craft_jobs_runner import registry

    # Forget the class locally, as in a process (API, operator) without the job code.
    monkeypatch.delitem(registry._job_classes, "test-fail-times")
    with pytest.raises(craft_jobs_runner.UnknownJobTypeError):
        craft_jobs_runner.get_job_class("test-fail-times")
    job_id = await scheduler.schedule("test-fail-times", {"failures": 2})
    assert (await store.get_job(job_id)).max_attempts == 5  # the class's own setting, from the registry table
    with pytest.raises(InvalidParametersError, match="failures"):
        await scheduler.schedule("test-fail-times", {"failures": "two"})


async def test_oversized_parameters_are_refused(scheduler, options):
    with pytest.raises(InvalidParametersError, match=f"over the limit of {options.max_parameters_bytes} bytes"):
        await scheduler.schedule(RecordContext, {"path": "/tmp/x", "value": "x" * options.max_parameters_bytes})


async def test_enqueue_joins_the_callers_transaction(scheduler, store, options):
    async with await psycopg.AsyncConnection.connect(options.connection_string) as conn:
        async with conn.transaction():
            kept = await scheduler.schedule(Noop, connection=conn)
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await scheduler.schedule(Noop, connection=conn)
                raise RuntimeError("the caller's own work failed")
    with psycopg.connect(options.connection_string) as sync_conn:
        with sync_conn.transaction():
            sync_kept = await scheduler.schedule(Noop, connection=sync_conn)
            [batch_kept] = await scheduler.schedule_batch([(Noop, None)], connection=sync_conn)
    assert sorted(j.id for j in await store.list_jobs()) == sorted([kept, sync_kept, batch_kept])


async def test_batch_is_atomic(scheduler, store):
    ids = await scheduler.schedule_batch([(Noop, None), (FailTimes, {"failures": 1})])
    assert len(ids) == 2
    assert [(await store.get_job(i)).state for i in ids] == [JobState.ENQUEUED, JobState.ENQUEUED]
    with pytest.raises(InvalidParametersError):
        await scheduler.schedule_batch([(Noop, None), (FailTimes, {"failures": "x"})])
    assert len(await store.list_jobs()) == 2


async def test_each_job_of_a_batch_keeps_its_own_type_and_parameters(scheduler, store):
    items = [(FailTimes, {"failures": n}) if n % 3 else (Noop, None) for n in range(12)]
    ids = await scheduler.schedule_batch(items)
    stored = [await store.get_job(i) for i in ids]
    assert [(j.job_type, j.parameters) for j in stored] == [
        (FailTimes.job_type, {"failures": n}) if n % 3 else (Noop.job_type, {}) for n in range(12)]
    assert ids == sorted(ids)


async def test_tenant_user_and_metadata_come_from_the_request_context(scheduler, store):
    with job_context(tenant_id="acme", user_id="user-a", metadata={"request": "r-1"}):
        job_id = await scheduler.schedule(Noop, metadata={"extra": 1})
        override = await scheduler.schedule(Noop, user_id="user-b")
    job = await store.get_job(job_id)
    assert (job.tenant_id, job.user_id, job.metadata) == ("acme", "user-a", {"request": "r-1", "extra": 1})
    assert (await store.get_job(override)).user_id == "user-b"


async def test_multi_tenancy_requires_and_enforces_a_tenant(store, options):
    scheduler = JobScheduler(store, options.model_copy(update={"enable_multi_tenancy": True}))
    with pytest.raises(ValidationError, match="tenant_id: is required"):
        await scheduler.schedule(Noop)
    acme_job = await scheduler.schedule(Noop, tenant_id="acme")
    assert not await scheduler.delete(acme_job, tenant_id="globex")
    assert not await scheduler.requeue(acme_job, tenant_id="globex")
    with job_context(tenant_id="globex"):
        assert not await scheduler.delete(acme_job)
    assert (await store.get_job(acme_job)).state is JobState.ENQUEUED
    assert await scheduler.delete(acme_job, tenant_id="acme")


async def test_delete_and_requeue_from_any_state_and_unknown_ids(scheduler, store):
    job_id = await scheduler.schedule(Noop, delay=timedelta(hours=1))
    assert await scheduler.delete(job_id)
    job = await store.get_job(job_id)
    assert job.state is JobState.DELETED and job.expires_at is not None
    assert await scheduler.requeue(job_id)
    job = await store.get_job(job_id)
    assert job.state is JobState.ENQUEUED and job.expires_at is None
    assert not await scheduler.delete(999_999)
    assert not await scheduler.requeue(999_999)
    reasons = [h.reason for h in await store.job_history(job_id)]
    assert reasons == ["delayed until " + (await store.get_job(job_id)).scheduled_for.isoformat(), "deleted", "requeued"]


async def test_continuation_on_a_missing_parent_is_refused(scheduler, store):
    with pytest.raises(ValidationError, match="parent_id: job 424242 does not exist"):
        await scheduler.continue_with(424242, Noop)
    parent = await scheduler.schedule(Noop)
    child = await scheduler.continue_with(parent, Noop, on=ContinuationCondition.FINISHED)
    job = await store.get_job(child)
    assert job.state is JobState.AWAITING and job.parent_id == parent
    assert job.continuation_on is ContinuationCondition.FINISHED


async def test_a_continuation_inherits_its_parents_context(scheduler, store):
    parent = await scheduler.schedule(Noop, tenant_id="acme", user_id="scheduler-user", metadata={"trace": "t-1"})
    child = await store.get_job(await scheduler.continue_with(parent, Noop, metadata={"step": 2}))
    assert (child.tenant_id, child.user_id, child.metadata) == ("acme", "scheduler-user", {"trace": "t-1", "step": 2})
    other = await store.get_job(await scheduler.continue_with(parent, Noop, user_id="someone-else"))
    assert other.user_id == "someone-else"


async def test_recurring_by_cron_with_time_zone(scheduler, store, clock):
    recurring = await scheduler.schedule_recurring(
        "report", CronExpressions.daily_at_hour(9), Noop, time_zone="Europe/London", concurrency_policy=ConcurrencyPolicy.FORBID
    )
    # 2026-03-01 is winter time in London: 09:00 local is 09:00 UTC, the next day.
    assert recurring.next_run_at == datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    assert recurring.concurrency_policy is ConcurrencyPolicy.FORBID
    updated = await scheduler.schedule_recurring("report", CronExpressions.daily_at_hour(9), Noop, time_zone="Europe/London", queue="reports")
    assert updated.queue == "reports" and updated.next_run_at == recurring.next_run_at
    assert [r.id for r in await store.list_recurring()] == ["report"]


async def test_recurring_by_interval(scheduler, clock):
    recurring = await scheduler.schedule_recurring("poll", job=Noop, interval_minutes=15)
    assert recurring.next_run_at == clock.now() + timedelta(minutes=15)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "* * *"}, "cron"),
        ({"cron": "0 9 * * *", "time_zone": "Mars/Olympus"}, "time_zone"),
        ({"cron": None, "interval_minutes": 0}, "interval_minutes"),
        ({"cron": None}, "schedule"),
        ({"cron": "0 9 * * *", "concurrency_policy": "Sometimes"}, "concurrency_policy"),
    ],
)
async def test_invalid_recurring_schedules_name_the_field(scheduler, store, kwargs, field):
    arguments = {"job": Noop, **kwargs}
    cron = arguments.pop("cron")
    with pytest.raises(ValidationError) as raised:
        await scheduler.schedule_recurring("bad", cron, **arguments)
    assert raised.value.field == field
    assert await store.list_recurring() == []


async def test_invalid_cron_is_an_invalid_schedule_error(scheduler):
    with pytest.raises(InvalidScheduleError):
        await scheduler.schedule_recurring("bad", "not a cron", Noop)


async def test_pause_resume_remove_and_trigger(scheduler, store, clock):
    await scheduler.schedule_recurring("every-minute", CronExpressions.EVERY_MINUTE, RecordContext, {"path": "/tmp/r"}, user_id="ops", metadata={"k": "v"})
    assert await scheduler.pause_recurring("every-minute")
    assert (await store.get_recurring("every-minute")).paused
    clock.advance(timedelta(minutes=30))
    assert await scheduler.resume_recurring("every-minute")
    resumed = await store.get_recurring("every-minute")
    assert not resumed.paused and resumed.next_run_at == clock.now() + timedelta(minutes=1)
    job_id = await scheduler.trigger_recurring("every-minute")
    job = await store.get_job(job_id)
    assert job.recurring_id == "every-minute" and job.state is JobState.ENQUEUED
    assert (job.user_id, job.metadata) == ("ops", {"k": "v"})  # a fire inherits the recurring job's context
    assert (await store.get_recurring("every-minute")).last_job_id == job_id
    assert await scheduler.remove_recurring("every-minute")
    assert not await scheduler.remove_recurring("every-minute")
    assert not await scheduler.pause_recurring("every-minute")
    with pytest.raises(RecurringJobNotFoundError):
        await scheduler.trigger_recurring("every-minute")
    assert (await store.get_job(job_id)).state is JobState.ENQUEUED  # fired jobs keep their history


async def test_client_filters_see_and_may_refuse_jobs(store, options):
    seen = []

    class Audit(ClientFilter):
        def on_creating(self, job):
            if job.metadata.get("refuse"):
                raise ValidationError("metadata.refuse", "refused by policy")
            job.metadata["audited"] = True

        def on_created(self, job, job_id):
            seen.append(job_id)

    scheduler = JobScheduler(store, options, filters=[Audit()])
    job_id = await scheduler.schedule(Noop)
    assert seen == [job_id] and (await store.get_job(job_id)).metadata == {"audited": True}
    with pytest.raises(ValidationError, match="refused by policy"):
        await scheduler.schedule(Noop, metadata={"refuse": True})
    assert len(await store.list_jobs()) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"max_attempts": 50}, "max_attempts"),
        ({"queue": ""}, "queue"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"job_type": "x" * 201}, "job_type"),
    ],
)
async def test_what_a_client_filter_changes_is_checked_too(store, options, change, field):
    class Careless(ClientFilter):
        def on_creating(self, job):
            for name, value in change.items():
                setattr(job, name, value)

    scheduler = JobScheduler(store, options, filters=[Careless()])
    for schedule in (lambda: scheduler.schedule(Noop), lambda: scheduler.schedule_batch([(Noop, None)])):
        with pytest.raises(ValidationError) as raised:
            await schedule()
        assert raised.value.field == field
    assert await store.list_jobs() == []


async def test_what_a_client_filter_changes_is_stored_for_one_job_and_a_batch(store, options):
    class Tuning(ClientFilter):
        def on_creating(self, job):
            job.max_attempts, job.timeout_seconds = 1, 30
            job.parameters = {**job.parameters, "failures": 2}

    scheduler = JobScheduler(store, options, filters=[Tuning()])
    ids = [await scheduler.schedule(FailTimes, {"failures": 0})]
    ids += await scheduler.schedule_batch([(FailTimes, {"failures": 0}), (FailTimes, {"failures": 5})])
    stored = [await store.get_job(i) for i in ids]
    assert [(j.max_attempts, j.timeout_seconds, j.parameters) for j in stored] == [(1, 30, {"failures": 2})] * 3


async def test_retry_policy_is_stored_with_the_job(scheduler, store):
    job_id = await scheduler.schedule(Noop, retry=RetryPolicy(max_attempts=7, base_seconds=60, max_seconds=7200, non_retryable_exit_codes={42}))
    job = await store.get_job(job_id)
    assert job.max_attempts == 7
    assert job.retry_policy == {"base_seconds": 60.0, "max_seconds": 7200.0, "jitter": 0.2, "non_retryable_exit_codes": [42],
                                "on_attempts_exceeded": "Fail"}


async def test_automatic_retry_off_is_applied_when_the_job_is_stored(store, options):
    scheduler = JobScheduler(store, options.model_copy(update={"enable_automatic_retry": False}))
    one = await scheduler.schedule(Noop, max_attempts=5)
    batch = await scheduler.schedule_batch([(Noop, {})], max_attempts=5)
    assert [(await store.get_job(i)).max_attempts for i in [one, *batch]] == [0, 0]
    with pytest.raises(ValidationError, match="between 0 and 10"):
        await scheduler.schedule(Noop, max_attempts=11)  # still checked, though it is not kept


async def test_a_job_class_chooses_delete_when_its_attempts_run_out(scheduler, store):
    job_id = await scheduler.schedule(DeletedWhenExhausted)
    stored = await store.get_job(job_id)
    assert stored.max_attempts == 1 and stored.retry_policy["on_attempts_exceeded"] == "Delete"
    # A caller's policy replaces the class's (max_attempts aside, which it leaves unset here).
    own = await store.get_job(await scheduler.schedule(DeletedWhenExhausted, retry=RetryPolicy(jitter=0)))
    assert own.max_attempts == 1 and own.retry_policy["on_attempts_exceeded"] == "Fail"


async def test_what_a_job_class_carries_by_default_follows_each_schedulers_options(store, options):
    """Kept per kind and options: schedulers of other options, a caller's own
    values and a filter that changes a job's retry record in place all leave
    the next job's defaults as they are."""

    class Tamper(ClientFilter):
        def on_creating(self, job):
            job.retry_policy["jitter"] = 0.9
            job.retry_policy["non_retryable_exit_codes"].append(7)

    plain = JobScheduler(store, options)
    fewer = JobScheduler(store, options.model_copy(update={"max_retry_attempts": 2}))
    off = JobScheduler(store, options.model_copy(update={"enable_automatic_retry": False}))
    tampering = JobScheduler(store, options, filters=[Tamper()])
    ids = [await plain.schedule(Noop), await fewer.schedule(Noop), await off.schedule(Noop),
           await plain.schedule(Noop, max_attempts=4, timeout_seconds=60), await plain.schedule(Noop),
           await tampering.schedule(DeletedWhenExhausted), await plain.schedule(DeletedWhenExhausted)]
    stored = [await store.get_job(i) for i in ids]
    assert [(j.max_attempts, j.timeout_seconds) for j in stored] == [
        (options.max_retry_attempts, None), (2, None), (0, None), (4, 60), (options.max_retry_attempts, None),
        (1, None), (1, None)]
    assert [stored[5].retry_policy["jitter"], stored[6].retry_policy["jitter"]] == [0.9, 0.2]
    assert 7 in stored[5].retry_policy["non_retryable_exit_codes"]
    assert 7 not in stored[6].retry_policy["non_retryable_exit_codes"]


async def test_cluster_mode_accepts_a_type_only_its_image_knows(store, options):
    from craft_jobs.options import Mode

    scheduler = JobScheduler(store, options.model_copy(update={"mode": Mode.CLUSTER}))
    job_id = await scheduler.schedule("lives-in-my-image", {"anything": [1, 2]})
    assert (await store.get_job(job_id)).parameters == {"anything": [1, 2]}
    with pytest.raises(InvalidParametersError, match="must be an object, got list"):
        await scheduler.schedule("lives-in-my-image", [1, 2])


async def test_filters_of_the_installation_run_first_for_every_scheduler(store, options):
    installed = options.model_copy(update={"client_filters": ["tests.support.filters:StampFilter"]})
    order = []

    class Own(ClientFilter):
        def on_creating(self, job):
            order.append(job.metadata.get("stamped"))

    job_id = await JobScheduler(store, installed, filters=[Own()]).schedule(Noop)
    assert (await store.get_job(job_id)).metadata == {"stamped": "installation"} and order == ["installation"]
    [batch_id] = await JobScheduler(store, installed).schedule_batch([(Noop, None)])
    assert (await store.get_job(batch_id)).metadata == {"stamped": "installation"}
    with pytest.raises(ValidationError, match="refused by the installation's filter"):
        await JobScheduler(store, installed).schedule(Noop, metadata={"refuse": True})
