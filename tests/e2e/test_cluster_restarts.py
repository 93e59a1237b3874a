"""Exactly once on the real control plane: operator restarts, deletion racing the
garbage collector, evictions, a run's object names taken by someone else. These
stop and start the operator process or read its database, so they run on the
local control plane only (make test-cluster)."""

from __future__ import annotations

import asyncio
import base64
import json

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


def planted(kind: str, name: str, job_id: str) -> dict:
    """What anyone allowed to create Jobs or Secrets in the namespace could make
    under a run's predictable name, before the run starts."""
    if kind == "Job":
        return {"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": name, "labels": {"jobs.craft.dev/job-id": job_id}},
                "spec": {"suspend": True, "template": {"spec": {"restartPolicy": "Never", "containers": [
                    {"name": "outsider", "image": "craft-jobs-samples:dev"}]}}}}
    injected = base64.b64encode(json.dumps({"name": "injected"}).encode()).decode()
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": {"parameters.json": injected}}


@pytest.mark.parametrize("kind", ["Job", "Secret"])
async def test_a_runs_name_taken_by_someone_else_is_neither_adopted_nor_used(cluster_under_test, local_cluster, kind):
    """The API server's own 409 AlreadyExists: an object without this installation's
    proof fails that run with a retryable error before any of the work runs, and the
    next run, with a name of its own, runs with the parameters it was given."""
    _, operator = local_cluster
    c = cluster_under_test
    name = c.name(f"{kind.lower()}-taken")
    await c.crs.create("BackgroundJob", name, {"jobType": "hello", "parameters": {"name": "mine"}, "delay": "5s",
                                               "retry": {"maxAttempts": 1, "backoff": {"baseSeconds": 1, "maxSeconds": 1}}})
    body = await c.crs.wait_for("BackgroundJob", name, lambda b: (b.get("status") or {}).get("jobId"), timeout=c.timeout)
    job_id = body["status"]["jobId"]
    taken = f"cj-{job_id}-1"
    create, path = ((c.api.create_job, f"/apis/batch/v1/namespaces/{c.namespace}/jobs/{taken}") if kind == "Job"
                    else (c.api.create_secret, f"/api/v1/namespaces/{c.namespace}/secrets/{taken}"))
    outsiders = await create(c.namespace, planted(kind, taken, job_id))
    try:
        body = await c.crs.wait_phase("BackgroundJob", name, "Succeeded", timeout=c.timeout + 10)
        assert body["status"]["kubernetesJobName"] == f"cj-{job_id}-2" and body["status"]["attempts"] == 2
        with psycopg.connect(operator.connection_string) as conn:
            errors = [data for (data,) in conn.execute(
                "SELECT data FROM craft_jobs.job_states WHERE job_id = %s AND data ? 'type'", (int(job_id),))]
        assert [e["type"] for e in errors] == ["NameTaken"], errors
        assert f"the {kind} {c.namespace}/{taken} exists but was not made by this installation" in errors[0]["message"]
        # The outsider's object is as it was made: nothing of the run went into it or ran from it.
        if kind == "Job":
            job = await c.api.get_job(c.namespace, taken)
            assert job["metadata"]["uid"] == outsiders["metadata"]["uid"] and job["spec"]["suspend"] is True
            assert await c.api.get_secret(c.namespace, taken) is None, "no parameters handed to it"
        else:
            secret = await c.api.get_secret(c.namespace, taken)
            assert secret["data"] == outsiders["data"] and not secret["metadata"].get("ownerReferences")
            await eventually(lambda: _gone(c, taken), 30, interval=0.2,
                             message="the run's own Job, left without its Secret, removed")
        assert [p["metadata"]["labels"]["job-name"] for p in await pods_of(c, job_id)] == [f"cj-{job_id}-2"]
    finally:
        await c.api.request("DELETE", path)


async def _gone(c, job_name: str) -> bool:
    return await c.api.get_job(c.namespace, job_name) is None


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
