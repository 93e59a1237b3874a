"""BackgroundJob resources through the real operator (kopf + engine) against the emulated cluster."""

from __future__ import annotations

import asyncio
import base64
import time
from datetime import datetime, timedelta, timezone

from kmock._internal.k8s import KubernetesError

from craft_jobs.kube.status import OVERLAP
from craft_jobs.states import JobState
from tests.support.kube.client import condition
from tests.support.kube.emulator import JOBS, PODS, SECRETS
from tests.support.kube.harness import eventually

FAST_RETRY = {"backoff": {"baseSeconds": 1, "maxSeconds": 1, "jitter": 0}}


def job_id(body) -> int:
    return int(body["status"]["jobId"])


async def test_create_runs_to_succeeded(operator, crs, cluster):
    await crs.create("BackgroundJob", "hello-world", {"jobType": "hello", "parameters": {"name": "kube"}})
    body = await crs.wait_phase("BackgroundJob", "hello-world", "Succeeded")
    status = body["status"]
    assert status["attempts"] == 1 and status["jobId"]
    assert status["kubernetesJobName"] == f"cj-{status['jobId']}-1"
    assert status["startedAt"] and status["finishedAt"]
    assert condition(body, "Complete")["status"] == "True"
    assert condition(body, "Accepted")["status"] == "True"
    assert status["observedGeneration"] == 1
    job = cluster.emulator.get(JOBS, "default", status["kubernetesJobName"])
    assert job["metadata"]["ownerReferences"][0]["uid"] == body["metadata"]["uid"]


async def test_delay_waits_scheduled_then_runs(operator, crs):
    await crs.create("BackgroundJob", "later", {"jobType": "hello", "delay": "3s"})
    await crs.wait_phase("BackgroundJob", "later", "Scheduled")
    started = time.monotonic()
    body = await crs.wait_phase("BackgroundJob", "later", "Succeeded", timeout=30)
    assert time.monotonic() - started > 0.5, "it waited for its time"
    assert body["status"]["attempts"] == 1


async def test_run_at_in_the_future_and_in_the_past(operator, crs):
    soon = (datetime.now(timezone.utc) + timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    await crs.create("BackgroundJob", "at-soon", {"jobType": "hello", "runAt": soon})
    await crs.create("BackgroundJob", "at-past", {"jobType": "hello", "runAt": "2020-01-01T00:00:00Z"})
    await crs.wait_phase("BackgroundJob", "at-soon", "Scheduled")
    await crs.wait_phase("BackgroundJob", "at-past", "Succeeded")
    await crs.wait_phase("BackgroundJob", "at-soon", "Succeeded", timeout=30)


async def test_continuation_waits_for_its_parent(operator, crs):
    # `kubectl apply -f` of one file may send the child first: it waits for its parent to appear.
    await crs.create("BackgroundJob", "child", {
        "jobType": "send-report", "parameters": {"report": "summary"}, "continueAfter": {"name": "parent"}})
    await asyncio.sleep(1.5)
    await crs.create("BackgroundJob", "parent", {"jobType": "slow", "parameters": {"seconds": 2}})
    await crs.wait_phase("BackgroundJob", "child", "Awaiting")
    parent = await crs.wait_phase("BackgroundJob", "parent", "Succeeded")
    child = await crs.wait_phase("BackgroundJob", "child", "Succeeded")
    assert child["status"]["startedAt"] >= parent["status"]["finishedAt"]


async def test_retry_with_the_attempt_reaching_the_pod(operator, crs, cluster):
    await crs.create("BackgroundJob", "flaky", {
        "jobType": "flaky", "parameters": {"failures": 2}, "retry": {"maxAttempts": 3, **FAST_RETRY}})
    body = await crs.wait_phase("BackgroundJob", "flaky", "Succeeded", timeout=40)
    assert body["status"]["attempts"] == 3
    ident = job_id(body)
    attempts = [cluster.emulator.get(JOBS, "default", f"cj-{ident}-{run}")["metadata"]["annotations"]["jobs.craft.dev/attempt"]
                for run in (1, 2, 3)]
    assert attempts == ["0", "1", "2"]
    # flaky fails while CRAFT_JOB_ATTEMPT < failures: succeeding on the third run proves the pod saw attempt 2.
    statuses = [cluster.emulator.get(JOBS, "default", f"cj-{ident}-{run}")["status"]["conditions"][-1]["type"] for run in (1, 2, 3)]
    assert statuses == ["Failed", "Failed", "Complete"]


async def test_non_retryable_failure_fails_at_once(operator, crs):
    await crs.create("BackgroundJob", "broken", {
        "jobType": "always-fails", "parameters": {"reason": "the input file is corrupt"}, "retry": {"maxAttempts": 3}})
    body = await crs.wait_phase("BackgroundJob", "broken", "Failed")
    assert body["status"]["attempts"] == 1
    assert body["status"]["lastError"]["message"] == "the input file is corrupt"
    assert body["status"]["lastError"]["exitCode"] == 3
    assert condition(body, "Failed")["status"] == "True"


async def test_non_retryable_exit_codes_from_the_spec(operator, crs, cluster):
    await crs.create("BackgroundJob", "exit-42", {
        "jobType": "kube-exit-with", "parameters": {"code": 42},
        "retry": {"maxAttempts": 3, "nonRetryableExitCodes": [42], **FAST_RETRY}})
    body = await crs.wait_phase("BackgroundJob", "exit-42", "Failed")
    assert body["status"]["attempts"] == 1 and body["status"]["lastError"]["exitCode"] == 42
    job = cluster.emulator.get(JOBS, "default", body["status"]["kubernetesJobName"])
    assert any(c["reason"] == "PodFailurePolicy" for c in job["status"]["conditions"])


async def test_on_attempts_exceeded_delete_from_the_spec(operator, crs):
    await crs.create("BackgroundJob", "exhausted", {
        "jobType": "kube-exit-with", "parameters": {"code": 1},
        "retry": {"maxAttempts": 1, "onAttemptsExceeded": "Delete", **FAST_RETRY}})
    body = await crs.wait_phase("BackgroundJob", "exhausted", "Deleted", timeout=30)
    assert body["status"]["attempts"] == 2 and body["status"]["lastError"]["exitCode"] == 1


async def test_timeout(operator, crs):
    await crs.create("BackgroundJob", "too-slow", {
        "jobType": "slow", "parameters": {"seconds": 60}, "timeoutSeconds": 1, "retry": {"maxAttempts": 0}})
    body = await crs.wait_phase("BackgroundJob", "too-slow", "Failed", timeout=30)
    assert body["status"]["lastError"]["type"] == "Timeout"
    assert condition(body, "Failed")["reason"] == "Timeout"


async def test_requeue_annotation_runs_a_failed_job_again(operator, crs, cluster):
    await crs.create("BackgroundJob", "again", {"jobType": "always-fails"})
    body = await crs.wait_phase("BackgroundJob", "again", "Failed")
    ident = job_id(body)
    await crs.annotate("BackgroundJob", "again", {"jobs.craft.dev/requeue": "now"})
    await eventually(lambda: cluster.emulator.get(JOBS, "default", f"cj-{ident}-2"), message="a second Job")
    body = await crs.wait_for("BackgroundJob", "again",
                              lambda b: b["status"]["phase"] == "Failed" and b["status"]["kubernetesJobName"] == f"cj-{ident}-2")
    assert "jobs.craft.dev/requeue" not in (body["metadata"].get("annotations") or {}), "the request is consumed"
    history = await operator.handle.reconciler.store.job_history(ident)
    assert any(entry.reason == "requeued" for entry in history)


async def test_pod_overrides_reach_the_pod(operator, crs, kube_api):
    await kube_api.request("POST", "/api/v1/namespaces/default/secrets", body={
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
        "data": {"api-key": base64.b64encode(b"s3cret").decode(), "TOKEN": base64.b64encode(b"t").decode()}})
    await crs.create("BackgroundJob", "env", {
        "jobType": "kube-needs-env", "parameters": {"names": ["LOG_LEVEL", "API_KEY", "TOKEN"]},
        "pod": {"env": [{"name": "LOG_LEVEL", "value": "DEBUG"},
                        {"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "api-key"}}}],
                "envFrom": [{"secretRef": {"name": "creds"}}],
                "resources": {"limits": {"memory": "128Mi"}}, "nodeSelector": {"kubernetes.io/os": "linux"}}})
    body = await crs.wait_phase("BackgroundJob", "env", "Succeeded")
    assert body["status"]["attempts"] == 1


async def test_delete_while_running_stops_it_and_keeps_the_history(operator, crs, cluster):
    await crs.create("BackgroundJob", "long", {"jobType": "slow", "parameters": {"seconds": 60}})
    body = await crs.wait_phase("BackgroundJob", "long", "Processing")
    await eventually(lambda: cluster.controller.pods, message="the pod to run")
    ident = job_id(body)
    await crs.delete("BackgroundJob", "long")
    store = operator.handle.reconciler.store
    await eventually(lambda: _state_is(store, ident, JobState.DELETED), message="the job to be Deleted")
    await eventually(lambda: not cluster.controller.pods, message="the pod to stop")
    assert cluster.emulator.get(JOBS, "default", f"cj-{ident}-1") is None
    assert not cluster.emulator.list(SECRETS, "default"), "the parameters Secret goes with the Job"
    history = [entry.state for entry in await store.job_history(ident)]
    assert history[:3] == [JobState.ENQUEUED, JobState.PROCESSING, JobState.DELETED] or JobState.DELETED in history


async def test_a_job_deleted_behind_the_operators_back_ends_failed(operator, crs, cluster, kube_api):
    await crs.create("BackgroundJob", "victim", {"jobType": "slow", "parameters": {"seconds": 60}, "retry": {"maxAttempts": 0}})
    body = await crs.wait_phase("BackgroundJob", "victim", "Processing")
    name = await eventually(lambda: _job_name(cluster, body), message="the Job")
    await kube_api.delete_job("default", name)
    body = await crs.wait_phase("BackgroundJob", "victim", "Failed")
    assert body["status"]["lastError"]["type"] == "JobDeleted"
    assert name in body["status"]["lastError"]["message"]
    await eventually(lambda: not cluster.emulator.list(PODS, "default"), message="its pod to go")


async def _state_is(store, ident, state) -> bool:
    job = await store.get_job(ident)
    return job is not None and job.state is state


def _job_name(cluster, body):
    """The run's Job once the operator has finished making it (created suspended, then
    released): deleting it earlier is a failed creation, not a Job deleted while it runs."""
    name = f"cj-{body['status']['jobId']}-1"
    job = cluster.emulator.get(JOBS, "default", name)
    return name if job and not (job.get("spec") or {}).get("suspend") else None


INVALID = [
    ("unknown-type", {"jobType": "nope"}, "spec.jobType"),
    ("bad-params", {"jobType": "flaky", "parameters": {"failures": 99}}, "spec.parameters"),
    ("huge-params", {"jobType": "kube-needs-env", "parameters": {"names": ["x" * 1000] * 70}}, "spec.parameters"),
    ("no-parent", {"jobType": "hello", "continueAfter": {"name": "missing"}}, "spec.continueAfter.name"),
    ("bad-run-at", {"jobType": "hello", "runAt": "next tuesday"}, "spec.runAt"),
    ("huge-metadata", {"jobType": "hello", "metadata": {"blob": "x" * 300_000}}, "spec.metadata"),
    ("endless-timeout", {"jobType": "hello", "timeoutSeconds": 2**40}, "spec.timeoutSeconds"),
]


async def test_invalid_specs_get_a_condition_and_no_retry_loop(operator, crs, cluster):
    for name, spec, _ in INVALID:
        await crs.create("BackgroundJob", name, spec)
    for name, _, field in INVALID:
        body = await crs.wait_for("BackgroundJob", name, lambda b: condition(b, "Accepted"), what="a condition")
        accepted = condition(body, "Accepted")
        assert accepted["status"] == "False" and accepted["reason"] == "InvalidSpec"
        assert accepted["message"].startswith(f"{field}: "), accepted["message"]
        assert "phase" not in body["status"]
    writes = cluster.emulator.requests_by("kopf")["writes"]
    await asyncio.sleep(1.5)  # absence of retries can only be observed over time
    assert cluster.emulator.requests_by("kopf")["writes"] == writes, "a bad spec is not retried"
    assert not cluster.emulator.list(JOBS), "nothing ran"


async def test_missing_image_without_a_default(start_operator, crs):
    await start_operator(default_image=None)
    await crs.create("BackgroundJob", "no-image", {"jobType": "hello"})
    body = await crs.wait_for("BackgroundJob", "no-image", lambda b: condition(b, "Accepted"))
    assert condition(body, "Accepted")["message"].startswith("spec.image: ")
    await crs.create("BackgroundJob", "own-image", {"jobType": "hello", "image": "craft-jobs-samples:test"})
    await crs.wait_phase("BackgroundJob", "own-image", "Succeeded")


async def test_an_evicted_pod_and_its_replacement_show_in_the_history_once(operator, crs, cluster):
    await crs.create("BackgroundJob", "evicted", {"jobType": "slow", "parameters": {"seconds": 3},
                                                  "retry": {"maxAttempts": 0, "nonRetryableExitCodes": [137, 143]}})
    body = await crs.wait_phase("BackgroundJob", "evicted", "Processing")
    ident = job_id(body)
    await eventually(lambda: cluster.controller.pods, message="the pod to run")
    evicted = next(iter(cluster.controller.pods.values())).name
    assert cluster.controller.disrupt("default", f"cj-{ident}-1")
    store = operator.handle.reconciler.store

    async def eviction_recorded() -> bool:
        return any("evicted" in (entry.reason or "") for entry in await store.job_history(ident))
    await eventually(eviction_recorded, message="the eviction in the history")
    for again in ("1", "2"):  # the watch repeats the evicted pod: still one row
        await cluster.emulator.patch(PODS, "default", evicted, {"metadata": {"annotations": {"seen": again}}})
    body = await crs.wait_phase("BackgroundJob", "evicted", "Succeeded")
    assert body["status"]["attempts"] == 1
    history = await operator.handle.reconciler.store.job_history(ident)
    rows = [(entry.state.value, entry.reason) for entry in history]
    evictions = [reason for state, reason in rows if "evicted" in (reason or "")]
    assert evictions == [f"pod {evicted} evicted (DisruptionTarget: EvictionByEvictionAPI), replaced; no attempt used"], rows
    assert [state for state, _ in rows].count("Processing") == 2, "two executions, two runs shown"
    assert [state for state, _ in rows][-1] == "Succeeded", rows


async def test_backgroundjobs_run_the_installations_client_filters(start_operator, crs, options, store):
    await start_operator(options=options.model_copy(update={"client_filters": ["tests.support.filters:StampFilter"]}))
    await crs.create("BackgroundJob", "stamped", {"jobType": "hello", "parameters": {"name": "kube"}})
    body = await crs.wait_phase("BackgroundJob", "stamped", "Succeeded")
    assert (await store.get_job(job_id(body))).metadata.get("stamped") == "installation"


async def test_a_job_held_by_a_concurrency_limit_says_so_on_its_resource(start_operator, crs, options, kube_api):
    await start_operator(options=options.model_copy(update={"tenant_concurrency_limit": 1}))
    await crs.create("BackgroundJob", "first", {"jobType": "slow", "parameters": {"seconds": 4}})
    await crs.wait_phase("BackgroundJob", "first", "Processing")
    await crs.create("BackgroundJob", "second", {"jobType": "hello"})
    body = await crs.wait_for("BackgroundJob", "second", lambda b: condition(b, "Held"), what="the Held condition")
    assert body["status"]["phase"] == "Enqueued"
    held = condition(body, "Held")
    assert (held["status"], held["reason"]) == ("True", "TenantConcurrencyLimit")
    assert held["message"] == "held: the default tenant runs 1 of its limit of 1"
    events = await kube_api.request("GET", "/api/v1/namespaces/default/events")
    assert any(e["reason"] == "Held" and e["involvedObject"]["uid"] == body["metadata"]["uid"] for e in events["items"])
    body = await crs.wait_phase("BackgroundJob", "second", "Succeeded", timeout=30)
    released = condition(body, "Held")
    assert (released["status"], released["reason"]) == ("False", "Released")
    first = await crs.wait_phase("BackgroundJob", "first", "Succeeded", timeout=30)
    assert condition(first, "Held") is None, "never held: no condition at all"


async def test_a_status_patch_the_api_refused_is_made_at_a_later_pass(start_operator, crs, cluster):
    """A job that changes no more after it ends must not keep its old status because
    later changes of other jobs moved the sync past it."""
    refusing = asyncio.Event()
    refusing.set()
    refused: list[str] = []

    def refuse_status_patches(request):
        path = request.url.path
        if refusing.is_set() and request.method.name == "PATCH" and "/backgroundjobs/" in path and path.endswith("/status"):
            refused.append(path.split("/")[-2])
            return KubernetesError(500, "InternalError", "injected by the test")
        return None

    cluster.emulator.faults = refuse_status_patches
    await start_operator(status_sync_seconds=0.2)
    await crs.create("BackgroundJob", "refused", {"jobType": "hello"})
    await eventually(lambda: refused.count("refused") >= 3, message="status patches of 'refused' refused")
    # It ends meanwhile; then another job's changes move the sync more than OVERLAP past it.
    await asyncio.sleep(OVERLAP.total_seconds() + 1)
    await crs.create("BackgroundJob", "later", {"jobType": "hello"})
    await eventually(lambda: "later" in refused, message="a status patch of 'later' refused")
    refusing.clear()
    await crs.wait_phase("BackgroundJob", "later", "Succeeded", timeout=15)
    body = await crs.wait_phase("BackgroundJob", "refused", "Succeeded", timeout=15)
    assert body["status"]["attempts"] == 1
