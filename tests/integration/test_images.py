"""The container images `make images` builds, inspected and run with podman.

The image tests skip, with the reason, where podman or the images are missing
(`make images` builds them; it installs podman when root). The job pods run
as the node agent runs them (tests/support/cluster: `_prepare`, then
`podman_command`), from the manifest the operator builds, without a cluster.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import subprocess
import time
import tomllib
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from craft_jobs.kube.manifest import ManifestSettings, build_job_manifest
from craft_jobs.store.models import ClaimedJob
from tests.support.cluster.images import (
    OPERATOR_IMAGE,
    PODMAN,
    RUNNER_IMAGE,
    SAMPLES_IMAGE,
    ContainerConfigError,
    container_name,
    image_config,
    podman_command,
    podman_unavailable,
)
from tests.support.cluster.nodeagent import NodeAgent

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
SOURCE = "https://github.com/craft-jobs/craft-jobs"


@functools.cache
def _config(image: str) -> dict[str, Any] | None:
    return image_config(image)


def built(image: str) -> dict[str, Any]:
    """The image's `podman image inspect`, or a skip saying why there is none."""
    reason = podman_unavailable()
    if reason:
        pytest.skip(f"{reason}; `make images` builds the images")
    config = _config(image)
    if config is None:
        pytest.skip(f"{image} is not built: run `make images`")
    return config


def version(project: str) -> str:
    return tomllib.loads((ROOT / project / "pyproject.toml").read_text())["project"]["version"]


# -- what the images declare ---------------------------------------------------------------

@pytest.mark.parametrize("image, entrypoint, cmd, title, project", [
    (OPERATOR_IMAGE, ["craft-jobs"], ["operator"], "craft-jobs", "operator"),
    (RUNNER_IMAGE, ["python", "-m", "craft_jobs_runner"], None, "craft-jobs-runner", "job-runner-image"),
    (SAMPLES_IMAGE, ["python", "-m", "craft_jobs_runner"], None, "craft-jobs-samples", "job-runner-image"),
])
def test_entry_point_user_and_labels(image, entrypoint, cmd, title, project):
    config = built(image)["Config"]
    assert config["Entrypoint"] == entrypoint
    assert config.get("Cmd") == cmd
    # Numeric, so that runAsNonRoot can be verified.
    assert config["User"] == "10001:10001"
    labels = config["Labels"]
    assert labels["org.opencontainers.image.title"] == title
    assert labels["org.opencontainers.image.source"] == SOURCE
    assert labels["org.opencontainers.image.description"]
    assert labels["org.opencontainers.image.version"] == version(project)


def test_the_samples_image_names_its_job_modules():
    env = dict(e.split("=", 1) for e in built(SAMPLES_IMAGE)["Config"]["Env"])
    assert env["CRAFT_JOB_MODULES"] == "craft_samples,craft_kube_test_jobs"
    assert built(SAMPLES_IMAGE)["Config"]["WorkingDir"] == "/app"


def podman_run(image: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*PODMAN, "run", "--rm", "--pull", "never", "--network", "none", "--read-only",
                           "--read-only-tmpfs=false", "--cap-drop", "ALL", image, *args],
                          capture_output=True, text=True, timeout=90)


def test_the_operator_image_runs_its_cli_as_10001_on_a_read_only_root():
    built(OPERATOR_IMAGE)
    result = podman_run(OPERATOR_IMAGE, "--help")
    assert result.returncode == 0, result.stderr
    assert "operator" in result.stdout


def test_the_samples_image_provides_the_sample_and_test_job_types():
    built(SAMPLES_IMAGE)
    result = podman_run(SAMPLES_IMAGE, "describe")
    assert result.returncode == 0, result.stderr
    types = {d["job_type"] for d in json.loads(result.stdout)}
    assert {"hello", "always-fails", "slow", "flaky", "kube-exit-with", "kube-needs-env"} <= types


# -- a job pod in podman, as the node agent runs it ----------------------------------------

def job_pod(job_type: str, parameters: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pod of the Job the operator builds for this run (uid and all), and its parameters Secret."""
    claimed = ClaimedJob(
        id=7, job_type=job_type, queue="default", parameters=parameters, tenant_id="acme", user_id="user-a",
        metadata={}, attempt=0, runs=1, max_attempts=1, retry_policy=None, timeout_seconds=None,
        image=SAMPLES_IMAGE, scheduled_for=T0, created_at=T0, started_at=T0, recurring_id=None,
        cr_namespace="team-a", cr_name="bj", cr_uid=str(uuid.uuid4()))
    job, secret = build_job_manifest(claimed, ManifestSettings())
    pod = {"metadata": {"name": f"{job['metadata']['name']}-x{uuid.uuid4().hex[:5]}", "namespace": "team-a",
                        "uid": str(uuid.uuid4())},
           "spec": job["spec"]["template"]["spec"]}
    return pod, secret


class SecretsOnly:
    """The one API call `_prepare` makes for these pods: reading the parameters Secret."""

    def __init__(self, secret: dict[str, Any]):
        self.secret = secret

    async def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        assert (method, path) == ("GET", f"/api/v1/namespaces/team-a/secrets/{self.secret['metadata']['name']}")
        return self.secret


async def prepared(pod, secret, tmp_path: Path) -> tuple[list[str], dict[str, str], str, list[str]]:
    pod_dir = tmp_path / "pod"
    pod_dir.mkdir()
    agent = NodeAgent(SecretsOnly(secret), "node-a", tmp_path)
    argv, env, cwd, cleanup = await agent._prepare(pod, pod["spec"]["containers"][0], pod_dir)
    assert argv[:len(PODMAN)] == list(PODMAN)
    return argv, env, cwd, cleanup


async def run(argv, env, cwd, log: Path, until: str | None = None, then: signal.Signals | None = None,
              timeout: float = 60) -> int:
    """Runs the pod's process in its own process group, as the agent does; sends `then` to the group once `until`
    is in its output."""
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(*argv, env=env, cwd=cwd, stdin=asyncio.subprocess.DEVNULL,
                                                       stdout=out, stderr=out, start_new_session=True)
    try:
        if until is not None:
            deadline = time.monotonic() + timeout
            while until not in log.read_text(errors="replace"):
                assert process.returncode is None, log.read_text(errors="replace")
                assert time.monotonic() < deadline, f"no {until!r} after {timeout} s: {log.read_text(errors='replace')}"
                await asyncio.sleep(0.1)
            os.killpg(process.pid, then)
        return await asyncio.wait_for(process.wait(), timeout)
    finally:
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()


def container_exists(name: str) -> bool:
    return subprocess.run([*PODMAN, "container", "exists", name], timeout=30).returncode == 0


async def test_the_pod_runs_as_10001_on_a_read_only_root_with_its_parameters_from_the_secret(tmp_path):
    built(SAMPLES_IMAGE)
    pod, secret = job_pod("hello", {"name": "secret-name-3f9a"})
    pod["spec"]["containers"][0]["command"] = ["sh", "-c", (
        'echo "uid=$(id -u) groups=$(id -G)"; touch /probe 2>&1; touch /tmp/probe && echo "tmp writable"; '
        'echo "params=$(cat "$CRAFT_JOB_PARAMETERS_FILE")"; echo "tmp on $(stat -c %u:%a /tmp)"')]
    argv, env, cwd, _ = await prepared(pod, secret, tmp_path)
    # The parameters reach the container only through the Secret volume.
    assert not any("secret-name-3f9a" in part for part in argv)
    code = await run(argv, env, cwd, tmp_path / "log")
    out = (tmp_path / "log").read_text()
    assert code == 0, out
    assert "uid=10001 groups=10001" in out
    assert "touch: cannot touch '/probe': Read-only file system" in out
    assert "tmp writable" in out
    assert 'params={"name":"secret-name-3f9a"}' in out


async def test_a_failing_job_writes_its_termination_message_and_exits_3(tmp_path):
    built(SAMPLES_IMAGE)
    pod, secret = job_pod("always-fails", {"reason": "checksum mismatch in part 2"})
    argv, env, cwd, _ = await prepared(pod, secret, tmp_path)
    code = await run(argv, env, cwd, tmp_path / "log")
    assert code == 3, (tmp_path / "log").read_text()
    message = json.loads((tmp_path / "pod" / "termination-log").read_text())
    assert message["message"] == "checksum mismatch in part 2"
    assert message["type"] == "craft_jobs_runner.errors.NonRetryableError"


async def test_sigterm_to_the_process_group_cancels_the_job_which_exits_143(tmp_path):
    built(SAMPLES_IMAGE)
    pod, secret = job_pod("slow", {"seconds": 60})
    argv, env, cwd, cleanup = await prepared(pod, secret, tmp_path)
    started = time.monotonic()
    code = await run(argv, env, cwd, tmp_path / "log", until="job started", then=signal.SIGTERM)
    out = (tmp_path / "log").read_text()
    assert code == 143, out
    assert "received SIGTERM: cancelling the job" in out
    assert time.monotonic() - started < 30
    # --rm: gone with the process.
    assert not container_exists(container_name(pod, pod["spec"]["containers"][0]))


async def test_after_a_sigkill_the_cleanup_removes_the_container(tmp_path):
    built(SAMPLES_IMAGE)
    pod, secret = job_pod("slow", {"seconds": 60})
    argv, env, cwd, cleanup = await prepared(pod, secret, tmp_path)
    code = await run(argv, env, cwd, tmp_path / "log", until="job started", then=signal.SIGKILL)
    assert code == -signal.SIGKILL
    subprocess.run(cleanup, check=True, capture_output=True, timeout=60)
    assert not container_exists(container_name(pod, pod["spec"]["containers"][0]))


async def test_the_secret_files_get_the_pods_fs_group(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the node agent sets group ownership only as root")
    pod, secret = job_pod("hello", {})
    agent = NodeAgent(SecretsOnly(secret), "node-a", tmp_path)
    volumes = await agent._volumes("team-a", pod["spec"], tmp_path)
    stat = (volumes["parameters"] / "parameters.json").stat()
    assert (stat.st_gid, stat.st_mode & 0o777) == (10001, 0o440)
    assert volumes["tmp"].stat().st_mode & 0o777 == 0o777


# -- the podman flags, from the pod spec (no podman needed) ---------------------------------

def flags_of(pod: dict[str, Any], image_user: str = "10001:10001", mounts=()) -> list[str]:
    return podman_command(SAMPLES_IMAGE, pod, pod["spec"]["containers"][0], {"CRAFT_JOB_ID": "7"}, list(mounts),
                          image_user=image_user)


def test_the_restricted_pod_becomes_these_podman_flags():
    pod, _ = job_pod("hello", {})
    argv = flags_of(pod, mounts=[("/agent/tl", "/dev/termination-log"), ("/agent/p", "/var/run/craft-jobs/parameters"),
                                 ("/agent/tmp", "/tmp")])
    joined = " ".join(argv)
    for expected in ("run --rm --pull never", "--network none", "--user 10001:10001", "--group-add 10001",
                     "--cap-drop ALL", "--security-opt no-new-privileges", "--read-only --read-only-tmpfs=false",
                     "-v /agent/tl:/dev/termination-log:rw", "-v /agent/p:/var/run/craft-jobs/parameters:ro",
                     "-v /agent/tmp:/tmp:rw", "--env CRAFT_JOB_ID=7",
                     f"--name {container_name(pod, pod['spec']['containers'][0])}"):
        assert expected in joined
    # No --entrypoint: the image's own runs.
    assert "--entrypoint" not in argv
    assert argv[-1] == SAMPLES_IMAGE


def test_a_pod_given_an_api_to_reach_gets_the_hosts_network():
    pod, _ = job_pod("hello", {})
    argv = podman_command(SAMPLES_IMAGE, pod, pod["spec"]["containers"][0],
                          {"CRAFT_JOB_API_URL": "http://127.0.0.1:8080"}, [], image_user="10001:10001")
    assert "--network host" in " ".join(argv)


def test_command_and_args_replace_the_entry_point_and_cmd():
    pod, _ = job_pod("hello", {})
    container = pod["spec"]["containers"][0]
    container["command"], container["args"] = ["python", "-c"], ["print(1)"]
    argv = flags_of(pod)
    assert argv[argv.index("--entrypoint") + 1] == '["python", "-c"]'
    assert argv[-2:] == [SAMPLES_IMAGE, "print(1)"]


@pytest.mark.parametrize("container_context, image_user, message", [
    ({"runAsUser": 0}, "10001:10001", "container's runAsUser breaks non-root policy"),
    ({}, "", "container has runAsNonRoot and image will run as root"),
    ({}, "craft", "container has runAsNonRoot and image has non-numeric user (craft)"),
])
def test_run_as_non_root_is_verified_as_a_kubelet_does(container_context, image_user, message):
    pod, _ = job_pod("hello", {})
    if not container_context:  # the user then comes from the image
        for key in ("runAsUser", "runAsGroup"):
            pod["spec"]["securityContext"].pop(key)
    pod["spec"]["containers"][0]["securityContext"].update(container_context)
    with pytest.raises(ContainerConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        flags_of(pod, image_user=image_user)

