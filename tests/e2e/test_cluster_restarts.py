"""Exactly once on the real control plane: operator restarts, deletion racing the
garbage collector, evictions. These stop and start the operator process, so
they run on the local control plane only (make test-cluster)."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from craft_jobs.kube.executor import job_finished
from tests.e2e.conftest import LOCAL_CLUSTER
from tests.support.kube.harness import eventually

pytestmark = [pytest.mark.cluster,
              pytest.mark.skipif(not LOCAL_CLUSTER, reason="restarts the operator process: make test-cluster")]


def history(operator, job_id: str) -> list[tuple[str, str]]:
    with psycopg.connect(operator.connection_string) as conn:
        return [(state, reason) for state, reason in conn.execute(
            "SELECT state::text, reason FROM craft_jobs.job_states WHERE job_id = %s ORDER BY id", (int(job_id),))]


async def pods_of(c, job_id: str) -> list[dict]:
    return await c.api.list_pods(c.namespace, f"jobs.craft.dev/job-id={job_id}")


async def test_a_job_that_finishes_while_no_operator_runs_is_recorded_not_run_again(cluster_under_test, local_cluster):
    _, operator = local_cluster
    c = cluster_under_test
    name = c.name("alone")
    await c.crs.create("BackgroundJob", name, {"jobType": "slow", "parameters": {"seconds": 3}})
    body = await c.crs.wait_phase("BackgroundJob", name, "Processing", timeout=c.timeout)
    job_id, job_name = body["status"]["jobId"], body["status"]["kubernetesJobName"]
    operator.stop()
    try:
        finished = await eventually(lambda: _finished(c, job_name), 30, interval=0.2, message="the Job to finish while no operator runs")
        assert "ttlSecondsAfterFinished" not in finished["spec"], "nothing may remove an unread outcome"
    finally:
        operator.start()
    body = await c.crs.wait_phase("BackgroundJob", name, "Succeeded", timeout=c.timeout)
    assert body["status"]["attempts"] == 1 and body["status"]["kubernetesJobName"] == job_name
    jobs = await c.api.list_jobs(c.namespace, f"jobs.craft.dev/job-id={job_id}")
    assert [j["metadata"]["name"] for j in jobs] == [job_name], "no second Job for the same work"
    assert len(await pods_of(c, job_id)) == 1, "one execution"
    await eventually(lambda: _ttl(c, job_name), 30, interval=0.2, message="the TTL, set once the outcome is recorded")


async def test_deleting_a_running_backgroundjob_ends_deleted_with_one_history_row(cluster_under_test, local_cluster):
    _, operator = local_cluster
    c = cluster_under_test
    name = c.name("deleted")
    await c.crs.create("BackgroundJob", name, {"jobType": "slow", "parameters": {"seconds": 120}})
    body = await c.crs.wait_phase("BackgroundJob", name, "Processing", timeout=c.timeout)
    job_id = body["status"]["jobId"]
    await eventually(lambda: _running_pod(c, job_id), 30, interval=0.2, message="the pod to run")
    await c.crs.delete("BackgroundJob", name)
    await eventually(lambda: history(operator, job_id)[-1][0] == "Deleted", 30, interval=0.2, message="the job to be Deleted")
    await asyncio.sleep(2)  # an outcome racing the deletion would land now
    states = [state for state, _ in history(operator, job_id)]
    assert states[-2:] == ["Processing", "Deleted"], states
    assert states.count("Deleted") == 1 and "Failed" not in states and "Scheduled" not in states, states


async def test_an_eviction_uses_no_attempt_even_when_its_exit_code_is_fatal(cluster_under_test, local_cluster):
    _, operator = local_cluster
    c = cluster_under_test
    name = c.name("evicted")
    await c.crs.create("BackgroundJob", name, {"jobType": "slow", "parameters": {"seconds": 4},
                                               "retry": {"maxAttempts": 0, "nonRetryableExitCodes": [137, 143]}})
    body = await c.crs.wait_phase("BackgroundJob", name, "Processing", timeout=c.timeout)
    job_id = body["status"]["jobId"]
    pod = await eventually(lambda: _running_pod(c, job_id), 30, interval=0.2, message="the pod to run")
    pod_name = pod["metadata"]["name"]
    await c.api.request("POST", f"/api/v1/namespaces/{c.namespace}/pods/{pod_name}/eviction", body={
        "apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod_name, "namespace": c.namespace}})
    body = await c.crs.wait_phase("BackgroundJob", name, "Succeeded", timeout=90)
    assert body["status"]["attempts"] == 1
    assert pod_name not in [p["metadata"]["name"] for p in await pods_of(c, job_id) if _phase(p) == "Succeeded"]
    # The work ran twice: the history shows the eviction and the replacement, once.
    rows = history(operator, job_id)
    evictions = [reason for state, reason in rows if state == "Processing" and pod_name in (reason or "")]
    assert len(evictions) == 1 and "evicted (DisruptionTarget" in evictions[0] and "no attempt used" in evictions[0], rows
    assert [state for state, _ in rows].count("Processing") == 2, rows


async def _finished(c, job_name: str) -> dict | None:
    job = await c.api.get_job(c.namespace, job_name)
    return job if job is not None and job_finished(job) else None


async def _ttl(c, job_name: str) -> bool:
    job = await c.api.get_job(c.namespace, job_name)
    return job is None or job["spec"].get("ttlSecondsAfterFinished") is not None


async def _running_pod(c, job_id: str) -> dict | None:
    return next((p for p in await pods_of(c, job_id) if _phase(p) == "Running"), None)


def _phase(pod: dict) -> str:
    return (pod.get("status") or {}).get("phase", "")
