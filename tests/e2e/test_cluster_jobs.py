"""End to end, through the Kubernetes API only: resources in, status out.

Runs against the emulator harness by default and, unchanged, against a real
cluster when KUBECONFIG is set (see tests/e2e/conftest.py).
"""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.request
from pathlib import Path

import pytest
import yaml

from craft_jobs.kube.api import KubeApiError
from tests.e2e.conftest import LOCAL_CLUSTER
from tests.support.kube.client import condition
from tests.support.polling import eventually

SAMPLES = Path(__file__).resolve().parents[2] / "crds" / "samples"


def sample(file_name: str) -> dict:
    return yaml.safe_load((SAMPLES / file_name).read_text())


async def event_of(c, body: dict, reason: str) -> dict:
    """The Event with `reason` on this resource (polled: Events follow the status)."""
    import asyncio
    import time

    deadline = time.monotonic() + 30
    while True:
        listing = await c.api.request("GET", f"/api/v1/namespaces/{c.namespace}/events")
        found = [e for e in listing["items"] if (e.get("involvedObject") or {}).get("uid") == body["metadata"]["uid"]
                 and e.get("reason") == reason]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"no {reason} Event on {body['metadata']['name']}"
        await asyncio.sleep(0.2)


async def test_fire_and_forget_sample_succeeds(cluster_under_test):
    c = cluster_under_test
    name = c.name("hello")
    await c.crs.create("BackgroundJob", name, sample("backgroundjob-fire-and-forget.yaml")["spec"])
    body = await c.crs.wait_phase("BackgroundJob", name, "Succeeded", timeout=c.timeout)
    assert body["status"]["attempts"] == 1
    assert body["status"]["kubernetesJobName"].startswith("cj-")
    assert condition(body, "Complete")["status"] == "True"
    succeeded = await event_of(c, body, "Succeeded")
    assert succeeded["type"] == "Normal" and body["status"]["kubernetesJobName"] in succeeded["message"]
    started = await event_of(c, body, "Started")  # also when a status pass saw only the end
    assert started["message"] == f"attempt 1 of job {body['status']['jobId']} started as Job {body['status']['kubernetesJobName']}"


async def test_retry_sample_with_pod_overrides_succeeds_on_its_third_attempt(cluster_under_test):
    c = cluster_under_test
    for secret, data in (("flaky-credentials", {"api-key": "k"}), ("flaky-settings", {"SETTING": "on"})):
        body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret},
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
        try:
            await c.api.request("POST", f"/api/v1/namespaces/{c.namespace}/secrets", body=body)
        except Exception as exc:  # already there from an earlier run
            if getattr(exc, "status", None) != 409:
                raise
    name = c.name("flaky")
    await c.crs.create("BackgroundJob", name, sample("backgroundjob-retry-and-pod.yaml")["spec"])
    body = await c.crs.wait_phase("BackgroundJob", name, "Succeeded", timeout=c.timeout)
    assert body["status"]["attempts"] == 3
    retrying = await event_of(c, body, "Retrying")
    assert retrying["type"] == "Warning" and retrying["count"] >= 1, "failed attempts show in kubectl describe"


async def test_always_fails_sample_ends_failed_with_the_error(cluster_under_test):
    c = cluster_under_test
    name = c.name("fails")
    await c.crs.create("BackgroundJob", name, sample("backgroundjob-always-fails.yaml")["spec"])
    body = await c.crs.wait_phase("BackgroundJob", name, "Failed", timeout=c.timeout)
    assert body["status"]["lastError"]["message"] == "the input file is corrupt"
    assert condition(body, "Failed")["status"] == "True"


async def test_a_bad_spec_is_refused_or_marked(cluster_under_test):
    """With the webhooks installed the API refuses it; without, a condition names the field."""
    c = cluster_under_test
    name = c.name("bad")
    try:
        await c.crs.create("BackgroundJob", name, {"jobType": "no-such-job-type"})
    except Exception as exc:
        assert "spec.jobType" in str(exc)
        return
    body = await c.crs.wait_for("BackgroundJob", name, lambda b: condition(b, "Accepted"), timeout=c.timeout)
    assert condition(body, "Accepted")["message"].startswith("spec.jobType: ")


async def test_delete_while_running(cluster_under_test):
    c = cluster_under_test
    name = c.name("slow")
    await c.crs.create("BackgroundJob", name, {"jobType": "slow", "parameters": {"seconds": 120}})
    body = await c.crs.wait_phase("BackgroundJob", name, "Processing", timeout=c.timeout)
    job_name = body["status"]["kubernetesJobName"]
    await c.crs.delete("BackgroundJob", name)

    async def job_gone() -> bool:
        return await c.api.get_job(c.namespace, job_name) is None

    import asyncio
    import time

    deadline = time.monotonic() + c.timeout
    while not await job_gone():
        assert time.monotonic() < deadline, f"Job {job_name} still exists"
        await asyncio.sleep(0.2)


async def test_recurring_sample_schedules_and_runs_when_triggered(cluster_under_test):
    c = cluster_under_test
    name = c.name("weekday")
    await c.crs.create("RecurringJob", name, sample("recurringjob-cron.yaml")["spec"])
    await c.crs.wait_for("RecurringJob", name, lambda b: (b.get("status") or {}).get("nextScheduleTime"), timeout=c.timeout)
    await c.crs.annotate("RecurringJob", name, {"jobs.craft.dev/trigger": "now"})
    body = await c.crs.wait_for(
        "RecurringJob", name, lambda b: ((b.get("status") or {}).get("lastJob") or {}).get("phase") == "Succeeded",
        timeout=c.timeout, what="the triggered run")
    assert body["status"]["lastScheduleTime"]
    job = body["status"]["lastJob"]["jobId"]
    assert (await event_of(c, body, "Fired"))["message"] == f"fired job {job}"
    assert (await event_of(c, body, "RunSucceeded"))["message"] == f"job {job} succeeded"


async def test_a_recurring_jobs_failed_run_is_a_warning_with_its_error(cluster_under_test):
    c = cluster_under_test
    name = c.name("fails-nightly")
    await c.crs.create("RecurringJob", name, {"schedule": "0 3 * * *", "jobTemplate": {
        "jobType": "always-fails", "retry": {"maxAttempts": 0}}})
    await c.crs.wait_for("RecurringJob", name, lambda b: (b.get("status") or {}).get("nextScheduleTime"), timeout=c.timeout)
    await c.crs.annotate("RecurringJob", name, {"jobs.craft.dev/trigger": "now"})
    body = await c.crs.wait_for(
        "RecurringJob", name, lambda b: ((b.get("status") or {}).get("lastJob") or {}).get("phase") == "Failed",
        timeout=c.timeout, what="the triggered run failed")
    failed = await event_of(c, body, "RunFailed")
    assert failed["type"] == "Warning"
    assert failed["message"] == f"job {body['status']['lastJob']['jobId']} failed: the input file is corrupt"


@pytest.mark.cluster
async def test_job_pods_are_admitted_under_the_restricted_pod_security_standard(cluster_under_test):
    """Only a real API server enforces Pod Security admission; the emulator cannot."""
    c = cluster_under_test
    namespace = c.name("restricted")
    await c.api.request("POST", "/api/v1/namespaces", body={"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": namespace, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}})
    try:
        name = c.name("hello")
        await c.crs.create("BackgroundJob", name, {"jobType": "hello"}, namespace=namespace)
        await c.crs.wait_phase("BackgroundJob", name, "Succeeded", timeout=c.timeout, namespace=namespace)
    finally:
        await c.api.request("DELETE", f"/api/v1/namespaces/{namespace}")


@pytest.mark.cluster
async def test_the_api_server_refuses_a_spec_change_with_the_cel_rules_message(cluster_under_test):
    """CEL rules only run on a real API server: a BackgroundJob's spec is immutable."""
    c = cluster_under_test
    name = c.name("immutable")
    await c.crs.create("BackgroundJob", name, {"jobType": "hello", "delay": "1h"})
    with pytest.raises(KubeApiError) as refused:
        await c.crs.patch_spec("BackgroundJob", name, {"delay": "2h"})
    assert refused.value.status == 422
    assert "spec is immutable; delete the BackgroundJob and create it again" in refused.value.message


@pytest.mark.cluster
async def test_the_api_server_refuses_a_reserved_environment_variable(cluster_under_test):
    c = cluster_under_test
    with pytest.raises(KubeApiError) as refused:
        await c.crs.create("BackgroundJob", c.name("reserved"), {
            "jobType": "hello", "pod": {"env": [{"name": "CRAFT_JOB_ID", "value": "7"}]}})
    assert refused.value.status == 422
    assert "spec.pod.env[0]" in refused.value.message
    assert "the job context variables are set by the operator" in refused.value.message


@pytest.mark.cluster
async def test_a_pod_that_never_starts_fails_with_the_kubelets_reason(cluster_under_test):
    """An image no node has: the run fails after the start timeout with ErrImagePull, and says so."""
    c = cluster_under_test
    name = c.name("no-image")
    await c.crs.create("BackgroundJob", name, {"jobType": "hello", "image": "craft-jobs-no-such-image:1",
                                               "retry": {"maxAttempts": 0}})
    body = await c.crs.wait_phase("BackgroundJob", name, "Failed", timeout=c.timeout)
    error = body["status"]["lastError"]
    assert error["type"] in ("ErrImagePull", "ImagePullBackOff"), error
    assert "craft-jobs-no-such-image:1" in error["message"] and "started within" in error["message"]


@pytest.mark.cluster
async def test_a_pod_waiting_for_a_missing_secret_says_why_before_its_start_deadline(cluster_under_test, request):
    """The kubelet's reason shows on the resource and in the job's history while the run
    still waits, not only when the start deadline fails it."""
    c = cluster_under_test
    name = c.name("no-secret")
    missing = c.name("missing-credentials")
    await c.crs.create("BackgroundJob", name, {"jobType": "hello", "retry": {"maxAttempts": 0}, "pod": {
        "env": [{"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": missing, "key": "api-key"}}}]}})
    body = await c.crs.wait_phase("BackgroundJob", name, "Failed", timeout=c.timeout)
    assert body["status"]["lastError"]["type"] == "CreateContainerConfigError"
    notice = await event_of(c, body, "PodNotStarted")
    assert notice["type"] == "Warning"
    assert f'has started yet: CreateContainerConfigError: secret "{missing}" not found' in notice["message"]
    assert notice["firstTimestamp"] < body["status"]["finishedAt"], "said while the run still waited"
    if not LOCAL_CLUSTER:
        return
    _, operator = request.getfixturevalue("local_cluster")
    url = f"{operator.env['CRAFT_JOBS_JOB_API_URL']}/api/jobs/{body['status']['jobId']}"
    with urllib.request.urlopen(url, timeout=5) as response:
        history = json.loads(response.read())["history"]
    waiting = [row for row in history if row["state"] == "Processing" and "has started yet" in (row["reason"] or "")]
    assert len(waiting) == 1 and missing in waiting[0]["reason"], history


@pytest.mark.cluster
async def test_optional_secret_references_let_the_pod_start_without_them(cluster_under_test):
    c = cluster_under_test
    name = c.name("optional-secrets")
    missing = c.name("absent")
    await c.crs.create("BackgroundJob", name, {"jobType": "hello", "retry": {"maxAttempts": 0}, "pod": {
        "env": [{"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": missing, "key": "k", "optional": True}}}],
        "envFrom": [{"secretRef": {"name": missing, "optional": True}}]}})
    await c.crs.wait_phase("BackgroundJob", name, "Succeeded", timeout=c.timeout)


async def test_a_run_over_its_timeout_ends_failed_with_a_timeout(cluster_under_test):
    c = cluster_under_test
    name = c.name("timeout")
    await c.crs.create("BackgroundJob", name, {"jobType": "slow", "parameters": {"seconds": 120}, "timeoutSeconds": 2,
                                               "retry": {"maxAttempts": 0}})
    body = await c.crs.wait_phase("BackgroundJob", name, "Failed", timeout=c.timeout)
    assert body["status"]["lastError"]["type"] == "Timeout"
    assert condition(body, "Failed")["reason"] == "Timeout"


@pytest.mark.cluster
async def test_a_pod_schedules_jobs_through_the_api_with_its_runs_credential(cluster_under_test, request):
    """The fan-out sample's pod calls the dashboard's REST API (context.scheduler) with the
    credential from its Secret; its greetings and report run as pods of their own."""
    if not LOCAL_CLUSTER:
        pytest.skip("reads the jobs through the local harness's dashboard")
    _, operator = request.getfixturevalue("local_cluster")
    api_url = operator.env["CRAFT_JOBS_JOB_API_URL"]
    c = cluster_under_test
    name = c.name("fan-out")
    await c.crs.create("BackgroundJob", name, {"jobType": "fan-out", "parameters": {"names": ["Ada", "Grace"]}})
    body = await c.crs.wait_phase("BackgroundJob", name, "Succeeded", timeout=c.timeout)

    def detail() -> dict:
        with urllib.request.urlopen(f"{api_url}/api/jobs/{body['status']['jobId']}", timeout=5) as response:
            return json.loads(response.read())

    async def children_done():
        scheduled = (await asyncio.to_thread(detail))["scheduled"]
        return scheduled if len(scheduled) == 3 and all(j["state"] == "Succeeded" for j in scheduled) else None

    scheduled = await eventually(children_done, timeout=c.timeout, what="the fan-out job's three children succeeded")
    assert sorted(j["job_type"] for j in scheduled) == ["hello", "hello", "send-report"]
