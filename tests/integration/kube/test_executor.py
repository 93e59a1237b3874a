"""KubernetesExecutor against the emulated cluster: Jobs created, watched, read, deleted."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import datetime, timezone

import pytest
from craft_jobs_runner import EXIT_CANCELLED, EXIT_NON_RETRYABLE
from kmock._internal.k8s import KubernetesError

from craft_jobs.kube.api import KubeApi, KubeApiError
from craft_jobs.kube.executor import KubernetesExecutor
from craft_jobs.kube.manifest import ManifestSettings, build_job_manifest
from craft_jobs.store.models import ClaimedJob
from tests.support.kube.dropproxy import DroppingProxy
from tests.support.kube.emulator import JOBS, PODS, SECRETS
from tests.support.kube.harness import eventually

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
SETTINGS = ManifestSettings(default_image="craft-jobs-samples:test", default_namespace="jobs", termination_grace_seconds=2,
                            installation_id="test-installation", signing_key="k" * 64)
# What anyone else (another installation, a recreated database) would make.
OUTSIDER = ManifestSettings(default_image="craft-jobs-samples:test", default_namespace="jobs",
                            installation_id="test-installation", signing_key="o" * 64)


def claimed(job_id: int, job_type: str, parameters: dict, **overrides) -> ClaimedJob:
    values = dict(
        id=job_id, job_type=job_type, queue="default", parameters=parameters, tenant_id="", user_id=None,
        metadata={}, attempt=0, runs=1, max_attempts=0, retry_policy=None, timeout_seconds=None, image=None,
        scheduled_for=T0, created_at=T0, started_at=T0, recurring_id=None, cr_namespace=None, cr_name=None, cr_uid=None,
    )
    values.update(overrides)
    return ClaimedJob(**values)


@pytest.fixture
async def executor(kube_api):
    executor = KubernetesExecutor(kube_api, SETTINGS, recheck_seconds=2)
    yield executor
    await executor.close()


async def test_a_job_runs_as_a_kubernetes_job(executor, cluster):
    result = await asyncio.wait_for(executor.run(claimed(1, "hello", {"name": "kube"}), asyncio.Event()), 30)
    assert result.exit_code == 0 and result.error is None
    assert result.executor_ref == "jobs/cj-1-1"
    job = cluster.emulator.get(JOBS, "jobs", "cj-1-1")
    secret = cluster.emulator.get(SECRETS, "jobs", "cj-1-1")
    assert secret["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]
    assert json.loads(base64.b64decode(secret["data"]["parameters.json"])) == {"name": "kube"}


async def test_the_termination_message_becomes_the_error(executor):
    result = await asyncio.wait_for(executor.run(claimed(2, "always-fails", {"reason": "corrupt input"}), asyncio.Event()), 30)
    assert result.exit_code == EXIT_NON_RETRYABLE
    assert result.error["type"].endswith("NonRetryableError") and result.error["message"] == "corrupt input"


async def test_exit_codes_in_the_policy_fail_the_job_at_once(executor, cluster):
    job = claimed(3, "kube-exit-with", {"code": 42}, retry_policy={"non_retryable_exit_codes": [42]})
    result = await asyncio.wait_for(executor.run(job, asyncio.Event()), 30)
    assert result.exit_code == 42
    status = cluster.emulator.get(JOBS, "jobs", "cj-3-1")["status"]
    assert any(c["type"] == "Failed" and c["reason"] == "PodFailurePolicy" for c in status["conditions"])


async def test_the_timeout_counts_from_the_containers_start_and_ends_the_job(executor, cluster):
    result = await asyncio.wait_for(executor.run(claimed(4, "slow", {"seconds": 30}, timeout_seconds=1), asyncio.Event()), 30)
    assert result.timed_out is True and result.error["type"] == "Timeout"
    assert "timeout of 1 s" in result.error["message"]
    await eventually(lambda: cluster.emulator.get(JOBS, "jobs", "cj-4-1") is None, message="the Job removed")


async def test_cancel_deletes_the_job_and_stops_the_pod(executor, cluster):
    cancel = asyncio.Event()
    run = asyncio.create_task(executor.run(claimed(5, "slow", {"seconds": 60}), cancel))
    await eventually(lambda: cluster.controller.pods, message="the pod to run")
    cancel.set()
    result = await asyncio.wait_for(run, 20)
    assert result.exit_code == EXIT_CANCELLED
    assert cluster.emulator.get(JOBS, "jobs", "cj-5-1") is None
    assert cluster.emulator.get(SECRETS, "jobs", "cj-5-1") is None, "the Secret goes with its Job"
    await eventually(lambda: not cluster.emulator.list(PODS, "jobs"), message="the pod to go")


async def test_a_job_deleted_behind_its_back_is_a_clear_failure(executor, cluster):
    run = asyncio.create_task(executor.run(claimed(6, "slow", {"seconds": 60}), asyncio.Event()))
    await eventually(lambda: cluster.controller.pods, message="the pod to run")
    await cluster.emulator.delete(JOBS, "jobs", "cj-6-1")
    result = await asyncio.wait_for(run, 20)
    assert result.exit_code is None
    assert result.error["type"] == "JobDeleted" and "cj-6-1" in result.error["message"]


async def test_already_exists_with_this_installations_proof_is_ours(executor, cluster, kube_api):
    job = claimed(7, "hello", {})
    manifest, _ = build_job_manifest(job, SETTINGS)
    await kube_api.create_job("jobs", manifest)  # e.g. made by a replica that died right after
    result = await asyncio.wait_for(executor.run(job, asyncio.Event()), 30)
    assert result.exit_code == 0
    assert cluster.controller.started_jobs.count(("jobs", "cj-7-1")) == 1


async def test_a_job_name_taken_by_anyone_else_is_neither_adopted_nor_run(executor, cluster, kube_api):
    job = claimed(11, "hello", {})
    forged, _ = build_job_manifest(job, OUTSIDER)
    forged["spec"]["suspend"] = False
    forged["metadata"]["annotations"]["jobs.craft.dev/proof"] = "0" * 64
    await kube_api.create_job("jobs", forged)
    result = await asyncio.wait_for(executor.run(job, asyncio.Event()), 30)
    assert result.exit_code is None, "retryable: the next run has a name of its own"
    assert result.error["type"] == "NameTaken" and "Job jobs/cj-11-1" in result.error["message"]
    assert cluster.emulator.get(SECRETS, "jobs", "cj-11-1") is None, "no parameters handed to it"


async def test_a_secret_name_taken_with_other_parameters_fails_the_run_and_leaves_no_job(executor, cluster, kube_api):
    job = claimed(12, "hello", {"name": "mine"})
    _, planted = build_job_manifest(claimed(12, "hello", {"name": "injected"}), OUTSIDER)
    await kube_api.create_secret("jobs", planted)
    result = await asyncio.wait_for(executor.run(job, asyncio.Event()), 30)
    assert result.error["type"] == "NameTaken" and "Secret jobs/cj-12-1" in result.error["message"]
    await eventually(lambda: cluster.emulator.get(JOBS, "jobs", "cj-12-1") is None, message="our Job removed")
    assert ("jobs", "cj-12-1") not in cluster.controller.started_jobs or not cluster.controller.pods


async def test_a_job_left_suspended_by_a_crash_is_removed_and_the_run_starts_anew(executor, cluster, kube_api):
    leftover, _ = build_job_manifest(claimed(13, "hello", {}), SETTINGS)  # the Secret never came
    await kube_api.create_job("jobs", leftover)
    result = await asyncio.wait_for(executor.run(claimed(13, "hello", {}, runs=2), asyncio.Event()), 30)
    assert result.exit_code == 0 and result.executor_ref == "jobs/cj-13-2"
    await eventually(lambda: cluster.emulator.get(JOBS, "jobs", "cj-13-1") is None, message="the leftover removed")


async def test_a_detached_executor_leaves_the_job_and_the_next_run_adopts_it(executor, cluster, kube_api):
    cancel = asyncio.Event()
    run = asyncio.create_task(executor.run(claimed(8, "slow", {"seconds": 2}), cancel))
    await eventually(lambda: cluster.controller.pods, message="the pod to run")
    executor.detach()
    cancel.set()
    result = await asyncio.wait_for(run, 20)
    assert result.exit_code == EXIT_CANCELLED
    assert cluster.emulator.get(JOBS, "jobs", "cj-8-1") is not None, "left running"
    successor = KubernetesExecutor(KubeApi.connect(cluster.url), SETTINGS, recheck_seconds=2)
    try:
        result = await asyncio.wait_for(successor.run(claimed(8, "slow", {"seconds": 2}, runs=2), asyncio.Event()), 30)
    finally:
        await successor.close()
    assert result.exit_code == 0 and result.executor_ref == "jobs/cj-8-1"
    assert cluster.emulator.get(JOBS, "jobs", "cj-8-2") is None, "no second Job for the same work"


async def test_no_image_anywhere_is_a_non_retryable_failure(kube_api):
    executor = KubernetesExecutor(kube_api, ManifestSettings())
    result = await executor.run(claimed(9, "hello", {}), asyncio.Event())
    await executor.close()
    assert result.exit_code == EXIT_NON_RETRYABLE and "image" in result.error["message"]


async def test_a_rescued_run_still_waiting_and_the_run_that_adopted_its_job_both_hear_it_end(kube_api, cluster):
    """The next run of a job adopts the Job of the earlier run, which still waits on it
    in the same process (rescued meanwhile): each hears the Job end from the watch,
    neither waits for a re-read (recheck_seconds is longer than the test)."""
    executor = KubernetesExecutor(kube_api, SETTINGS, recheck_seconds=120)
    try:
        first = asyncio.create_task(executor.run(claimed(14, "slow", {"seconds": 3}), asyncio.Event()))
        await eventually(lambda: cluster.controller.pods, message="the pod to run")
        second = asyncio.create_task(executor.run(claimed(14, "slow", {"seconds": 3}, runs=2), asyncio.Event()))
        results = await asyncio.wait_for(asyncio.gather(first, second), 30)
    finally:
        await executor.close()
    assert [(r.exit_code, r.executor_ref) for r in results] == [(0, "jobs/cj-14-1")] * 2
    assert cluster.emulator.get(JOBS, "jobs", "cj-14-2") is None, "no second Job for the same work"


# -- the transport failing ------------------------------------------------------------------


async def test_a_connection_refused_is_a_transient_api_error(unused_tcp_port):
    api = KubeApi.connect(f"http://127.0.0.1:{unused_tcp_port}")
    api.client.configuration.retries = 0
    try:
        with pytest.raises(KubeApiError) as raised:
            await api.get_job("jobs", "cj-1-1")
    finally:
        api.close()
    assert raised.value.transient and raised.value.reason == "TransportError"


async def _run_through_dropping_proxy(cluster, job_id: int, drops: int):
    """Runs a job while the proxy drops the connection of its first `drops` Job POSTs."""
    async with DroppingProxy(cluster.url, b"POST /apis/batch/v1/namespaces/jobs/jobs ", drops=drops) as proxy:
        api = KubeApi.connect(proxy.url)
        executor = KubernetesExecutor(api, SETTINGS, recheck_seconds=2)
        try:
            result = await asyncio.wait_for(executor.run(claimed(job_id, "hello", {"name": "kube"}), asyncio.Event()), 60)
        finally:
            await executor.close()
            api.close()
    return result, proxy.dropped


async def test_a_dropped_connection_while_creating_the_job_is_retried(cluster):
    result, dropped = await _run_through_dropping_proxy(cluster, 40, drops=2)
    assert dropped == 2
    assert result.exit_code == 0 and result.interrupted is None
    assert [j["metadata"]["name"] for j in cluster.emulator.list(JOBS, "jobs")] == ["cj-40-1"]


async def test_an_api_that_keeps_dropping_connections_uses_no_attempt(cluster):
    result, dropped = await _run_through_dropping_proxy(cluster, 41, drops=100)
    assert dropped >= 2
    assert result.interrupted and "Kubernetes API" in result.interrupted, result
    assert result.error["type"] == "KubernetesApiUnavailable"


async def test_an_api_that_does_not_answer_at_the_start_deadline_fails_no_run(cluster, kube_api):
    """Reads of the Job and its pods fail (500) across the start deadline: no verdict is
    given on a pod nobody could see, the run waits, and once the API answers it
    succeeds, its Job never removed. (It failed PodNotStarted before.)"""
    answering = asyncio.Event()

    def refuse_reads(request):
        path = request.url.path
        if not answering.is_set() and request.method.name == "GET" and ("/jobs" in path or "/pods" in path):
            return KubernetesError(500, "InternalError", "injected by the test")
        return None

    cluster.emulator.faults = refuse_reads
    executor = KubernetesExecutor(kube_api, SETTINGS, recheck_seconds=0.5, start_timeout_seconds=1)
    try:
        run = asyncio.create_task(executor.run(claimed(14, "slow", {"seconds": 1}), asyncio.Event()))
        await asyncio.sleep(3)  # past the start deadline, with every look refused
        assert not run.done(), run.result()
        answering.set()
        result = await asyncio.wait_for(run, 40)
    finally:
        await executor.close()
    assert result.exit_code == 0 and result.error is None, result.error
    assert ("jobs", "cj-14-1") in cluster.controller.started_jobs
