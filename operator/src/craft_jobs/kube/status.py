"""Store -> resource status: one loop, few writes.

Every `status_sync_seconds` the loop reads the jobs (and recurring jobs) of
resources that changed since its last pass and patches `.status` only where
what a user sees differs from what the resource already shows. Changes that
happen within one period (Enqueued -> Processing, a quick job's whole life)
cost one patch. What resources show is known from the watch (`observe`, fed
by kopf's event handlers), so a second replica does not repeat a patch the
first one made, and one replica at a time writes (an advisory lock per pass).

Each change a pass sees also posts its Events on the resource (kube/events.py).

A patch the API refuses or does not answer is tried again at later passes
(backing off to 30 s) even when its job does not change any more: a job
read once past `_jobs_since` would otherwise keep its old status for good.

A resource that no longer exists when its status is due (it was deleted
while no operator watched) has its job deleted, so nothing runs for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from craft_jobs.engine.waiting import wait_event
from craft_jobs.errors import CraftJobsError
from craft_jobs.kube.api import KubeApiError
from craft_jobs.kube.events import held_event, post_event, recurring_events, transition_events
from craft_jobs.kube.held import RunsInFlight, held_scope, hold_of, limits_set
from craft_jobs.kube.cr_status import (
    JobSnapshot,
    background_job_status,
    recurring_job_status,
    status_fingerprint,
)
from craft_jobs.kube.reconciler import BACKGROUND_JOBS, RECURRING_JOBS, Reconciler
from craft_jobs.states import JobState

log = logging.getLogger(__name__)

OVERLAP = timedelta(seconds=5)  # clocks of replicas differ a little; re-reading is cheap
HELD_PAGE = 500  # waiting jobs looked at per pass for the Held condition
FAILED_PAGE = 500  # failed patches tried again per pass
FAILED_RETRY_MAX_SECONDS = 30.0
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def recurring_fingerprint(status: dict[str, Any] | None) -> tuple:
    status = status or {}
    last = status.get("lastJob") or {}
    conditions = tuple(sorted((c.get("type"), c.get("status"), c.get("reason"), c.get("message"))
                              for c in status.get("conditions") or ()))
    return (status.get("lastScheduleTime"), status.get("nextScheduleTime"), last.get("jobId"), last.get("phase"), conditions)


class StatusSync:
    def __init__(self, reconciler: Reconciler, interval: float, concurrency: int = 8):
        self.reconciler = reconciler
        self.api = reconciler.api
        self.interval = interval
        self._shown: dict[str, tuple[tuple, int | None, dict[str, Any]]] = {}  # uid -> (fingerprint, generation, status)
        self._gone: set[str] = set()
        self._jobs_since = EPOCH
        self._recurring_since = EPOCH
        self._first = True
        # Concurrency limits (kube/held.py): the pass's runs in flight, and the waiting
        # jobs whose resources show Held, id -> (tenant, queue).
        self._running: RunsInFlight | None = None
        self._held: dict[int, tuple[str, str]] = {}
        self._held_after = 0  # where the next page of waiting jobs starts
        # Patches that failed (the API refused or did not answer): job id -> (failures,
        # when to try again). Their rows are read again then, as they may not change again.
        self._failed: dict[int, tuple[int, float]] = {}
        self._recurring_failed = False
        self._wake = asyncio.Event()
        self._limit = asyncio.Semaphore(concurrency)
        self.patches = 0

    # -- what the resources show (from the watch) ----------------------------------------

    def observe(self, body: dict[str, Any], kind: str) -> None:
        meta = body.get("metadata") or {}
        uid = meta.get("uid")
        if not uid:
            return
        status = dict(body.get("status") or {})
        fingerprint = recurring_fingerprint(status) if kind == RECURRING_JOBS else status_fingerprint(status)
        self._shown[uid] = (fingerprint, meta.get("generation"), status)

    def forget(self, uid: str) -> None:
        self._shown.pop(uid, None)
        self._gone.add(uid)

    def wake(self) -> None:
        self._wake.set()

    # -- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            try:
                await self.sync_once()
            except CraftJobsError as exc:
                log.warning("status sync pass failed, retrying: %s", exc)
            except Exception:  # a bug here must not stop status updates for good
                log.exception("status sync pass failed")
            await wait_event(self._wake, self.interval)
            self._wake.clear()

    async def sync_once(self) -> int:
        kube_store = self.reconciler.kube_store
        async with kube_store.sync_lock() as mine:
            if not mine:
                return 0
            # Runs counted before the jobs are read: a job claimed in between shows as
            # Processing, never as held by its own run.
            await self._count_runs()
            jobs = await kube_store.jobs_to_sync(self._jobs_since - OVERLAP, self._first)
            changed = {row["id"] for row in jobs}
            waiting = await self._waiting_to_sync(changed)
            again = await self._failed_to_sync(changed | {row["id"] for row in waiting})
            recurring = await kube_store.recurring_to_sync(self._recurring_since - OVERLAP,
                                                           self._first or self._recurring_failed)
            self._recurring_failed = False
            results = await asyncio.gather(
                *(self._sync_job(JobSnapshot.from_row(row)) for row in [*jobs, *waiting, *again]),
                *(self._sync_recurring(r, error) for r, _, error in recurring),
            )
        if jobs:
            self._jobs_since = max(self._jobs_since, max(row["state_changed_at"] for row in jobs))
        if recurring:
            recurring_changes = [c for _, c, _ in recurring if c is not None]
            if recurring_changes:
                self._recurring_since = max(self._recurring_since, max(recurring_changes))
        self._first = False
        return sum(results)

    async def _failed_to_sync(self, taken: set[int]) -> list[dict]:
        """The jobs whose status patch failed and is due again (not already in this pass)."""
        now = time.monotonic()
        due = [job_id for job_id, (_, at) in self._failed.items() if at <= now and job_id not in taken][:FAILED_PAGE]
        if not due:
            return []
        rows = await self.reconciler.kube_store.jobs_by_id(due)
        for job_id in set(due) - {row["id"] for row in rows}:
            self._failed.pop(job_id, None)  # the job is gone
        return rows

    def _patch_failed(self, job_id: int) -> None:
        failures = self._failed.get(job_id, (0, 0.0))[0] + 1
        # Linear: the passes that re-read recent changes count failures too.
        delay = min(self.interval * failures, FAILED_RETRY_MAX_SECONDS)
        self._failed[job_id] = (failures, time.monotonic() + delay)

    async def _count_runs(self) -> None:
        """The runs in flight per tenant and queue, when a concurrency limit is set."""
        if limits_set(self.reconciler.options):
            self._running = RunsInFlight.from_rows(await self.reconciler.kube_store.runs_in_flight())
        else:
            self._running = None

    async def _waiting_to_sync(self, changed: set[int]) -> list[dict]:
        """Waiting jobs whose Held condition is due to change, beyond those that changed:
        a page of the waiting jobs a limit may hold (each pass takes the next page), and
        those shown held that no limit holds now."""
        options, kube_store = self.reconciler.options, self.reconciler.kube_store
        if self._running is None:
            return []
        scope = held_scope(options, self._running)
        rows: list[dict] = []
        if scope.every_tenant or scope.tenants or scope.queues:
            page = await kube_store.waiting_jobs(scope.every_tenant, scope.tenants, scope.queues,
                                                 self._held_after, HELD_PAGE)
            self._held_after = page[-1]["id"] if len(page) == HELD_PAGE else 0
            rows = [row for row in page if row["id"] not in self._held]
        released = [job_id for job_id, (tenant, queue) in self._held.items()
                    if hold_of(options, self._running, tenant, queue) is None]
        released = released[:HELD_PAGE]
        if released:
            # A job that no longer waits has its own change in this or a later pass.
            rows += [row for row in await kube_store.jobs_by_id(released) if row["state"] == "Enqueued"]
            for job_id in released:
                self._held.pop(job_id, None)
        return [row for row in rows if row["id"] not in changed]

    def _hold(self, job: JobSnapshot) -> tuple[str, str] | None:
        """The limit that holds this job now, if any; `_held` follows."""
        hold = None
        if self._running is not None and job.state is JobState.ENQUEUED:
            hold = hold_of(self.reconciler.options, self._running, job.tenant_id, job.queue)
        if hold is None:
            self._held.pop(job.id, None)
        else:
            self._held[job.id] = (job.tenant_id, job.queue)
        return hold

    async def _shown_status(self, plural: str, uid: str, namespace: str, name: str):
        shown = self._shown.get(uid)
        if shown is not None:
            return shown
        body = await self.api.get_custom(plural, namespace, name)  # a read, once per resource
        if body is None or body["metadata"].get("uid") != uid:
            return None
        self.observe(body, plural)
        return self._shown[uid]

    async def _sync_job(self, job: JobSnapshot) -> int:
        if job.cr_uid in self._gone:
            self._failed.pop(job.id, None)
            return 0
        async with self._limit:
            try:
                shown = await self._shown_status(BACKGROUND_JOBS, job.cr_uid, job.cr_namespace, job.cr_name)
                if shown is None:
                    return await self._resource_gone(job)
                fingerprint, generation, previous = shown
                status = background_job_status(job, self.reconciler.now(), generation, previous, self._hold(job))
                if status_fingerprint(status) == fingerprint:
                    self._failed.pop(job.id, None)
                    return 0
                await self.api.patch_custom(BACKGROUND_JOBS, job.cr_namespace, job.cr_name, {"status": status}, "status")
            except KubeApiError as exc:
                if exc.not_found:
                    return await self._resource_gone(job)
                self._patch_failed(job.id)
                log.warning("cannot update the status of BackgroundJob %s/%s (again at a later pass): %s",
                            job.cr_namespace, job.cr_name, exc)
                return 0
            self._failed.pop(job.id, None)
            self.patches += 1
            self._shown[job.cr_uid] = (status_fingerprint(status), generation, status)
            involved = {"kind": "BackgroundJob", "name": job.cr_name, "namespace": job.cr_namespace, "uid": job.cr_uid}
            for event in [*transition_events(previous, status), *held_event(previous, status)]:
                await post_event(self.api, involved, *event, self.reconciler.now())
            return 1

    async def _resource_gone(self, job: JobSnapshot) -> int:
        self.forget(job.cr_uid)
        if job.state not in (JobState.SUCCEEDED, JobState.DELETED):
            log.info("BackgroundJob %s/%s is gone: deleting job %s", job.cr_namespace, job.cr_name, job.id)
            with self.reconciler.acting(None):
                await self.reconciler.scheduler.delete(job.id, reason="its BackgroundJob was deleted")
        return 0

    async def _sync_recurring(self, recurring, last_error: dict | None) -> int:
        if recurring.cr_uid in self._gone:
            return 0
        async with self._limit:
            try:
                shown = await self._shown_status(RECURRING_JOBS, recurring.cr_uid, recurring.cr_namespace, recurring.cr_name)
                if shown is None:
                    self.forget(recurring.cr_uid)
                    log.info("RecurringJob %s is gone: removing its schedule", recurring.id)
                    await self.reconciler.remove_recurring_job(recurring.cr_namespace, recurring.cr_name)
                    return 0
                fingerprint, generation, previous = shown
                status = recurring_job_status(recurring, self.reconciler.now(), generation, previous)
                if recurring_fingerprint(status) == fingerprint:
                    return 0
                await self.api.patch_custom(RECURRING_JOBS, recurring.cr_namespace, recurring.cr_name, {"status": status}, "status")
            except KubeApiError as exc:
                self._recurring_failed = True  # the next pass reads every recurring job again
                log.warning("cannot update the status of RecurringJob %s (again at the next pass): %s", recurring.id, exc)
                return 0
            self.patches += 1
            self._shown[recurring.cr_uid] = (recurring_fingerprint(status), generation, status)
            involved = {"kind": "RecurringJob", "name": recurring.cr_name, "namespace": recurring.cr_namespace,
                        "uid": recurring.cr_uid}
            for event in recurring_events(previous, status, (last_error or {}).get("message")):
                await post_event(self.api, involved, *event, self.reconciler.now())
            return 1
