"""The dispatcher: claims Enqueued jobs, runs them, records their outcomes.

Claims go in batches (one statement for up to the free capacity) and
outcomes are flushed in batches (one statement for all that ended since the
last flush); a flush claims the next jobs for the slots it frees in the same
transaction. That is what lets one engine process thousands of short jobs per
second while still writing every transition to the history. The claim loop
claims when NOTIFY (or the polling interval) says new work is there.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from craft_jobs_runner import CancelSignal

from craft_jobs.clock import Clock
from craft_jobs.engine.executor import STOP_MARGIN_SECONDS, ExecutionResult, Executor
from craft_jobs.engine.headroom import TenantHeadroom
from craft_jobs.engine.outcomes import decide_outcome, shutdown_reason
from craft_jobs.engine.waiting import pause, wait_event
from craft_jobs.errors import CraftJobsError, DatabaseUnavailableError
from craft_jobs.options import JobOptions
from craft_jobs.store.models import ClaimedJob, Outcome, SchedulerAccess
from craft_jobs.store.store import JobStore

log = logging.getLogger(__name__)

_RETRY_DELAYS = (0.1, 0.25, 0.5, 1, 2, 5)


@dataclass
class Running:
    job: ClaimedJob
    cancel: CancelSignal = field(default_factory=CancelSignal)
    task: asyncio.Task | None = None
    stopped_by_shutdown: bool = False


class Dispatcher:
    def __init__(
        self,
        store: JobStore,
        executor: Executor,
        options: JobOptions,
        server_id: str,
        clock: Clock,
        queues: list[str] | None = None,
        on_finished: Callable[[], None] | None = None,
    ):
        self.store = store
        self.executor = executor
        self.options = options
        self.server_id = server_id
        self.clock = clock
        self.queues = queues
        self.on_finished = on_finished
        # By (job id, run): a run rescued from us may still be ending here when
        # the job's next run is claimed, by us too; each keeps its own slot.
        self.running: dict[tuple[int, int], Running] = {}
        # True while the engine cannot prove it is alive (engine/heartbeat.py): claim nothing.
        self.claims_paused: Callable[[], bool] = lambda: False
        # With job_api_url: each run's way to schedule jobs (job_tokens.access_for).
        self.run_access: Callable[[ClaimedJob], SchedulerAccess] | None = None
        self._wake = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._outcomes: list[Outcome] = []
        self._outcome_ready = asyncio.Event()
        self._claiming = asyncio.Lock()
        self._stopping = False
        self._rng = random.Random()
        self._headroom = TenantHeadroom(options.worker_count, options.tenant_headroom_slots)

    @property
    def in_flight(self) -> int:
        return len(self.running)

    def wake(self, tenant: str | None = None) -> None:
        """Claim soon: work was enqueued (by `tenant`, if known). A tenant with
        no room left here can take no free slot: the ends of its own runs
        here claim its next jobs, so its NOTIFYs need no claim of their own."""
        if tenant is not None:
            rooms = self._engine_rooms()
            if rooms is not None and rooms.get(tenant, rooms["*"]) <= 0:
                return
        self._wake.set()

    def cancel(self, job_id: int) -> bool:
        """Stop a run this engine holds (its job was deleted or requeued elsewhere)."""
        runs = [r for (held, _), r in self.running.items() if held == job_id]
        if not runs:
            return False
        log.info("cancelling job %s", job_id)
        for running in runs:
            running.cancel.set()
        return True

    # -- claiming ----------------------------------------------------------------

    async def claim_loop(self) -> None:
        """Claims when woken (NOTIFY, a freed slot, the polling interval)."""
        failures = 0
        self._wake.set()  # look once at start: work may be waiting
        while not self._stopping:
            if self.in_flight >= self.options.worker_count:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            await wait_event(self._wake, self.options.polling_interval_seconds)
            if self._stopping:
                break
            if self.claims_paused():
                await pause(self.options.heartbeat_interval_seconds)
                self._wake.set()  # look for work once claims resume
                continue
            self._wake.clear()
            try:
                async with self._claiming:  # the flusher claims too: count free slots under one lock
                    free = self.options.worker_count - self.in_flight
                    claimed = await self.store.claim_jobs(
                        self.server_id, free, self.queues, self._engine_rooms()) if free > 0 else []
                    if claimed and self.store.decisions.on:
                        self._log_claims(claimed, free)
                    self._start_all(claimed)
                failures = 0
            except DatabaseUnavailableError as exc:
                delay = _RETRY_DELAYS[min(failures, len(_RETRY_DELAYS) - 1)]
                failures += 1
                log.warning("cannot claim jobs, retrying in %.1f s: %s", delay, exc)
                await pause(delay)
                self._wake.set()
                continue
            if claimed and len(claimed) == free:
                self._wake.set()  # there may be more: claim again once a slot frees

    def _log_claims(self, claimed: list[ClaimedJob], free: int) -> None:
        self.store.decisions("claimed %d jobs for %d free slots: %s", len(claimed), free,
                             ", ".join(f"{job.id} ({job.job_type}, attempt {job.attempt})" for job in claimed))

    def _engine_rooms(self, ended: Collection[tuple[int, int]] = ()) -> dict[str, int] | None:
        """Each tenant's room on this engine (engine/headroom.py), not counting runs that just ended."""
        running = Counter(r.job.tenant_id for key, r in self.running.items() if key not in ended)
        return self._headroom.rooms(running, self.clock.now())

    def _start_all(self, claimed: list[ClaimedJob]) -> None:
        self._headroom.claimed((job.tenant_id for job in claimed), self.clock.now())
        for job in claimed:
            self._start(job)

    def _start(self, job: ClaimedJob) -> None:
        if self.run_access is not None:
            job.scheduler_access = self.run_access(job)
        running = Running(job)
        self.running[job.id, job.runs] = running
        running.task = asyncio.create_task(self._run(running), name=f"craft-job-{job.id}")

    async def _run(self, running: Running) -> None:
        job = running.job
        try:
            result = await self.executor.run(job, running.cancel)
        except asyncio.CancelledError:
            result = ExecutionResult(143, {"type": "Cancelled", "message": "the engine stopped", "stack": ""})
        except Exception as exc:  # an executor bug must not lose the job: record it as a failure
            log.exception("executor failed on job %s", job.id)
            result = ExecutionResult(None, {"type": type(exc).__name__, "message": str(exc), "stack": ""})
        interrupted = None
        if running.stopped_by_shutdown:
            interrupted = shutdown_reason(result.exit_code, self.options.cancel_grace_seconds)
        outcome = decide_outcome(
            job,
            result,
            self.clock.now(),
            interrupted=interrupted,
            rng=self._rng,
        )
        if self.store.decisions.on:
            self.store.decisions("job %s (%s) attempt %d ended with exit code %s: %s, %s", job.id, job.job_type,
                                 job.attempt, result.exit_code, outcome.state.value, outcome.reason)
        self._outcomes.append(outcome)
        self._outcome_ready.set()

    # -- recording outcomes -----------------------------------------------------

    async def flush_loop(self) -> None:
        failures = 0
        while True:
            if self._stopping and not self.running and not self._outcomes:
                return
            await self._outcome_ready.wait()
            self._outcome_ready.clear()
            batch, self._outcomes = self._outcomes, []
            changed: dict = {}
            timed_work = False
            while True:
                try:
                    async with self._claiming:
                        # The batch's slots free up as it is recorded: refill them in the same transaction.
                        free = 0 if self._stopping or self.claims_paused() else (
                            self.options.worker_count - self.in_flight + len(batch))
                        if free > 0:
                            ended = {(outcome.job_id, outcome.run) for outcome in batch}
                            changed, timed_work, claimed = await self.store.finish_and_claim(
                                self.server_id, batch, free, self.queues, self._engine_rooms(ended))
                            if claimed and self.store.decisions.on:
                                self._log_claims(claimed, free)
                            if len(claimed) < free and self.options.limits_concurrency:
                                # The statement still counted the runs it ended as in flight, so a
                                # tenant at its limit got no room for them: claim again after it.
                                self._wake.set()
                        else:
                            (changed, timed_work), claimed = await self.store.finish_jobs(self.server_id, batch), []
                        self._forget(batch, changed)
                        self._start_all(claimed)
                    failures = 0
                    break
                except DatabaseUnavailableError as exc:
                    # Keep the outcomes and the slots: the jobs stay ours until recorded.
                    delay = _RETRY_DELAYS[min(failures, len(_RETRY_DELAYS) - 1)]
                    failures += 1
                    log.warning("cannot record %d outcomes, retrying in %.1f s: %s", len(batch), delay, exc)
                    await pause(delay)
                except CraftJobsError:
                    log.exception("recording outcomes failed; the jobs will be rescued")
                    self._forget(batch, changed)
                    self._wake.set()  # nothing was claimed for the freed slots
                    break
            self._slot_freed.set()
            if self.on_finished is not None and timed_work:
                self.on_finished()

    def _forget(self, batch: list[Outcome], changed: dict) -> None:
        for outcome in batch:
            self.running.pop((outcome.job_id, outcome.run), None)
            if outcome.job_id not in changed:
                log.info("job %s changed while its run %s ran; that run's outcome was dropped",
                         outcome.job_id, outcome.run)

    async def drain(self, grace_seconds: float) -> None:
        """Stop claiming, let runs finish for `grace_seconds`, then cancel the rest."""
        self._stopping = True
        self._wake.set()
        self._slot_freed.set()
        self._outcome_ready.set()  # lets the flusher see that it may finish
        tasks = [r.task for r in self.running.values() if r.task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace_seconds)
            for running in list(self.running.values()):
                if not running.task.done():
                    running.stopped_by_shutdown = True
                    running.cancel.set()
            if pending:
                # The executor kills a run STOP_MARGIN_SECONDS after its grace: wait for that too.
                await asyncio.wait(pending, timeout=self.options.cancel_grace_seconds + 2 * STOP_MARGIN_SECONDS)
