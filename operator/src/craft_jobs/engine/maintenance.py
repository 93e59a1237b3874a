"""The engine's timed work: promote due jobs, fire recurring ones, release
continuations, rescue orphans, expire old jobs and audit rows, and keep the
dashboard's counters small: fold the counts of single inserts and those of
ended connections, roll up closed hours. The heartbeat itself runs on
threads of its own (engine/heartbeat.py).

Each loop sleeps until its next deadline or until a notification wakes it;
database outages are logged and retried, never fatal.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable

from craft_jobs.clock import Clock
from craft_jobs.engine.heartbeat import Heartbeat
from craft_jobs.engine.recurring import fire_due_recurring
from craft_jobs.engine.waiting import pause, wait_event
from craft_jobs.errors import CraftJobsError, DatabaseUnavailableError
from craft_jobs.options import JobOptions
from craft_jobs.store.audit_store import AuditStore
from craft_jobs.store.store import JobStore

log = logging.getLogger(__name__)

EXPIRY_BATCH = 1000
FOLD_BATCH = 10_000
EXPIRY_INTERVAL_SECONDS = 60
# How often the table's statistics are compared with it (a catalog read), and
# the counts of single inserts folded into the job counters.
STATISTICS_INTERVAL_SECONDS = 2


async def _guarded(name: str, step: Callable[[], Awaitable[object]]) -> bool:
    """Runs one step; a database outage or error is logged and reported as False."""
    try:
        await step()
        return True
    except DatabaseUnavailableError as exc:
        log.warning("%s: database unavailable, will retry: %s", name, exc)
    except CraftJobsError:
        log.exception("%s failed, will retry", name)
    return False


class Maintenance:
    def __init__(self, store: JobStore, options: JobOptions, server_id: str, clock: Clock, kind: str = "engine"):
        self.store = store
        self.options = options
        self.server_id = server_id
        self.clock = clock
        self.kind = kind
        self.in_flight: Callable[[], int] = lambda: 0
        self._wake = asyncio.Event()
        self.heartbeat: Heartbeat | None = None  # set by the engine; it runs on threads of its own
        self.audit = AuditStore(store)

    def wake(self) -> None:
        self._wake.set()

    # -- schedules: delayed jobs, recurring jobs, continuations -----------------

    async def run_due_work(self) -> None:
        """One pass; also what tests call to drive the engine with a frozen clock."""
        await self._in_batches(self.store.promote_due_jobs, 1000, "promoted %d due jobs to Enqueued")
        await self._in_batches(lambda: fire_due_recurring(self.store), 100, None)  # each fire is a decision of its own
        await self._in_batches(self.store.release_continuations, 1000, "released %d continuations")

    async def _in_batches(self, step: Callable[[], Awaitable[int]], batch: int, decision: str | None) -> int:
        """Runs `step` until it does less than a full batch; each batch that did
        something is a decision. Returns how much was done in all."""
        total = 0
        while True:
            done = await step()
            total += done
            if done and decision and self.store.decisions.on:
                self.store.decisions(decision, done)
            if done < batch:
                return total

    async def schedule_loop(self) -> None:
        while True:
            self._wake.clear()
            ok = await _guarded("scheduling", self.run_due_work)
            timeout = self.options.polling_interval_seconds if ok else 1.0
            if ok:
                try:
                    due = await self.store.next_due_time()
                except CraftJobsError:
                    due = None
                if due is not None:
                    timeout = min(timeout, max(0.0, (due - self.clock.now()).total_seconds()))
            await wait_event(self._wake, timeout)

    # -- servers: the heartbeat's row, and rescue --------------------------------

    def server_row(self) -> dict:
        return {
            "id": self.server_id,
            "kind": self.kind,
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "worker_count": self.options.worker_count,
            "queues": None,
            "in_flight": self.in_flight(),
        }

    async def rescue_once(self) -> int:
        """Rescues the jobs of lost servers, unless we are, or were just now, silent ourselves."""
        if self.heartbeat is not None and not self.heartbeat.may_rescue():
            if self.store.decisions.on:
                self.store.decisions("rescue skipped: this engine was silent itself just now")
            return 0
        rescued = await self.store.rescue_orphans(self.server_id)
        if rescued:
            log.warning("rescued %d jobs whose server stopped heartbeating", rescued)
        return rescued

    async def rescue_loop(self) -> None:
        while True:
            await pause(self.options.heartbeat_interval_seconds)
            await _guarded("rescue", self.rescue_once)

    async def statistics_loop(self) -> None:
        while True:
            await pause(STATISTICS_INTERVAL_SECONDS)
            await _guarded("statistics", self.store.analyze_jobs_if_stale)
            await _guarded("job count deltas", self.fold_job_count_deltas_once)

    async def fold_job_count_deltas_once(self) -> int:
        """The counts of single inserts folded into the job counters, in batches:
        often, so that readers of the counters add up few rows."""
        return await self._in_batches(lambda: self.store.fold_job_count_deltas(FOLD_BATCH), FOLD_BATCH, None)

    # -- expiry ------------------------------------------------------------------

    async def expire_once(self) -> int:
        """Expired jobs, then audit rows past their retention; both in batches."""
        jobs = await self._in_batches(lambda: self.store.expire_jobs(EXPIRY_BATCH), EXPIRY_BATCH,
                                      "expiry batch: removed %d expired jobs with their history")
        await self._in_batches(lambda: self.audit.expire(EXPIRY_BATCH), EXPIRY_BATCH,
                               "expiry batch: removed %d audit rows past their retention")
        return jobs

    async def expiry_loop(self) -> None:
        while True:
            await _guarded("expiry", self.expire_once)
            await _guarded("job counts", self.store.fold_job_counts)
            await _guarded("hourly outcomes", self.store.roll_up_outcomes)
            await pause(EXPIRY_INTERVAL_SECONDS)


