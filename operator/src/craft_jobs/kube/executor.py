"""KubernetesExecutor: each run of a job is a batch/v1 Job.

`run` creates the Job (AlreadyExists counts as success: the run's Job name is
deterministic), then its parameters Secret owned by the Job, and waits for
the Job to finish. One watch over all Craft Jobs Jobs (label selector)
serves every run; a run that hears nothing for a while re-reads its Job, so
a lost watch event costs latency, never correctness.

How a Job ends becomes an ExecutionResult:
- condition Complete -> exit 0;
- condition Failed -> the pod's exit code and its termination message
  ({type, message, stack} written by the runner) as the error;
  reason DeadlineExceeded -> a timeout (retryable, as LocalExecutor's);
- the Job vanished before it finished (deleted behind our back) -> a failure
  without exit code and an error saying so;
- `cancel` set -> the Job is deleted (propagation Background: its pod gets
  SIGTERM) and the result carries exit code 143. When the operator itself is
  stopping (`detach()`), the Job is left running instead: the next operator
  adopts it, so a restart neither kills nor repeats the work.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from craft_jobs_runner import EXIT_CANCELLED, EXIT_NON_RETRYABLE

from craft_jobs.engine.executor import ExecutionResult
from craft_jobs.errors import ValidationError
from craft_jobs.kube.api import KubeApi, KubeApiError
from craft_jobs.kube.history import prune_recurring_history
from craft_jobs.kube.manifest import (
    CONTAINER_NAME,
    LABEL_JOB_ID,
    LABEL_MANAGED_BY,
    LABEL_RUN,
    MANAGED_BY,
    ManifestSettings,
    build_job_manifest,
    secret_owned_by,
)
from craft_jobs.store.models import ClaimedJob

log = logging.getLogger(__name__)

SELECTOR = f"{LABEL_MANAGED_BY}={MANAGED_BY}"
_API_RETRY_DELAYS = (0.2, 0.5, 1, 2, 5)


@dataclass
class _Waiter:
    latest: dict[str, Any] | None = None
    deleted: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)


def job_finished(job: dict[str, Any]) -> tuple[bool, str, str] | None:
    """(succeeded, reason, message) once the Job has a final condition, else None."""
    for condition in (job.get("status") or {}).get("conditions") or ():
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            return True, condition.get("reason") or "Completed", condition.get("message") or ""
        if condition.get("type") == "Failed":
            return False, condition.get("reason") or "Failed", condition.get("message") or ""
    return None


def termination_error(pod: dict[str, Any] | None) -> tuple[int | None, dict[str, Any] | None]:
    """The job container's exit code and termination message of a finished pod."""
    if pod is None:
        return None, None
    for status in (pod.get("status") or {}).get("containerStatuses") or ():
        if status.get("name") != CONTAINER_NAME:
            continue
        terminated = (status.get("state") or {}).get("terminated") or (status.get("lastState") or {}).get("terminated")
        if not terminated:
            return None, None
        code = terminated.get("exitCode")
        text = terminated.get("message") or ""
        error: dict[str, Any] | None = None
        if text:
            try:
                parsed = json.loads(text)
                if isinstance(parsed, dict) and "message" in parsed:
                    error = {"type": str(parsed.get("type", "")), "message": str(parsed.get("message", "")),
                             "stack": str(parsed.get("stack", ""))}
            except ValueError:
                pass
            if error is None:  # FallbackToLogsOnError: the log's tail
                error = {"type": terminated.get("reason") or "Error", "message": text[-1000:], "stack": text}
        return code, error
    return None, None


class KubernetesExecutor:
    name = "kubernetes"

    def __init__(self, api: KubeApi, settings: ManifestSettings, *, namespaces: list[str] | None = None,
                 recheck_seconds: float = 30.0):
        self.api = api
        self.settings = settings
        self.namespaces = namespaces or None
        self.recheck_seconds = recheck_seconds
        self._waiters: dict[tuple[str, str], _Waiter] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._watch_thread: threading.Thread | None = None
        self._detached = False

    # -- the shared watch ----------------------------------------------------------------

    def _ensure_watch(self) -> None:
        if self._watch_thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._watch_thread = threading.Thread(
            target=self.api.watch_jobs, args=(SELECTOR, self.namespaces, self._from_thread, self._stop),
            daemon=True, name="craft-job-watch",
        )
        self._watch_thread.start()

    def _from_thread(self, kind: str, obj: dict[str, Any]) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._on_event, kind, obj)
            except RuntimeError:  # the loop closed meanwhile
                pass

    def _on_event(self, kind: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        waiter = self._waiters.get((meta.get("namespace"), meta.get("name")))
        if waiter is None:
            return
        if kind == "DELETED":
            waiter.deleted = True
        else:
            waiter.latest = obj
        waiter.changed.set()

    def detach(self) -> None:
        """The operator is stopping: from now on a cancelled run leaves its Job running."""
        self._detached = True

    # -- one run --------------------------------------------------------------------------

    async def run(self, job: ClaimedJob, cancel: asyncio.Event) -> ExecutionResult:
        try:
            manifest, secret = build_job_manifest(job, self.settings)
        except ValidationError as exc:
            return ExecutionResult(EXIT_NON_RETRYABLE, {"type": "InvalidJob", "message": f"{exc.field}: {exc.reason}", "stack": ""})
        namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
        self._ensure_watch()
        adopted = await self._adoptable(job, namespace) if job.runs > 1 else None
        if adopted is not None:
            namespace, name = adopted["metadata"]["namespace"], adopted["metadata"]["name"]
            log.info("job %s: adopting %s/%s left running by a stopped operator", job.id, namespace, name)
        ref = f"{namespace}/{name}"
        waiter = _Waiter()
        self._waiters[namespace, name] = waiter
        try:
            if adopted is None:
                created = await self._create(namespace, name, manifest, secret, cancel)
                if isinstance(created, ExecutionResult):
                    return created
                waiter.latest = waiter.latest or created
            else:
                waiter.latest = adopted
            result = await self._wait(job, namespace, name, ref, waiter, cancel)
        finally:
            self._waiters.pop((namespace, name), None)
        if job.recurring_id and job.cr_namespace and result.exit_code != EXIT_CANCELLED:
            await prune_recurring_history(self.api, namespace, job.recurring_id, job_finished)
        return result

    async def _adoptable(self, job: ClaimedJob, namespace: str) -> dict[str, Any] | None:
        """An unfinished Job of an earlier run of this job (its operator stopped), if any."""
        try:
            jobs = await self.api.list_jobs(namespace, f"{SELECTOR},{LABEL_JOB_ID}={job.id}")
        except KubeApiError as exc:
            log.warning("job %s: cannot look for earlier Jobs: %s", job.id, exc)
            return None
        running = [j for j in jobs if job_finished(j) is None and not (j.get("metadata") or {}).get("deletionTimestamp")
                   and int((j.get("metadata") or {}).get("labels", {}).get(LABEL_RUN, "0")) < job.runs]
        return max(running, key=lambda j: int(j["metadata"]["labels"][LABEL_RUN]), default=None)

    async def _create(self, namespace, name, manifest, secret, cancel) -> dict[str, Any] | ExecutionResult:
        for attempt, delay in enumerate((*_API_RETRY_DELAYS, None)):
            try:
                try:
                    created = await self.api.create_job(namespace, manifest)
                except KubeApiError as exc:
                    if not exc.conflict:
                        raise
                    created = await self.api.get_job(namespace, name)  # AlreadyExists is success
                    if created is None:
                        raise
                try:
                    await self.api.create_secret(namespace, secret_owned_by(secret, created))
                except KubeApiError as exc:
                    if not exc.conflict:
                        raise
                return created
            except KubeApiError as exc:
                permanent = exc.status in (400, 403, 404, 422)
                if permanent or delay is None or cancel.is_set():
                    log.warning("cannot create Job %s/%s: %s", namespace, name, exc)
                    code = EXIT_NON_RETRYABLE if exc.status in (400, 422) else None
                    return ExecutionResult(code, {"type": "JobCreateFailed", "message": f"cannot create the Kubernetes Job {namespace}/{name}: {exc}", "stack": ""}, f"{namespace}/{name}")
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _wait(self, job: ClaimedJob, namespace: str, name: str, ref: str, waiter: _Waiter,
                    cancel: asyncio.Event) -> ExecutionResult:
        cancelled = asyncio.ensure_future(cancel.wait())
        try:
            while True:
                if waiter.deleted:
                    return ExecutionResult(None, {
                        "type": "JobDeleted",
                        "message": f"the Kubernetes Job {ref} was deleted before it finished",
                        "stack": ""}, ref)
                finished = job_finished(waiter.latest) if waiter.latest else None
                if finished is not None:
                    return await self._result(job, namespace, name, ref, finished)
                if cancel.is_set():
                    return await self._cancel(namespace, name, ref)
                waiter.changed.clear()
                changed = asyncio.ensure_future(waiter.changed.wait())
                done, _ = await asyncio.wait({changed, cancelled}, timeout=self.recheck_seconds,
                                             return_when=asyncio.FIRST_COMPLETED)
                changed.cancel()
                if not done:  # quiet for a while: read the Job itself
                    try:
                        current = await self.api.get_job(namespace, name)
                    except KubeApiError as exc:
                        log.warning("cannot read Job %s: %s", ref, exc)
                        continue
                    if current is None:
                        waiter.deleted = True
                    else:
                        waiter.latest = current
        finally:
            cancelled.cancel()

    async def _cancel(self, namespace: str, name: str, ref: str) -> ExecutionResult:
        if self._detached:
            return ExecutionResult(EXIT_CANCELLED, {"type": "Cancelled", "message": f"the operator stopped; {ref} keeps running and will be adopted", "stack": ""}, ref)
        try:
            await self.api.delete_job(namespace, name)
        except KubeApiError as exc:
            log.warning("cannot delete Job %s: %s", ref, exc)
        return ExecutionResult(EXIT_CANCELLED, {"type": "Cancelled", "message": f"the run was stopped: Job {ref} deleted", "stack": ""}, ref)

    async def _result(self, job: ClaimedJob, namespace: str, name: str, ref: str,
                      finished: tuple[bool, str, str]) -> ExecutionResult:
        succeeded, reason, message = finished
        if succeeded:
            return ExecutionResult(0, None, ref)
        exit_code, error = None, None
        try:
            pods = await self.api.list_pods(namespace, f"batch.kubernetes.io/job-name={name}")
            if not pods:
                pods = await self.api.list_pods(namespace, f"job-name={name}")
            pods.sort(key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or "")
            for pod in reversed(pods):
                exit_code, error = termination_error(pod)
                if exit_code is not None:
                    break
        except KubeApiError as exc:
            log.warning("cannot read the pods of Job %s: %s", ref, exc)
        if reason == "DeadlineExceeded":
            timeout = job.timeout_seconds
            return ExecutionResult(exit_code, {
                "type": "Timeout", "message": f"the run exceeded its timeout of {timeout} s (activeDeadlineSeconds)",
                "stack": (error or {}).get("stack", "")}, ref, timed_out=True)
        if error is None:
            error = {"type": reason, "message": message or f"the Kubernetes Job {ref} failed", "stack": ""}
        return ExecutionResult(exit_code, error, ref)

    async def close(self) -> None:
        self._stop.set()
        self.api.interrupt_watches()
        if self._watch_thread is not None:
            await asyncio.to_thread(self._watch_thread.join, 5)
            self._watch_thread = None
