"""RecurringJob resources through the real operator: schedule, trigger, suspend, delete, bad schedules."""

from __future__ import annotations

from craft_jobs.client.scheduler import JobScheduler
from craft_jobs.errors import RecurringJobNotFoundError
from craft_jobs.store.kube_store import KubeStore
from tests.support.kube.client import condition
from tests.support.kube.emulator import JOBS
from tests.support.kube.harness import eventually

YEARLY = "0 0 1 1 *"


async def test_create_schedules_and_trigger_runs_now(operator, crs, cluster):
    await crs.create("RecurringJob", "nightly", {
        "schedule": YEARLY, "timeZone": "Europe/Berlin", "concurrencyPolicy": "Forbid",
        "jobTemplate": {"jobType": "cleanup", "parameters": {"older_than_days": 7}}})
    body = await crs.wait_for("RecurringJob", "nightly", lambda b: (b.get("status") or {}).get("nextScheduleTime"))
    assert condition(body, "Ready")["reason"] == "Scheduled"
    recurring = await operator.handle.reconciler.scheduler.get_recurring("default/nightly")
    assert recurring.cron == YEARLY and recurring.time_zone == "Europe/Berlin"

    await crs.annotate("RecurringJob", "nightly", {"jobs.craft.dev/trigger": "now"})
    body = await crs.wait_for("RecurringJob", "nightly",
                              lambda b: ((b.get("status") or {}).get("lastJob") or {}).get("phase") == "Succeeded",
                              what="the triggered job to succeed")
    assert body["status"]["lastScheduleTime"]
    assert "jobs.craft.dev/trigger" not in (body["metadata"].get("annotations") or {}), "the request is consumed"
    job_id = body["status"]["lastJob"]["jobId"]
    job = cluster.emulator.get(JOBS, "default", f"cj-{job_id}-1")
    assert job["metadata"]["ownerReferences"][0]["kind"] == "RecurringJob"
    assert len(cluster.controller.started_jobs) == 1, "one trigger, one run"


async def test_suspend_and_resume(operator, crs):
    await crs.create("RecurringJob", "paused", {
        "intervalMinutes": 5, "suspend": True, "jobTemplate": {"jobType": "hello"}})
    body = await crs.wait_for("RecurringJob", "paused", lambda b: condition(b, "Ready"))
    assert condition(body, "Ready")["reason"] == "Suspended"
    assert not body["status"].get("nextScheduleTime")
    assert (await operator.handle.reconciler.scheduler.get_recurring("default/paused")).paused
    await crs.patch_spec("RecurringJob", "paused", {"suspend": False})
    body = await crs.wait_for("RecurringJob", "paused", lambda b: condition(b, "Ready")["reason"] == "Scheduled")
    assert body["status"]["nextScheduleTime"]
    assert not (await operator.handle.reconciler.scheduler.get_recurring("default/paused")).paused


async def test_delete_removes_the_schedule_and_stops_its_runs(operator, crs, cluster):
    await crs.create("RecurringJob", "doomed", {"intervalMinutes": 60, "jobTemplate": {"jobType": "slow", "parameters": {"seconds": 60}}})
    await crs.wait_for("RecurringJob", "doomed", lambda b: (b.get("status") or {}).get("nextScheduleTime"))
    await crs.annotate("RecurringJob", "doomed", {"jobs.craft.dev/trigger": "now"})
    await eventually(lambda: cluster.controller.pods, message="the triggered run to start")
    await crs.delete("RecurringJob", "doomed")
    scheduler = operator.handle.reconciler.scheduler

    async def removed() -> bool:
        try:
            await scheduler.get_recurring("default/doomed")
        except RecurringJobNotFoundError:
            return True
        return False

    await eventually(removed, message="the schedule to be removed")
    await eventually(lambda: not cluster.controller.pods, message="its run to stop")


INVALID = [
    ("bad-cron", {"schedule": "61 * * * *", "jobTemplate": {"jobType": "hello"}}, "spec.schedule"),
    ("bad-zone", {"schedule": YEARLY, "timeZone": "Mars/Olympus", "jobTemplate": {"jobType": "hello"}}, "spec.timeZone"),
    ("bad-type", {"intervalMinutes": 5, "jobTemplate": {"jobType": "nope"}}, "spec.jobTemplate.jobType"),
]


async def test_invalid_schedules_get_a_condition(operator, crs):
    for name, spec, _ in INVALID:
        await crs.create("RecurringJob", name, spec)
    for name, _, field in INVALID:
        body = await crs.wait_for("RecurringJob", name, lambda b: condition(b, "Ready"))
        ready = condition(body, "Ready")
        assert ready["status"] == "False" and ready["reason"] == "InvalidSpec"
        assert ready["message"].startswith(f"{field}: "), ready["message"]


async def test_history_limits_keep_only_the_newest_jobs(operator, crs, cluster):
    await crs.create("RecurringJob", "tidy", {
        "schedule": YEARLY, "successfulJobsHistoryLimit": 1, "failedJobsHistoryLimit": 1,
        "jobTemplate": {"jobType": "cleanup", "parameters": {"older_than_days": 7}}})
    await crs.wait_for("RecurringJob", "tidy", lambda b: (b.get("status") or {}).get("nextScheduleTime"))
    job_ids = []
    for _ in range(3):
        await crs.annotate("RecurringJob", "tidy", {"jobs.craft.dev/trigger": "now"})
        body = await crs.wait_for(
            "RecurringJob", "tidy",
            lambda b: ((b.get("status") or {}).get("lastJob") or {}).get("jobId") not in (None, *job_ids)
            and b["status"]["lastJob"].get("phase") == "Succeeded",
            what="the next triggered run to succeed")
        job_ids.append(body["status"]["lastJob"]["jobId"])

    def kept():
        return [j["metadata"]["name"] for j in cluster.emulator.list(JOBS, "default", "jobs.craft.dev/recurring=tidy")]

    await eventually(lambda: kept() == [f"cj-{job_ids[-1]}-1"], message="only the newest succeeded Job to remain")
    # The runs' history stays in the store.
    for job_id in job_ids:
        assert (await operator.handle.reconciler.store.get_job(int(job_id))).state.value == "Succeeded"


async def test_a_trigger_stored_before_a_crash_fires_once_and_is_removed_by_the_next_operator(
        start_operator, crs, cluster, store, options):
    scheduler = JobScheduler(store, options)
    first = await start_operator()
    await crs.create("RecurringJob", "once", {
        "schedule": YEARLY, "jobTemplate": {"jobType": "cleanup", "parameters": {"older_than_days": 7}}})
    await crs.wait_for("RecurringJob", "once", lambda b: (b.get("status") or {}).get("nextScheduleTime"))
    await first.shutdown()
    body = await crs.annotate("RecurringJob", "once", {"jobs.craft.dev/trigger": "now"})
    # What an operator killed between storing the fire and removing the annotation leaves.
    kube_store = KubeStore(scheduler.store)
    async with scheduler.store.connector.transaction() as session:
        assert await kube_store.take_one_shot(session, body["metadata"]["uid"], "jobs.craft.dev/trigger", "now",
                                              scheduler.store.clock.now())
        fired = await scheduler.trigger_recurring("default/once", session=session)

    await start_operator()
    body = await crs.wait_for(
        "RecurringJob", "once",
        lambda b: "jobs.craft.dev/trigger" not in (b["metadata"].get("annotations") or {})
        and ((b.get("status") or {}).get("lastJob") or {}).get("phase") == "Succeeded",
        what="the annotation removed and the stored fire run")
    assert body["status"]["lastJob"]["jobId"] == str(fired)
    assert (await scheduler.get_recurring("default/once")).last_job_id == fired, "no second fire"
    assert len(cluster.controller.started_jobs) == 1, "one trigger, one run"
    # Removed, the same value is a new request.
    await crs.annotate("RecurringJob", "once", {"jobs.craft.dev/trigger": "now"})
    await eventually(lambda: len(cluster.controller.started_jobs) == 2, message="the second trigger's run")


async def test_two_replicas_seeing_one_trigger_fire_it_once(start_operator, crs, cluster, store, options):
    await start_operator()
    await start_operator()
    await crs.create("RecurringJob", "shared", {
        "schedule": YEARLY, "jobTemplate": {"jobType": "cleanup", "parameters": {"older_than_days": 7}}})
    await crs.wait_for("RecurringJob", "shared", lambda b: (b.get("status") or {}).get("nextScheduleTime"))
    await crs.annotate("RecurringJob", "shared", {"jobs.craft.dev/trigger": "now"})
    await crs.wait_for(
        "RecurringJob", "shared",
        lambda b: "jobs.craft.dev/trigger" not in (b["metadata"].get("annotations") or {})
        and ((b.get("status") or {}).get("lastJob") or {}).get("phase") == "Succeeded",
        what="the trigger consumed and its run done")
    kube_store = KubeStore(store)
    assert await kube_store.unfinished_jobs_of_recurring("default/shared", "", "default") == []
    assert len(cluster.controller.started_jobs) == 1, "two replicas, one trigger, one run"
