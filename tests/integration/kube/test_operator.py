"""The operator as a whole: replicas, restarts, SDK jobs, health, webhooks, tenants, API writes."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter

import aiohttp
import kopf
import pytest

from craft_jobs.audit import TargetKind
from craft_jobs.kube.api import KubeApiError
from craft_jobs.kube.names import ANNOTATION_CHANGED_BY as CHANGED_BY
from craft_jobs.kube.names import ANNOTATION_CREATED_BY as CREATED_BY
from craft_jobs.store.audit_store import AuditFilter, AuditStore
from tests.support.kube.client import CrClient
from craft_jobs.kube.executor import job_finished
from tests.support.kube.emulator import JOBS, NAMESPACES
from tests.support.kube.harness import eventually


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_two_replicas_share_the_work_and_never_create_a_job_twice(start_operator, crs, cluster):
    first = await start_operator()
    second = await start_operator()
    names = [f"job-{i}" for i in range(12)]
    for name in names:
        await crs.create("BackgroundJob", name, {"jobType": "hello", "parameters": {"name": name}})
    for name in names:
        await crs.wait_phase("BackgroundJob", name, "Succeeded", timeout=60)
    created = Counter(cluster.controller.started_jobs)
    assert len(created) == 12 and set(created.values()) == {1}, "one Job per job, none twice"
    jobs = await first.handle.reconciler.store.list_jobs(limit=100)
    assert len(jobs) == 12 and {job.runs for job in jobs} == {1}
    servers = {entry.server_id for job in jobs for entry in await first.handle.reconciler.store.job_history(job.id) if entry.server_id}
    assert servers <= {first.handle.engine.server_id, second.handle.engine.server_id}


async def test_a_restart_neither_loses_nor_repeats_a_running_job(start_operator, crs, cluster):
    first = await start_operator()
    await crs.create("BackgroundJob", "survivor", {"jobType": "slow", "parameters": {"seconds": 4}})
    await crs.wait_phase("BackgroundJob", "survivor", "Processing")
    await eventually(lambda: cluster.controller.pods, message="the pod to run")
    await first.shutdown()
    assert cluster.controller.pods, "the pod keeps running while no operator runs"
    await start_operator()
    body = await crs.wait_phase("BackgroundJob", "survivor", "Succeeded", timeout=40)
    assert len(cluster.controller.started_jobs) == 1, "the new operator adopted the Job instead of starting another"
    assert body["status"]["attempts"] == 1


async def test_a_job_that_finished_while_no_operator_ran_is_recorded_not_run_again(start_operator, crs, cluster):
    first = await start_operator()
    await crs.create("BackgroundJob", "finished-alone", {"jobType": "slow", "parameters": {"seconds": 2}})
    body = await crs.wait_phase("BackgroundJob", "finished-alone", "Processing")
    name = f"cj-{body['status']['jobId']}-1"
    await eventually(lambda: cluster.controller.pods, message="the pod to run")
    await first.shutdown()
    await eventually(lambda: job_finished(cluster.emulator.get(JOBS, "default", name) or {}), timeout=20,
                     message="the Job to finish while no operator runs")
    assert "ttlSecondsAfterFinished" not in cluster.emulator.get(JOBS, "default", name)["spec"], \
        "nothing may remove the Job before its outcome is read"
    await start_operator()
    body = await crs.wait_phase("BackgroundJob", "finished-alone", "Succeeded", timeout=40)
    assert cluster.controller.started_jobs == [("default", name)], "its outcome was taken, the work not done again"
    assert body["status"]["attempts"] == 1
    assert body["status"]["kubernetesJobName"] == name, "the Job that ran, not one of the new run's name"
    await eventually(lambda: (cluster.emulator.get(JOBS, "default", name) or {}).get("spec", {}).get("ttlSecondsAfterFinished"),
                     timeout=20, message="the TTL once the outcome is recorded")


async def test_sdk_jobs_without_a_resource_run_as_kubernetes_jobs(operator, cluster):
    scheduler = operator.handle.reconciler.scheduler
    job_id = await scheduler.schedule("hello", {"name": "sdk"})
    await eventually(lambda: cluster.emulator.get(JOBS, "default", f"cj-{job_id}-1"), message="its Job")

    async def succeeded() -> bool:
        return (await scheduler.get_job(job_id)).state.value == "Succeeded"

    await eventually(succeeded, message="the job to succeed")
    assert "ownerReferences" not in cluster.emulator.get(JOBS, "default", f"cj-{job_id}-1")["metadata"]


async def test_health_and_readiness(start_operator):
    port = free_port()
    operator = await start_operator(health_port=port, health_host="127.0.0.1")
    async with aiohttp.ClientSession() as session:
        for path, key in (("/healthz", "alive"), ("/readyz", "ready")):
            async with session.get(f"http://127.0.0.1:{port}{path}") as response:
                assert response.status == 200 and (await response.json())[key] is True
    await operator.shutdown()


async def test_webhooks_record_the_user_and_refuse_bad_specs(start_operator, cluster, kube_api, store):
    port = free_port()
    server = kopf.WebhookServer(addr="127.0.0.1", port=port, insecure=True)
    await start_operator(webhook_enabled=True, admission_server=server)
    cluster.emulator.mutating_webhook = f"http://127.0.0.1:{port}/mutate"
    cluster.emulator.validating_webhook = f"http://127.0.0.1:{port}/validate"
    requester = cluster.emulator.users["craft-jobs-tests"] = {"username": "user-a@example.com", "groups": ["developers"]}
    crs = CrClient(kube_api)
    await eventually(lambda: _webhook_up(port), message="the webhook server")

    # Claiming another creator is refused unless the requester may impersonate that user.
    try:
        await crs.create("BackgroundJob", "claimed", {"jobType": "hello"}, annotations={CREATED_BY: "mallory"})
        raise AssertionError("the webhook admitted a claim to be someone else")
    except KubeApiError as exc:
        assert exc.status == 403 and CREATED_BY in exc.message and "impersonate" in exc.message
    assert await crs.get("BackgroundJob", "claimed") is None
    assert cluster.emulator.access_reviews[-1]["resourceAttributes"] == {
        "group": "", "resource": "users", "verb": "impersonate", "name": "mallory"}
    assert cluster.emulator.access_reviews[-1]["user"] == "user-a@example.com"

    await crs.create("BackgroundJob", "mine", {"jobType": "hello"}, annotations={CHANGED_BY: "mallory"})
    body = await crs.wait_phase("BackgroundJob", "mine", "Succeeded")
    annotations = body["metadata"]["annotations"]
    assert annotations[CREATED_BY] == annotations[CHANGED_BY] == "user-a@example.com"
    assert body["status"]["user"] == "user-a@example.com"
    job = await store.get_job(int(body["status"]["jobId"]))
    assert job.user_id == "user-a@example.com"
    (pod_container,) = cluster.emulator.get(JOBS, "default", f"cj-{job.id}-1")["spec"]["template"]["spec"]["containers"]
    assert {"name": "CRAFT_USER_ID", "value": "user-a@example.com"} in pod_container["env"]
    audit = AuditStore(store)
    (scheduled,) = await audit.list(AuditFilter(job_id=job.id))
    assert (scheduled.action.value, scheduled.surface.value, scheduled.actor) == ("schedule", "kubectl", "user-a@example.com")

    # UPDATE: the creator stays; whoever changes the spec is recorded; rewriting the creator is a claim.
    await crs.create("RecurringJob", "nightly", {"schedule": "0 3 * * *", "jobTemplate": {"jobType": "hello"}})
    requester["username"] = "user-b@example.com"
    await crs.patch_spec("RecurringJob", "nightly", {"schedule": "0 4 * * *"})
    changed = (await crs.get("RecurringJob", "nightly"))["metadata"]["annotations"]
    assert (changed[CREATED_BY], changed[CHANGED_BY]) == ("user-a@example.com", "user-b@example.com")

    async def applies() -> list:
        rows = await audit.list(AuditFilter(target_kind=TargetKind.RECURRING, target_id="default/nightly"))
        return [(e.action.value, e.surface.value, e.actor) for e in rows if e.action.value == "apply"]

    await eventually(lambda: _has(applies, ("apply", "kubectl", "user-b@example.com")), message="the update's apply")
    assert (await applies())[-1] == ("apply", "kubectl", "user-a@example.com")
    try:
        await crs.annotate("RecurringJob", "nightly", {CREATED_BY: "user-b@example.com"})
        raise AssertionError("the webhook let an update rewrite the creator")
    except KubeApiError as exc:
        assert exc.status == 403
    await crs.annotate("RecurringJob", "nightly", {CREATED_BY: None, "team": "x"})  # removing it restores it
    kept = (await crs.get("RecurringJob", "nightly"))["metadata"]["annotations"]
    assert (kept[CREATED_BY], kept[CHANGED_BY], kept["team"]) == ("user-a@example.com", "user-b@example.com", "x")

    cluster.emulator.grants.add(("user-b@example.com", "impersonate", "users", "batch-robot"))
    await crs.create("BackgroundJob", "on-behalf", {"jobType": "hello"}, annotations={CREATED_BY: "batch-robot"})
    on_behalf = await crs.wait_phase("BackgroundJob", "on-behalf", "Succeeded")
    assert on_behalf["status"]["user"] == "batch-robot"
    assert on_behalf["metadata"]["annotations"][CHANGED_BY] == "user-b@example.com"

    # A requeue or trigger by annotation is audited as its requester's.
    requester["username"] = "user-c@example.com"
    await crs.annotate("BackgroundJob", "mine", {"jobs.craft.dev/requeue": "1"})
    await crs.annotate("RecurringJob", "nightly", {"jobs.craft.dev/trigger": "1"})

    async def one_shots() -> list:
        rows = [*await audit.list(AuditFilter(job_id=job.id)),
                *await audit.list(AuditFilter(target_kind=TargetKind.RECURRING, target_id="default/nightly"))]
        return [(e.action.value, e.actor) for e in rows if e.action.value in ("requeue", "trigger")]

    await eventually(lambda: _has(one_shots, ("requeue", "user-c@example.com")), message="the requeue's audit row")
    await eventually(lambda: _has(one_shots, ("trigger", "user-c@example.com")), message="the trigger's audit row")

    try:
        await crs.create("BackgroundJob", "refused", {"jobType": "flaky", "parameters": {"failures": 99}})
        raise AssertionError("the validating webhook admitted a bad spec")
    except KubeApiError as exc:
        assert exc.status == 422 and "spec.parameters" in exc.message
    assert await crs.get("BackgroundJob", "refused") is None
    for spec, field in (({"jobType": "hello", "metadata": {"blob": "x" * 300_000}}, "spec.metadata: 300011 bytes"),
                        ({"jobType": "hello", "parameters": {"name": "a\x00b"}}, "spec.parameters.name: contains a NUL")):
        with pytest.raises(KubeApiError) as refused:
            await crs.create("BackgroundJob", "refused", spec)
        assert refused.value.status == 422 and field in refused.value.message, refused.value.message


async def _has(rows, wanted) -> bool:
    return wanted in await rows()


async def _webhook_up(port: int) -> bool:
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/validate") as response:
                return response.status < 600
    except aiohttp.ClientError:
        return False


async def test_tenant_comes_from_the_namespace(start_operator, options, cluster, crs):
    await cluster.emulator.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                               "metadata": {"name": "team-a", "labels": {"jobs.craft.dev/tenant": "acme"}}})
    await start_operator_with(start_operator, options, enable_multi_tenancy=True)
    await crs.create("BackgroundJob", "labelled", {"jobType": "hello"}, namespace="team-a")
    await crs.create("BackgroundJob", "plain", {"jobType": "hello"}, namespace="team-b")
    labelled = await crs.wait_phase("BackgroundJob", "labelled", "Succeeded", namespace="team-a")
    plain = await crs.wait_phase("BackgroundJob", "plain", "Succeeded", namespace="team-b")
    assert labelled["status"]["tenant"] == "acme"
    assert plain["status"]["tenant"] == "team-b"
    job = cluster.emulator.get(JOBS, "team-a", labelled["status"]["kubernetesJobName"])
    assert job["metadata"]["labels"]["jobs.craft.dev/tenant"] == "acme"


async def start_operator_with(start_operator, options, **option_overrides):
    return await start_operator(options=options.model_copy(update=option_overrides))


async def test_few_api_writes_per_job(start_operator, crs, cluster):
    running = await start_operator(status_sync_seconds=0.5)
    names = [f"w-{i}" for i in range(10)]
    for name in names:
        await crs.create("BackgroundJob", name, {"jobType": "hello"})
    for name in names:
        await crs.wait_phase("BackgroundJob", name, "Succeeded", timeout=60)
    await asyncio.sleep(1)  # let the last status patches land before counting
    await eventually(lambda: not running.handle.executor._unreaped, message="every finished Job handed to the TTL")
    kopf_writes = cluster.emulator.requests_by("kopf")
    executor_writes = cluster.emulator.requests_by("craft-jobs-operator")
    detail = f"kopf {kopf_writes}, executor and status {executor_writes}"
    # Per job: kopf's one handler patch, the Job, its Secret and Events, the Job's resume
    # once its Secret exists and its TTL once its outcome is recorded, and one
    # status patch per phase a sync pass saw (Enqueued, Processing, Succeeded at
    # most). How many phases a pass sees depends on timing; bench/kube_operator.py
    # measures the average.
    # Creates: the Job, its Secret, and an Event per phase change a pass saw.
    assert kopf_writes["writes"] == len(names), detail
    events = executor_writes.get("create", 0) - 2 * len(names)
    assert len(names) <= events <= 3 * len(names), detail
    assert executor_writes.get("update", 0) <= (2 + 3) * len(names), detail
    # Resume and TTL are what running each job once costs (kube/executor.py).
    assert (kopf_writes["writes"] + executor_writes["writes"]) / len(names) <= 11, detail
