"""KubernetesExecutor: each run of a job is a batch/v1 Job.

`run` creates the Job suspended, then its parameters Secret owned by the
Job, then resumes it, and waits for the Job to finish. One watch over all
Craft Jobs Jobs (label selector) serves every run; a run that hears nothing
for a while re-reads its Job, so a lost watch event costs latency, never
correctness.

At most one execution per run, whatever restarts:
- a Job or Secret counts as ours only with this installation's proof
  (manifest.proves_run); a taken name fails the run with a clear reason, and
  a run never starts with parameters it did not write;
- a run that follows one whose operator stopped (rescued, or requeued on
  shutdown) first looks for that run's Job: still running -> adopted;
  finished -> its outcome is taken, the work is not done again; suspended
  (the operator died between Job and Secret) -> removed, and the run starts
  anew;
- Jobs carry no `ttlSecondsAfterFinished` until their outcome is recorded
  (the reaper sets it), so Kubernetes never removes an unread outcome.

How a Job ends becomes an ExecutionResult:
- condition Complete -> exit 0;
- condition Failed -> the pod's exit code and its termination message
  ({type, message, stack} written by the runner) as the error;
  reason DeadlineExceeded -> a timeout (retryable, as LocalExecutor's);
- `timeoutSeconds` counts from the container's start: the executor removes
  a Job still running then and reports a timeout (activeDeadlineSeconds,
  which Kubernetes counts from the Job's start, is only a backstop that
  leaves room for the start);
- no container started within `start_timeout_seconds` (an image that cannot
  be pulled, an unschedulable pod, a missing Secret, admission refusing the
  pod) -> a retryable failure naming the pod's reason; the Job is removed;
  until then the reason is told as soon as the pod gives one (`_notice_waiting`);
- the Job vanished before it finished: when its resource was deleted, the
  run waits for the cancel that the deletion brings; else a failure without
  exit code and an error saying so;
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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

from craft_jobs_runner import EXIT_CANCELLED, EXIT_NON_RETRYABLE

from craft_jobs.engine.executor import ExecutionResult
from craft_jobs.errors import ValidationError
from craft_jobs.kube.api import KubeApi, KubeApiError
from craft_jobs.kube.events import post_event
from craft_jobs.kube.evictions import FAILED_PODS, disruption_of, eviction_reason, owning_job
from craft_jobs.kube.history import prune_recurring_history
from craft_jobs.kube.manifest import (
    CONTAINER_NAME,
    LABEL_JOB_ID,
    LABEL_MANAGED_BY,
    LABEL_RUN,
    MANAGED_BY,
    ManifestSettings,
    build_job_manifest,
    job_namespace,
    owner_of,
    proves_run,
    secret_owned_by,
)
from craft_jobs.store.models import ClaimedJob

log = logging.getLogger(__name__)

SELECTOR = f"{LABEL_MANAGED_BY}={MANAGED_BY}"
# How long after its Job's creation a pod that has not started is first looked at,
# so that a wrong image or a missing Secret shows long before the start deadline.
WAITING_NOTICE_SECONDS = 10.0
# What a pod says on its way to starting: no reason to tell anyone.
STARTING = frozenset({"ContainerCreating", "PodInitializing"})
# The start deadline's verdict when the API did not answer: none yet.
UNANSWERED = object()
# After the API was away at the start deadline, how long its pods' statuses may lag
# behind (a kubelet reports a pod's status again at least every 10 s).
STATUS_CATCH_UP_SECONDS = 15.0
_API_RETRY_DELAYS = (0.2, 0.5, 1, 2, 5)


@dataclass(eq=False)  # each run's own: found by identity
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


class RunStore(Protocol):
    """What the executor asks the store (KubeStore)."""

    async def recorded_runs(self, runs: list[tuple[int, str]]) -> set[tuple[int, str]]: ...

    async def set_job_ref(self, job_id: int, ref: str) -> None: ...

    async def record_eviction(self, job_id: int, pod: str, reason: str, ref: str) -> None: ...

    async def record_waiting_pod(self, job_id: int, waiting: str, reason: str, ref: str) -> None: ...


class KubernetesExecutor:
    name = "kubernetes"

    def __init__(self, api: KubeApi, settings: ManifestSettings, *, namespaces: list[str] | None = None,
                 recheck_seconds: float = 30.0, store: RunStore | None = None,
                 start_timeout_seconds: float = 600.0, reap_seconds: float = 2.0,
                 owner_gone_wait_seconds: float = 30.0):
        self.api = api
        self.settings = settings
        self.namespaces = namespaces or None
        self.recheck_seconds = recheck_seconds
        self.store = store
        self.start_timeout_seconds = start_timeout_seconds
        self.reap_seconds = reap_seconds
        self.owner_gone_wait_seconds = owner_gone_wait_seconds
        # Runs waiting on each Job: more than one when a rescued run still waits on the
        # Job that the job's next run adopted.
        self._waiters: dict[tuple[str, str], list[_Waiter]] = {}
        # Finished Jobs of ours without a TTL yet: (namespace, name) -> job id.
        self._unreaped: dict[tuple[str, str], int] = {}
        self._reaper: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._watch_thread: threading.Thread | None = None
        self._pod_watch_thread: threading.Thread | None = None
        # Evicted pods seen by the pod watch: (namespace, Job name) -> {pod name: (Job uid, reason)}.
        self._evictions: dict[tuple[str, str], dict[str, tuple[str, str]]] = {}
        self._detached = False

    # -- the shared watch ----------------------------------------------------------------

    async def start(self) -> None:
        """Watch (and reap) from the start, not only from the first run: Jobs that
        finished while no operator ran get their TTL once their outcome is recorded."""
        self._ensure_watch()

    def _ensure_watch(self) -> None:
        if self._watch_thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._watch_thread = threading.Thread(
            target=self.api.watch_jobs, args=(SELECTOR, self.namespaces, self._from_thread, self._stop),
            daemon=True, name="craft-job-watch",
        )
        self._watch_thread.start()
        self._pod_watch_thread = threading.Thread(
            target=self.api.watch_pods, args=(SELECTOR, FAILED_PODS, self.namespaces, self._pod_from_thread, self._stop),
            daemon=True, name="craft-pod-watch",
        )
        self._pod_watch_thread.start()
        if self.store is not None:
            self._reaper = asyncio.create_task(self._reap_loop(), name="craft-job-reaper")

    def _from_thread(self, kind: str, obj: dict[str, Any]) -> None:
        self._to_loop(self._on_event, kind, obj)

    def _pod_from_thread(self, kind: str, pod: dict[str, Any]) -> None:
        self._to_loop(self._on_pod_event, kind, pod)

    def _to_loop(self, handler: Callable[[str, dict[str, Any]], None], kind: str, obj: dict[str, Any]) -> None:
        """Hands a watch event from its thread to the loop."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(handler, kind, obj)
            except RuntimeError:  # the loop closed meanwhile
                pass

    def _on_pod_event(self, kind: str, pod: dict[str, Any]) -> None:
        disruption = disruption_of(pod) if kind != "DELETED" else None
        owner = owning_job(pod) if disruption else None
        if owner is None:
            return
        namespace, job_name, job_uid = owner
        self._evictions.setdefault((namespace, job_name), {})[pod["metadata"]["name"]] = (job_uid, disruption)
        waiter = self._waiters.get((namespace, job_name))
        if waiter is not None:
            waiter.changed.set()

    async def _record_evictions(self, job: ClaimedJob, key: tuple[str, str], waiter: _Waiter, recorded: set[str]) -> None:
        """One history row per evicted pod of this run's Job (the store ignores repeats)."""
        seen = self._evictions.get(key)
        uid = ((waiter.latest or {}).get("metadata") or {}).get("uid")
        if not seen or self.store is None or not uid:
            return
        for pod, (job_uid, disruption) in list(seen.items()):
            if pod in recorded or job_uid != uid:
                continue
            try:
                await self.store.record_eviction(job.id, pod, eviction_reason(pod, disruption), f"{key[0]}/{key[1]}")
            except Exception as exc:  # the database: again at the run's next change
                log.warning("job %s: cannot record the eviction of pod %s yet: %s", job.id, pod, exc)
                return
            recorded.add(pod)

    def _on_event(self, kind: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        key = (meta.get("namespace"), meta.get("name"))
        if kind == "DELETED":
            self._unreaped.pop(key, None)
            self._evictions.pop(key, None)
        elif job_finished(obj) is not None and (obj.get("spec") or {}).get("ttlSecondsAfterFinished") is None:
            job_id = _job_id(obj)
            if job_id is not None and proves_run(obj, self.settings, job_id):
                self._unreaped[key] = job_id
        for waiter in self._waiters.get(key, ()):
            if kind == "DELETED":
                waiter.deleted = True
            else:
                waiter.latest = obj
            waiter.changed.set()

    def detach(self) -> None:
        """The operator is stopping: from now on a cancelled run leaves its Job running."""
        self._detached = True

    # -- the reaper ----------------------------------------------------------------------

    async def _reap_loop(self) -> None:
        while True:
            await asyncio.sleep(self.reap_seconds)
            try:
                await self.reap()
            except Exception as exc:  # the database or the API: try again next round
                log.warning("cannot hand finished Jobs to Kubernetes' clean-up yet: %s", exc)

    async def reap(self) -> int:
        """Sets the TTL of finished Jobs whose outcome is recorded; returns how many."""
        pending = dict(self._unreaped)
        if not pending or self.store is None:
            return 0
        recorded = await self.store.recorded_runs([(job_id, f"{ns}/{name}") for (ns, name), job_id in pending.items()])
        done = 0
        for (namespace, name), job_id in pending.items():
            if (job_id, f"{namespace}/{name}") not in recorded:
                continue
            try:
                await self.api.patch_job(namespace, name, {"spec": {"ttlSecondsAfterFinished": self.settings.ttl_seconds_after_finished}})
            except KubeApiError as exc:
                if not exc.not_found:
                    log.warning("cannot set the TTL of Job %s/%s: %s", namespace, name, exc)
                    continue
            self._unreaped.pop((namespace, name), None)
            done += 1
        return done

    # -- one run --------------------------------------------------------------------------

    async def run(self, job: ClaimedJob, cancel: asyncio.Event) -> ExecutionResult:
        try:
            manifest, secret = build_job_manifest(job, self.settings)
        except ValidationError as exc:
            return ExecutionResult(EXIT_NON_RETRYABLE, {"type": "InvalidJob", "message": f"{exc.field}: {exc.reason}", "stack": ""})
        namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
        self._ensure_watch()
        try:
            earlier = await self._earlier_run(job, namespace) if job.runs > 1 else None
        except KubeApiError as exc:  # transient: unknown whether an earlier run's Job is there
            return _api_unavailable(f"cannot look for the Jobs of earlier runs: {exc}")
        if earlier is not None:
            namespace, name = earlier["metadata"]["namespace"], earlier["metadata"]["name"]
            log.info("job %s: %s %s/%s of an earlier run", job.id,
                     "taking the outcome of" if job_finished(earlier) else "adopting", namespace, name)
            if self.store is not None:
                await self.store.set_job_ref(job.id, f"{namespace}/{name}")
        ref = f"{namespace}/{name}"
        waiter = _Waiter()
        self._waiters.setdefault((namespace, name), []).append(waiter)
        try:
            if earlier is None:
                created = await self._create(job, namespace, name, manifest, secret, cancel)
                if isinstance(created, ExecutionResult):
                    return created
                waiter.latest = waiter.latest or created
            else:
                waiter.latest = earlier
            result = await self._wait(job, namespace, name, ref, waiter, cancel)
        finally:
            self._forget_waiter(namespace, name, waiter)
        if job.recurring_id and job.cr_namespace and result.exit_code != EXIT_CANCELLED:
            await prune_recurring_history(self.api, namespace, job.recurring_id, job_finished)
        return result

    def _forget_waiter(self, namespace: str, name: str, waiter: _Waiter) -> None:
        waiters = self._waiters.get((namespace, name), [])
        if waiter in waiters:
            waiters.remove(waiter)
        if not waiters:
            self._waiters.pop((namespace, name), None)

    async def _earlier_run(self, job: ClaimedJob, namespace: str) -> dict[str, Any] | None:
        """The Job of the latest earlier run whose outcome is not recorded (its operator
        stopped): to adopt, or whose outcome to take. A leftover suspended Job is removed."""
        try:
            jobs = await self.api.list_jobs(namespace, f"{SELECTOR},{LABEL_JOB_ID}={job.id}")
        except KubeApiError as exc:
            if exc.transient:
                raise
            log.warning("job %s: cannot look for earlier Jobs: %s", job.id, exc)
            return None
        ours = [j for j in jobs if _run_of(j) < job.runs and proves_run(j, self.settings, job.id)
                and not (j.get("metadata") or {}).get("deletionTimestamp")]
        if len(ours) < len([j for j in jobs if _run_of(j) < job.runs]):
            log.warning("job %s: ignoring Jobs labelled as its runs that lack this installation's proof", job.id)
        latest = max(ours, key=_run_of, default=None)
        if latest is None:
            return None
        meta = latest["metadata"]
        if job_finished(latest) is None and (latest.get("spec") or {}).get("suspend"):
            log.info("job %s: removing %s/%s, left suspended by a stopped operator", job.id, meta["namespace"], meta["name"])
            await self._remove(meta["namespace"], meta["name"])
            return None
        if job_finished(latest) is not None and self.store is not None:
            ref = f"{meta['namespace']}/{meta['name']}"
            if (job.id, ref) in await self.store.recorded_runs([(job.id, ref)]):
                return None  # that run is over and recorded: this one runs anew (a requeue)
        return latest

    async def _create(self, job: ClaimedJob, namespace: str, name: str, manifest: dict[str, Any],
                      secret: dict[str, Any], cancel: asyncio.Event) -> dict[str, Any] | ExecutionResult:
        ref = f"{namespace}/{name}"
        created: dict[str, Any] | None = None
        for delay in (*_API_RETRY_DELAYS, None):
            try:
                if created is None:
                    created = await self._create_job(job, namespace, name, manifest)
                    if isinstance(created, ExecutionResult):
                        return created
                refused = await self._create_secret(job, namespace, name, secret, created)
                if refused is not None:
                    await self._remove(namespace, name)
                    return refused
                if (created.get("spec") or {}).get("suspend"):
                    created = await self.api.patch_job(namespace, name, {"spec": {"suspend": False}})
                return created
            except KubeApiError as exc:
                permanent = exc.status in (400, 403, 404, 422)
                if permanent or delay is None or cancel.is_set():
                    log.warning("cannot create Job %s: %s", ref, exc)
                    if created is not None:
                        await self._remove(namespace, name)  # no Job left waiting for what never comes
                    if exc.transient and not cancel.is_set():  # the API's fault, not the job's
                        return _api_unavailable(f"cannot create the Kubernetes Job {ref}: {exc}", ref)
                    code = EXIT_NON_RETRYABLE if exc.status in (400, 422) else None
                    return ExecutionResult(code, {"type": "JobCreateFailed", "message": f"cannot create the Kubernetes Job {ref}: {exc}", "stack": ""}, ref)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _create_job(self, job: ClaimedJob, namespace: str, name: str,
                          manifest: dict[str, Any]) -> dict[str, Any] | ExecutionResult:
        try:
            return await self.api.create_job(namespace, manifest)
        except KubeApiError as exc:
            if not exc.conflict:
                raise
        existing = await self.api.get_job(namespace, name)
        if existing is not None and proves_run(existing, self.settings, job.id):
            return existing  # ours: an earlier request of this run got through
        return _name_taken("Job", f"{namespace}/{name}")

    async def _create_secret(self, job: ClaimedJob, namespace: str, name: str, secret: dict[str, Any],
                             job_object: dict[str, Any]) -> ExecutionResult | None:
        owned = secret_owned_by(secret, job_object)
        try:
            await self.api.create_secret(namespace, owned)
            return None
        except KubeApiError as exc:
            if not exc.conflict:
                raise
        existing = await self.api.get_secret(namespace, name)
        owners = [o.get("uid") for o in ((existing or {}).get("metadata") or {}).get("ownerReferences") or ()]
        if (existing is not None and proves_run(existing, self.settings, job.id)
                and existing.get("data") == secret["data"] and job_object["metadata"]["uid"] in owners):
            return None  # ours, for this very Job, with these very parameters
        return _name_taken("Secret", f"{namespace}/{name}")

    async def _remove(self, namespace: str, name: str) -> None:
        try:
            await self.api.delete_job(namespace, name)
        except KubeApiError as exc:
            log.warning("cannot remove Job %s/%s: %s", namespace, name, exc)

    async def _wait(self, job: ClaimedJob, namespace: str, name: str, ref: str, waiter: _Waiter,
                    cancel: asyncio.Event) -> ExecutionResult:
        cancelled = asyncio.ensure_future(cancel.wait())
        loop = asyncio.get_running_loop()
        start_deadline = loop.time() + self.start_timeout_seconds
        notice_at = loop.time() + min(WAITING_NOTICE_SECONDS, self.start_timeout_seconds / 2)
        noticed: set[tuple[str, str]] = set()
        started = blameless_extension_used = api_was_away = False
        run_deadline: float | None = None  # timeoutSeconds, from the container's start
        evicted: set[str] = set()
        try:
            while True:
                await self._record_evictions(job, (namespace, name), waiter, evicted)
                if waiter.deleted:
                    return await self._vanished(job, ref, cancel)
                finished = job_finished(waiter.latest) if waiter.latest else None
                if finished is not None:
                    return await self._result(job, namespace, name, ref, finished)
                if cancel.is_set():
                    return await self._cancel(namespace, name, ref)
                # Once is enough: an evicted pod's replacement may take a while to be ready.
                if not started and _container_started(waiter.latest):
                    started = True
                    if job.timeout_seconds:
                        run_deadline = loop.time() + job.timeout_seconds
                if run_deadline is not None and loop.time() >= run_deadline:
                    return await self._timed_out(job, namespace, name, ref)
                if not started and loop.time() >= start_deadline:
                    failure = await self._start_failure(namespace, name)
                    if failure is UNANSWERED:
                        api_was_away = True
                        start_deadline = loop.time() + self.recheck_seconds
                    elif failure is True:
                        started = True
                    elif api_was_away:
                        # Back, the API may still show the pods as they were before it went
                        # away: no verdict until their kubelets have reported again.
                        api_was_away = False
                        start_deadline = loop.time() + STATUS_CATCH_UP_SECONDS
                    elif failure is not None or blameless_extension_used:
                        return await self._never_started(namespace, name, ref, failure)
                    else:  # nothing to blame yet (the Job controller between pods): once more
                        blameless_extension_used = True
                        start_deadline = loop.time() + self.start_timeout_seconds
                    continue
                if not started and loop.time() >= notice_at:
                    await self._notice_waiting(job, namespace, name, ref, noticed)
                    notice_at = loop.time() + self.recheck_seconds
                waiter.changed.clear()
                changed = asyncio.ensure_future(waiter.changed.wait())
                next_deadline = run_deadline if started else min(start_deadline, notice_at)
                timeout = self.recheck_seconds if next_deadline is None else min(
                    self.recheck_seconds, max(next_deadline - loop.time(), 0.01))
                done, _ = await asyncio.wait({changed, cancelled}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
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

    async def _vanished(self, job: ClaimedJob, ref: str, cancel: asyncio.Event) -> ExecutionResult:
        """The Job is gone. When its resource was deleted (the garbage collector took the
        Job first), the deletion's cancel is on its way: wait for it, so that the run
        ends Deleted rather than as a failed attempt."""
        if await self._owner_gone(job):
            try:
                await asyncio.wait_for(cancel.wait(), self.owner_gone_wait_seconds)
                return ExecutionResult(EXIT_CANCELLED, {"type": "Cancelled", "message": f"its resource was deleted, and with it Job {ref}", "stack": ""}, ref)
            except TimeoutError:
                pass
        return ExecutionResult(None, {"type": "JobDeleted", "message": f"the Kubernetes Job {ref} was deleted before it finished", "stack": ""}, ref)

    async def _owner_gone(self, job: ClaimedJob) -> bool:
        owner = owner_of(job)
        if owner is None:
            return False
        plural = {"BackgroundJob": "backgroundjobs", "RecurringJob": "recurringjobs"}.get(owner.kind)
        namespace = job_namespace(job, self.settings)
        try:
            current = await self.api.get_custom(plural, namespace, owner.name) if plural else None
        except KubeApiError:
            return False
        return current is None or current["metadata"].get("uid") != owner.uid or bool(current["metadata"].get("deletionTimestamp"))

    async def _timed_out(self, job: ClaimedJob, namespace: str, name: str, ref: str) -> ExecutionResult:
        await self._remove(namespace, name)  # its pod gets SIGTERM
        return ExecutionResult(None, {
            "type": "Timeout", "message": f"the run exceeded its timeout of {job.timeout_seconds} s", "stack": ""},
            ref, timed_out=True)

    async def _never_started(self, namespace: str, name: str, ref: str,
                             failure: tuple[str, str] | None) -> ExecutionResult:
        """No container started in time: the pod's own reason, then the Job goes."""
        reason, message = failure or ("PodNotStarted", "no pod of it started, and nothing said why")
        await self._remove(namespace, name)
        return ExecutionResult(None, {
            "type": reason,
            "message": f"no container of Job {ref} started within {self.start_timeout_seconds:g} s: {message}",
            "stack": ""}, ref)

    async def _notice_waiting(self, job: ClaimedJob, namespace: str, name: str, ref: str,
                              noticed: set[tuple[str, str]]) -> None:
        """Tells why no container has started yet, once per reason: in the engine's log,
        the job's history and a Warning Event on its resource, while the start deadline runs."""
        try:
            found = await self._why_not_started(namespace, name)
        except KubeApiError as exc:  # nothing learnt: asked again at the next look
            log.debug("job %s: cannot read the pods of Job %s: %s", job.id, ref, exc)
            return
        if not isinstance(found, tuple) or found[0] in STARTING or found in noticed:
            return
        noticed.add(found)
        waiting, message = found
        text = (f"no container of Job {ref} has started yet: {waiting}: {message}; the run fails"
                f" unless one starts within {self.start_timeout_seconds:g} s of its creation")
        log.warning("job %s: %s", job.id, text)
        if self.store is not None:
            try:
                await self.store.record_waiting_pod(job.id, waiting, text[:2000], ref)
            except Exception as exc:  # the database: the log and the Event still say it
                log.warning("job %s: cannot record why its pod waits: %s", job.id, exc)
        owner = owner_of(job)
        if owner is not None:
            involved = {"kind": owner.kind, "name": owner.name, "namespace": namespace, "uid": owner.uid}
            await post_event(self.api, involved, "Warning", "PodNotStarted", text[:1024], datetime.now(timezone.utc))

    async def _start_failure(self, namespace: str, name: str) -> tuple[str, str] | bool | object | None:
        """At the start deadline: why the Job's pod has not started, as `_why_not_started`
        says; UNANSWERED when the API did not answer (a pod it cannot show may well run)."""
        try:
            return await self._why_not_started(namespace, name)
        except KubeApiError as exc:
            if exc.transient:
                log.warning("cannot read the pods of Job %s/%s at its start deadline, again in %g s: %s",
                            namespace, name, self.recheck_seconds, exc)
                return UNANSWERED
            return "PodNotStarted", f"its pods could not be read: {exc}"

    async def _why_not_started(self, namespace: str, name: str) -> tuple[str, str] | bool | None:
        """Why the Job's pod has not started: (reason, message) from the pod or the Job's
        warning events; True when a pod did start after all; None when nothing says."""
        pods = await self.api.list_pods(namespace, f"batch.kubernetes.io/job-name={name}")
        if any(_pod_started(pod) for pod in pods):
            return True
        for pod in pods:
            found = pod_waiting_reason(pod)
            if found is not None:
                return found
        events = await self.api.list_events(namespace, f"involvedObject.kind=Job,involvedObject.name={name}")
        warnings = [e for e in events if e.get("type") == "Warning"]
        if warnings:
            latest = max(warnings, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
            return latest.get("reason") or "FailedCreate", latest.get("message") or ""
        return None

    async def _cancel(self, namespace: str, name: str, ref: str) -> ExecutionResult:
        if self._detached:
            # No executor_ref: this is no outcome of the run, whose Job goes on.
            return ExecutionResult(EXIT_CANCELLED, {"type": "Cancelled", "message": f"the operator stopped; {ref} keeps running and will be adopted", "stack": ""})
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
        if self._reaper is not None:
            self._reaper.cancel()
            await asyncio.gather(self._reaper, return_exceptions=True)
            self._reaper = None
        for thread in (self._watch_thread, self._pod_watch_thread):
            if thread is not None:
                await asyncio.to_thread(thread.join, 5)
        self._watch_thread = self._pod_watch_thread = None


def _job_id(obj: dict[str, Any]) -> int | None:
    try:
        return int(((obj.get("metadata") or {}).get("labels") or {})[LABEL_JOB_ID])
    except (KeyError, ValueError):
        return None


def _run_of(obj: dict[str, Any]) -> int:
    try:
        return int(((obj.get("metadata") or {}).get("labels") or {}).get(LABEL_RUN, "0"))
    except ValueError:
        return 0


def _container_started(job: dict[str, Any] | None) -> bool:
    """Whether a pod of the Job has run: ready now, or already ended."""
    status = (job or {}).get("status") or {}
    return bool(status.get("ready") or status.get("succeeded") or status.get("failed") or status.get("terminating"))


def _pod_started(pod: dict[str, Any]) -> bool:
    for container in (pod.get("status") or {}).get("containerStatuses") or ():
        state = container.get("state") or {}
        if state.get("running") or state.get("terminated"):
            return True
    return False


def pod_waiting_reason(pod: dict[str, Any]) -> tuple[str, str] | None:
    """Why a pod's container is not running: its waiting reason, or the scheduler's."""
    status = pod.get("status") or {}
    for container in status.get("containerStatuses") or ():
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason"):
            return waiting["reason"], waiting.get("message") or waiting["reason"]
    for condition in status.get("conditions") or ():
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return condition.get("reason") or "Unschedulable", condition.get("message") or ""
    return None


def _api_unavailable(message: str, ref: str | None = None) -> ExecutionResult:
    """The Kubernetes API did not answer (or failed) through every retry: the job goes
    back to Enqueued without using an attempt, and is claimed again."""
    return ExecutionResult(None, {"type": "KubernetesApiUnavailable", "message": message, "stack": ""}, ref,
                           interrupted=f"the Kubernetes API is unavailable ({message})")


def _name_taken(kind: str, ref: str) -> ExecutionResult:
    return ExecutionResult(None, {
        "type": "NameTaken",
        "message": f"the {kind} {ref} exists but was not made by this installation for this run: not adopted, not used",
        "stack": ""}, ref)
