"""BackgroundJob resources through the real operator (kopf + engine) against the emulated cluster."""

from __future__ import annotations

from tests.support.kube.client import condition


async def test_create_runs_to_succeeded(operator, crs, cluster):
    await crs.create("BackgroundJob", "hello-world", {"jobType": "hello", "parameters": {"name": "kube"}})
    body = await crs.wait_phase("BackgroundJob", "hello-world", "Succeeded")
    status = body["status"]
    assert status["attempts"] == 1 and status["jobId"]
    assert status["kubernetesJobName"] == f"cj-{status['jobId']}-1"
    assert status["startedAt"] and status["finishedAt"]
    assert condition(body, "Complete")["status"] == "True"
    assert status["observedGeneration"] == 1
