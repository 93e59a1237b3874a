"""A Job-controller (and kubelet) simulator over `ClusterEmulator`.

Each batch/v1 Job created in the emulator becomes pods run as local
processes: the container's command (or its image's entry point, by default
`python -m craft_jobs_runner`) with the container's environment, Secret
volumes materialised as files, and `/dev/termination-log` mapped to a file.
It honours `suspend`, `backoffLimit`, `podFailurePolicy` (FailJob / Ignore / Count on
exit codes and pod conditions), `activeDeadlineSeconds` and
`terminationGracePeriodSeconds`, writes Pod and Job status back the way the
real controllers do (conditions Complete / Failed with reasons
BackoffLimitExceeded, DeadlineExceeded, PodFailurePolicy), and stops a pod's
process when its pod or Job is deleted.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.kube.emulator import JOBS, PODS, SECRETS, ClusterEmulator, now_rfc3339

DEFAULT_ENTRYPOINT = (sys.executable, "-m", "craft_jobs_runner")
TEST_JOB_MODULES = "craft_jobs.samples.jobs,tests.support.kube.jobs"
LOG_TAIL_BYTES = 2048


@dataclass(frozen=True)
class Image:
    """What an image would bring: its entry point and its ENV lines."""

    entrypoint: tuple[str, ...] = DEFAULT_ENTRYPOINT
    env: dict[str, str] = field(default_factory=lambda: {"CRAFT_JOB_MODULES": TEST_JOB_MODULES})


@dataclass
class PodRun:
    namespace: str
    name: str
    process: asyncio.subprocess.Process | None = None
    deleted: asyncio.Event = field(default_factory=asyncio.Event)
    disrupted: bool = False


class JobController:
    """Runs every created Job; `await controller.start()`, `await controller.stop()`."""

    def __init__(self, emulator: ClusterEmulator, images: dict[str, Image] | None = None,
                 default_image: Image | None = None, volume_wait_seconds: float = 30, instant: bool = False):
        self.emulator = emulator
        # instant: no pods, no processes; a Job completes once its Secret exists (benchmarks).
        self.instant = instant
        self.images = images or {}
        self.default_image = default_image or Image()
        self.volume_wait_seconds = volume_wait_seconds
        self.workdir = Path(tempfile.mkdtemp(prefix="craft-jobs-kubelet-"))
        self.pods: dict[tuple[str, str], PodRun] = {}
        self.started_jobs: list[tuple[str, str]] = []
        self._jobs: asyncio.Queue = asyncio.Queue()
        self._tasks: set[asyncio.Task] = set()
        self._loop_task: asyncio.Task | None = None

    # -- wiring -----------------------------------------------------------------------

    def _on_change(self, kind: str, resource, raw: dict[str, Any]) -> None:
        meta = raw.get("metadata", {})
        if resource == JOBS and kind == "ADDED":
            self._jobs.put_nowait((meta.get("namespace"), meta["name"]))
        elif resource == PODS and kind == "DELETED":
            run = self.pods.get((meta.get("namespace"), meta["name"]))
            if run is not None:
                run.deleted.set()

    async def start(self) -> None:
        self.emulator.listeners.append(self._on_change)
        self._loop_task = asyncio.create_task(self._loop(), name="job-controller")

    async def stop(self) -> None:
        if self._on_change in self.emulator.listeners:
            self.emulator.listeners.remove(self._on_change)
        for run in self.pods.values():
            run.deleted.set()
        tasks = [t for t in (self._loop_task, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        shutil.rmtree(self.workdir, ignore_errors=True)

    async def _loop(self) -> None:
        while True:
            namespace, name = await self._jobs.get()
            self.started_jobs.append((namespace, name))
            task = asyncio.create_task(self._run_job(namespace, name), name=f"job-{namespace}-{name}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def disrupt(self, namespace: str, job_name: str) -> bool:
        """Evict the running pod of a Job (a node drain): DisruptionTarget, SIGTERM."""
        for run in self.pods.values():
            if run.namespace == namespace and run.name.startswith(f"{job_name}-") and run.process and run.process.returncode is None:
                run.disrupted = True
                run.deleted.set()
                return True
        return False

    # -- one Job ------------------------------------------------------------------------

    async def _resumed(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Job once it is not suspended (the operator resumes it after its Secret); None if it went away."""
        while True:
            job = self.emulator.get(JOBS, namespace, name)
            if job is None or not job.get("spec", {}).get("suspend"):
                return job
            await asyncio.sleep(0.01)

    async def _run_job(self, namespace: str, name: str) -> None:
        job = await self._resumed(namespace, name)
        if job is None:
            return
        spec = job.get("spec", {})
        if self.instant:
            await self._complete_instantly(namespace, name, spec)
            return
        backoff_limit = int(spec.get("backoffLimit", 6))
        deadline_seconds = spec.get("activeDeadlineSeconds")
        loop = asyncio.get_running_loop()
        started = loop.time()
        await self.emulator.patch(JOBS, namespace, name, {"status": {"startTime": now_rfc3339(), "active": 1}})
        failed = 0
        while True:
            remaining = None if deadline_seconds is None else deadline_seconds - (loop.time() - started)
            if remaining is not None and remaining <= 0:
                await self._finish_job(namespace, name, False, "DeadlineExceeded", "Job was active longer than specified deadline", failed)
                return
            outcome = await self._run_pod(job, remaining)
            if outcome is None:  # the Job (and its pods) went away
                return
            exit_code, conditions, deadline_hit = outcome
            if deadline_hit:
                await self._finish_job(namespace, name, False, "DeadlineExceeded", "Job was active longer than specified deadline", failed + 1)
                return
            if exit_code == 0:
                await self._finish_job(namespace, name, True, "Completed", "Reached expected number of succeeded pods", failed, succeeded=1)
                return
            action, rule_index = _failure_action(spec.get("podFailurePolicy"), exit_code, conditions)
            if action == "Ignore":
                continue
            failed += 1
            if action == "FailJob":
                await self._finish_job(
                    namespace, name, False, "PodFailurePolicy",
                    f"Container job for pod {namespace}/{name} failed with exit code {exit_code} matching FailJob rule at index {rule_index}",
                    failed,
                )
                return
            if failed > backoff_limit:
                await self._finish_job(namespace, name, False, "BackoffLimitExceeded", "Job has reached the specified backoff limit", failed)
                return
            await self.emulator.patch(JOBS, namespace, name, {"status": {"failed": failed}})

    async def _complete_instantly(self, namespace: str, name: str, spec: dict[str, Any]) -> None:
        volumes = spec.get("template", {}).get("spec", {}).get("volumes") or ()
        secrets = [v["secret"]["secretName"] for v in volumes if "secret" in v]
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.volume_wait_seconds
        while any(self.emulator.get(SECRETS, namespace, s) is None for s in secrets):
            if loop.time() > give_up or self.emulator.get(JOBS, namespace, name) is None:
                return
            await asyncio.sleep(0.02)
        await self.emulator.patch(JOBS, namespace, name, {"status": {"startTime": now_rfc3339()}})
        await self._finish_job(namespace, name, True, "Completed", "Reached expected number of succeeded pods", 0, succeeded=1)

    async def _finish_job(self, namespace: str, name: str, ok: bool, reason: str, message: str, failed: int, succeeded: int = 0) -> None:
        now = now_rfc3339()
        kinds = ("SuccessCriteriaMet", "Complete") if ok else ("FailureTarget", "Failed")
        conditions = [
            {"type": kind, "status": "True", "reason": reason, "message": message,
             "lastProbeTime": now, "lastTransitionTime": now}
            for kind in kinds
        ]
        status: dict[str, Any] = {"active": None, "ready": None, "failed": failed or None, "succeeded": succeeded or None,
                                  "conditions": conditions}
        if ok:
            status["completionTime"] = now
        await self.emulator.patch(JOBS, namespace, name, {"status": status})

    async def _run_pod(self, job: dict[str, Any], deadline: float | None):
        """Runs one pod; None when the Job vanished, else (exit code, pod conditions, deadline hit)."""
        meta = job["metadata"]
        namespace, job_name = meta["namespace"], meta["name"]
        template = job["spec"]["template"]
        pod_name = f"{job_name}-{uuid.uuid4().hex[:5]}"
        labels = {**(template.get("metadata", {}).get("labels") or {}),
                  "job-name": job_name, "batch.kubernetes.io/job-name": job_name,
                  "controller-uid": meta["uid"], "batch.kubernetes.io/controller-uid": meta["uid"]}
        pod = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": pod_name, "namespace": namespace, "labels": labels,
                "annotations": dict(template.get("metadata", {}).get("annotations") or {}),
                "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": job_name, "uid": meta["uid"],
                                     "controller": True, "blockOwnerDeletion": True}],
            },
            "spec": template["spec"],
            "status": {"phase": "Pending"},
        }
        await self.emulator.create(PODS, pod)
        run = PodRun(namespace, pod_name)
        self.pods[namespace, pod_name] = run
        pod_dir = self.workdir / f"{namespace}-{pod_name}"
        try:
            return await self._execute(job, pod, run, pod_dir, deadline)
        finally:
            self.pods.pop((namespace, pod_name), None)
            shutil.rmtree(pod_dir, ignore_errors=True)

    async def _execute(self, job, pod, run: PodRun, pod_dir: Path, deadline: float | None):
        namespace, pod_name = run.namespace, run.name
        spec = pod["spec"]
        container = spec["containers"][0]
        loop = asyncio.get_running_loop()
        started = loop.time()
        # The kubelet retries mounting until the Secret exists (the operator creates it after the Job).
        mounts = await self._mount_volumes(namespace, spec, container, pod_dir, run, deadline)
        if mounts is None:
            return None if run.deleted.is_set() else (None, [], True)
        env = await self._environment(namespace, container, mounts, pod_dir)
        image = self.images.get(container.get("image"), self.default_image)
        command = list(container.get("command") or image.entrypoint) + list(container.get("args") or ())
        log_path = pod_dir / "log"
        with log_path.open("wb") as log:
            run.process = await asyncio.create_subprocess_exec(
                *command, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
                cwd=str(pod_dir), start_new_session=True,
            )
        # As the Job controller does: a pod whose container runs counts as ready.
        await self.emulator.patch(JOBS, namespace, job["metadata"]["name"], {"status": {"ready": 1}})
        await self.emulator.patch(PODS, namespace, pod_name, {"status": {
            "phase": "Running", "startTime": now_rfc3339(),
            "containerStatuses": [{"name": container["name"], "ready": True, "restartCount": 0,
                                   "state": {"running": {"startedAt": now_rfc3339()}}}],
        }})
        waiting = asyncio.ensure_future(run.process.wait())
        deleted = asyncio.ensure_future(run.deleted.wait())
        remaining = None if deadline is None else max(0.0, deadline - (loop.time() - started))
        done, _ = await asyncio.wait({waiting, deleted}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
        deadline_hit = not done
        if waiting not in done:
            await self._terminate(run.process, waiting, int(spec.get("terminationGracePeriodSeconds", 30)))
        deleted.cancel()
        code = run.process.returncode
        exit_code = 128 - code if code < 0 else code
        message = _termination_message(pod_dir / "termination-log", log_path, exit_code,
                                       container.get("terminationMessagePolicy", "File"))
        conditions = []
        if run.disrupted:
            conditions.append({"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI",
                               "message": "Eviction API: evicting", "lastTransitionTime": now_rfc3339()})
        if run.deleted.is_set() and not run.disrupted:
            return None  # the pod (with its Job) is gone: nothing to report
        terminated = {"exitCode": exit_code, "reason": "Completed" if exit_code == 0 else "Error",
                      "startedAt": now_rfc3339(), "finishedAt": now_rfc3339()}
        if message:
            terminated["message"] = message
        await self.emulator.patch(PODS, namespace, pod_name, {"status": {
            "phase": "Succeeded" if exit_code == 0 else "Failed",
            "conditions": conditions or None,
            "containerStatuses": [{"name": container["name"], "ready": False, "restartCount": 0,
                                   "state": {"terminated": terminated}}],
        }})
        return exit_code, conditions, deadline_hit

    async def _mount_volumes(self, namespace, spec, container, pod_dir: Path, run: PodRun, deadline):
        pod_dir.mkdir(parents=True)
        (pod_dir / "tmp").mkdir()
        volumes: dict[str, Path] = {}
        loop = asyncio.get_running_loop()
        give_up = loop.time() + min(self.volume_wait_seconds, deadline if deadline is not None else self.volume_wait_seconds)
        for volume in spec.get("volumes") or ():
            target = pod_dir / "volumes" / volume["name"]
            target.mkdir(parents=True)
            volumes[volume["name"]] = target
            if "secret" not in volume:
                continue
            secret_name = volume["secret"]["secretName"]
            while True:
                secret = self.emulator.get(SECRETS, namespace, secret_name)
                if secret is not None:
                    break
                if run.deleted.is_set() or loop.time() > give_up:
                    return None
                await asyncio.sleep(0.02)
            for key, value in (secret.get("data") or {}).items():
                (target / key).write_bytes(base64.b64decode(value))
            for key, value in (secret.get("stringData") or {}).items():
                (target / key).write_text(value)
        mounts = {}
        for mount in container.get("volumeMounts") or ():
            mounts[mount["mountPath"]] = volumes.get(mount["name"], pod_dir / "tmp")
        return mounts

    async def _environment(self, namespace, container, mounts: dict[str, Path], pod_dir: Path) -> dict[str, str]:
        image = self.images.get(container.get("image"), self.default_image)
        env = dict(image.env)
        for source in container.get("envFrom") or ():
            secret = self.emulator.get(SECRETS, namespace, source["secretRef"]["name"]) or {}
            for key, value in (secret.get("data") or {}).items():
                env[key] = base64.b64decode(value).decode()
        for entry in container.get("env") or ():
            if "valueFrom" in entry:
                ref = entry["valueFrom"]["secretKeyRef"]
                secret = self.emulator.get(SECRETS, namespace, ref["name"]) or {}
                encoded = (secret.get("data") or {}).get(ref["key"])
                if encoded is not None:
                    env[entry["name"]] = base64.b64decode(encoded).decode()
            else:
                env[entry["name"]] = entry.get("value", "")
        # Paths inside the container map to the pod's folder on this machine.
        for name, value in list(env.items()):
            for mount_path, local in mounts.items():
                if value.startswith(mount_path + "/") or value == mount_path:
                    env[name] = str(local) + value[len(mount_path):]
        # What this machine needs to run the image's entry point; added after the
        # mapping above, which must not touch this machine's own paths (a checkout under /tmp).
        env.update({
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
            "HOME": str(pod_dir),
            "TMPDIR": str(mounts.get("/tmp", pod_dir / "tmp")),
            "CRAFT_LOG_FORMAT": "text",
            "CRAFT_TERMINATION_MESSAGE_PATH": str(pod_dir / "termination-log"),
        })
        return env

    @staticmethod
    async def _terminate(process, waiting, grace: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(waiting), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await waiting


def _termination_message(path: Path, log_path: Path, exit_code: int, policy: str) -> str:
    text = path.read_text(errors="replace")[:4096] if path.exists() else ""
    if not text and exit_code != 0 and policy == "FallbackToLogsOnError" and log_path.exists():
        text = log_path.read_bytes()[-LOG_TAIL_BYTES:].decode(errors="replace")
    return text


def _failure_action(policy: dict[str, Any] | None, exit_code: int | None, conditions: list[dict[str, Any]]):
    """The first matching podFailurePolicy rule's action (FailJob, Ignore, Count), else Count."""
    for index, rule in enumerate((policy or {}).get("rules") or ()):
        on_codes = rule.get("onExitCodes")
        if on_codes and exit_code is not None:
            inside = exit_code in on_codes.get("values", ())
            if (on_codes.get("operator") == "In") == inside:
                return rule["action"], index
        for wanted in rule.get("onPodConditions") or ():
            if any(c.get("type") == wanted["type"] and c.get("status") == wanted.get("status", "True") for c in conditions):
                return rule["action"], index
    return "Count", None
