"""Jobs in the real samples image (`make images`), on the local control plane.

The node agent runs `localhost/...` images in podman as a kubelet's runtime
would (tests/support/cluster/images.py), so these pods run the image's own
entry point as uid 10001 on a read-only root, with their parameters only in
the Secret volume, in namespaces that enforce Pod Security "restricted".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import threading
import time
import uuid

import pytest

from tests.e2e.conftest import LOCAL_CLUSTER
from tests.support.cluster.images import PODMAN, SAMPLES_IMAGE, image_config, podman_unavailable


def _unavailable() -> str | None:
    if not LOCAL_CLUSTER:
        return "runs podman images through the local control plane's node agent: make test-cluster"
    reason = podman_unavailable()
    if reason:
        return reason
    if image_config(SAMPLES_IMAGE) is None:
        return f"{SAMPLES_IMAGE} is not built: run `make images`"
    return None


UNAVAILABLE = _unavailable()
pytestmark = [pytest.mark.cluster, pytest.mark.skipif(UNAVAILABLE is not None, reason=UNAVAILABLE or "")]


@contextlib.asynccontextmanager
async def restricted_namespace(c):
    namespace = c.name("images")
    await c.api.request("POST", "/api/v1/namespaces", body={"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": namespace, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}})
    try:
        yield namespace
    finally:
        await c.api.request("DELETE", f"/api/v1/namespaces/{namespace}")


def podman(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=60)


async def test_a_job_in_the_samples_image_succeeds_with_what_its_parameters_ask_for(cluster_under_test):
    c = cluster_under_test
    async with restricted_namespace(c) as namespace:
        name = c.name("needs-env")
        await c.crs.create("BackgroundJob", name, {
            "jobType": "kube-needs-env", "image": SAMPLES_IMAGE, "parameters": {"names": ["E2E_IMAGE_SETTING"]},
            "pod": {"env": [{"name": "E2E_IMAGE_SETTING", "value": "on"}]}}, namespace=namespace)
        body = await c.crs.wait_phase("BackgroundJob", name, "Succeeded", timeout=c.timeout, namespace=namespace)
        assert body["status"]["attempts"] == 1


async def test_a_failing_job_in_the_samples_image_reports_its_termination_message(cluster_under_test):
    c = cluster_under_test
    reason = f"part {uuid.uuid4().hex[:8]} is corrupt"
    async with restricted_namespace(c) as namespace:
        name = c.name("fails")
        await c.crs.create("BackgroundJob", name, {"jobType": "always-fails", "image": SAMPLES_IMAGE,
                                                   "parameters": {"reason": reason}}, namespace=namespace)
        body = await c.crs.wait_phase("BackgroundJob", name, "Failed", timeout=c.timeout, namespace=namespace)
        # Written by the runner inside the container to /dev/termination-log, from the parameters file.
        assert body["status"]["lastError"]["message"] == reason


def watch_exit_code(api, namespace: str, watching: threading.Event, timeout: float) -> int | None:
    """Blocking: the exit code of the first terminated container a pod of the namespace reports."""
    response = api.request_sync("GET", f"/api/v1/namespaces/{namespace}/pods",
                                query={"watch": "true", "timeoutSeconds": int(timeout)},
                                timeout=(10, timeout + 10), stream=True)
    watching.set()
    try:
        buffer = b""
        for chunk in response.stream(65536, decode_content=True):
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                pod = json.loads(line).get("object") or {}
                for status in (pod.get("status") or {}).get("containerStatuses") or ():
                    terminated = (status.get("state") or {}).get("terminated")
                    if terminated:
                        return terminated["exitCode"]
    finally:
        response.release_conn()
    return None


async def test_a_running_job_is_uid_10001_on_a_read_only_root_and_a_delete_cancels_it(cluster_under_test):
    c = cluster_under_test
    async with restricted_namespace(c) as namespace:
        name = c.name("slow")
        await c.crs.create("BackgroundJob", name, {"jobType": "slow", "image": SAMPLES_IMAGE,
                                                   "parameters": {"seconds": 120}}, namespace=namespace)
        await c.crs.wait_phase("BackgroundJob", name, "Processing", timeout=c.timeout, namespace=namespace)
        deadline = time.monotonic() + 60
        while not (names := podman("ps", "--filter", f"label=io.kubernetes.pod.namespace={namespace}",
                                   "--format", "{{.Names}}").stdout.split()):
            assert time.monotonic() < deadline, "no container for the job's pod"
            await asyncio.sleep(0.3)
        container = names[0]
        # Until the runner installs its SIGTERM handler (as the job starts), python is the container's PID 1, for
        # which the kernel drops a default-action SIGTERM: a delete that early ends with SIGKILL after the grace.
        while "job started" not in (logs := podman("logs", container)).stdout + logs.stderr:
            assert time.monotonic() < deadline, "the job did not start"
            await asyncio.sleep(0.2)
        # exec runs as the container's user, in its file system.
        probe = podman("exec", container, "sh", "-c",
                       'id -u; id -g; touch /probe 2>&1; cat "$CRAFT_JOB_PARAMETERS_FILE"; echo; '
                       'env | grep -c seconds || true')
        lines = probe.stdout.splitlines()
        assert lines[:2] == ["10001", "10001"], probe.stdout + probe.stderr
        assert "Read-only file system" in lines[2]
        assert json.loads(lines[3]) == {"seconds": 120}
        assert lines[4] == "0"  # the parameters are not in the environment

        watching = threading.Event()
        exit_code = asyncio.ensure_future(asyncio.to_thread(watch_exit_code, c.api, namespace, watching, 60))
        while not watching.is_set():
            await asyncio.sleep(0.05)
        await c.crs.delete("BackgroundJob", name, namespace)
        # The SIGTERM reached the job inside the container: it cancelled and exited 143, not SIGKILL's 137.
        assert await exit_code == 143
        deadline = time.monotonic() + 30
        while podman("container", "exists", container).returncode == 0:
            assert time.monotonic() < deadline, f"container {container} still exists"
            await asyncio.sleep(0.3)
