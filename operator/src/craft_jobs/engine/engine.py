"""The Engine: one process's share of the work, on one PostgreSQL.

Any number of engines (and operator replicas, which embed one) can run on the
same database: claims use SKIP LOCKED, recurring fires lock their row, and
each engine heartbeats a server row so the others can rescue its jobs if it
dies (engine/heartbeat.py says when that is safe).
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import socket
import time
import uuid

import craft_jobs_runner

from craft_jobs import job_tokens
from craft_jobs.clock import Clock, SystemClock
from craft_jobs.engine.dispatcher import Dispatcher
from craft_jobs.engine.executor import Executor
from craft_jobs.engine.heartbeat import Heartbeat
from craft_jobs.engine.maintenance import Maintenance
from craft_jobs.engine.waiting import pause
from craft_jobs.errors import CraftJobsError, DatabaseUnavailableError
from craft_jobs.options import JobOptions
from craft_jobs.store.connector import Connector, with_timeouts
from craft_jobs.store.lease import LeaseConnection
from craft_jobs.store.migrations import migrate
from craft_jobs.store.notifier import parse_payload
from craft_jobs.store.store import JobStore

log = logging.getLogger(__name__)


# The claim loop and the outcome flusher: one connection each, on the pool
# that plans generically (Connector's generic_plan_pool_size).
DISPATCH_CONNECTIONS = 2

# How long a stopping engine waits for its cancelled loops (a database call
# ends within its statement timeout; this bounds the rest).
LOOP_STOP_SECONDS = 15


def _stack_of(task: asyncio.Task) -> str:
    buffer = io.StringIO()
    task.print_stack(file=buffer)
    return buffer.getvalue()


def new_server_id(kind: str) -> str:
    return f"{kind}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


async def connect_store(
    options: JobOptions, clock: Clock, startup_timeout: float, pool_size: int, dispatch_pool_size: int = 0
) -> JobStore:
    """Migrates and opens the store, retrying while the database is down at start.
    `dispatch_pool_size`: connections for the dispatcher's claims and outcomes."""
    deadline = time.monotonic() + startup_timeout
    delay = 0.5
    connect = options.database_connect_timeout_seconds
    while True:
        try:
            # No statement timeout for migrations: one may rewrite a large table.
            await migrate(with_timeouts(options.connection_string, connect), options.schema_name)
            connector = Connector(
                with_timeouts(options.connection_string, connect, options.database_statement_timeout_seconds),
                max_size=pool_size, generic_plan_pool_size=dispatch_pool_size)
            await connector.open()
            return JobStore(connector, options, clock)
        except DatabaseUnavailableError as exc:
            if time.monotonic() + delay > deadline:
                raise DatabaseUnavailableError(
                    f"gave up after {startup_timeout:.0f} s: {exc} "
                    "(check CRAFT_JOBS_CONNECTION_STRING and that PostgreSQL is running)"
                ) from exc
            log.warning("waiting for PostgreSQL: %s", exc)
            await pause(delay)
            delay = min(delay * 2, 5)


async def register_job_types(store: JobStore, modules: list[str]) -> list[str]:
    """Imports the job modules and records their types, so other processes can validate."""
    craft_jobs_runner.import_job_modules(modules)
    names = craft_jobs_runner.registered_job_types()
    descriptors = [craft_jobs_runner.job_descriptor(craft_jobs_runner.get_job_class(n)) for n in names]
    await store.upsert_job_types(descriptors)
    return names


class Engine:
    def __init__(
        self,
        options: JobOptions,
        executor: Executor,
        *,
        clock: Clock | None = None,
        kind: str = "engine",
        queues: list[str] | None = None,
        startup_timeout: float = 30,
        store: JobStore | None = None,
    ):
        self.options = options
        self.executor = executor
        self.clock = clock or SystemClock()
        self.kind = kind
        self.queues = queues
        self.startup_timeout = startup_timeout
        self.server_id = new_server_id(kind)
        self.store = store
        self._owns_store = store is None
        self.dispatcher: Dispatcher | None = None
        self.maintenance: Maintenance | None = None
        self.heartbeat: Heartbeat | None = None
        self._tasks: list[asyncio.Task] = []
        self.started = asyncio.Event()

    async def start(self) -> None:
        if self.store is None:
            pool = min(self.options.worker_count, 10) + 4
            self.store = await connect_store(
                self.options, self.clock, self.startup_timeout, pool, dispatch_pool_size=DISPATCH_CONNECTIONS)
        await register_job_types(self.store, self.options.job_modules)
        self.maintenance = Maintenance(self.store, self.options, self.server_id, self.clock, self.kind)
        self.dispatcher = Dispatcher(
            self.store, self.executor, self.options, self.server_id, self.clock,
            self.queues, on_finished=self.maintenance.wake,
        )
        self.maintenance.in_flight = lambda: self.dispatcher.in_flight
        if self.options.job_api_url:
            _, signing_key = await self.store.installation(self.clock.now())
            self.dispatcher.run_access = job_tokens.access_for(self.options.job_api_url, signing_key)
        await self._start_heartbeat()
        for name, coroutine in (
            ("listen", self._listen_loop()),
            ("claim", self.dispatcher.claim_loop()),
            ("flush", self.dispatcher.flush_loop()),
            ("schedule", self.maintenance.schedule_loop()),
            ("rescue", self.maintenance.rescue_loop()),
            ("statistics", self.maintenance.statistics_loop()),
            ("expiry", self.maintenance.expiry_loop()),
        ):
            self._tasks.append(asyncio.create_task(coroutine, name=f"craft-engine-{name}"))
        self.started.set()
        log.info("engine %s started: %d workers, executor %s", self.server_id, self.options.worker_count, self.executor.name)

    async def _start_heartbeat(self) -> None:
        lease = LeaseConnection(self.store.connector.conninfo, self.options.schema_name,
                                self.options.server_timeout_seconds)
        fenceable = self.executor if hasattr(self.executor, "fence") else None
        self.heartbeat = Heartbeat(lease, self.maintenance.server_row, self.options, self.clock, fenceable)
        await asyncio.to_thread(self.heartbeat.beat_once)
        self.heartbeat.start()
        self.maintenance.heartbeat = self.heartbeat
        self.dispatcher.claims_paused = lambda: self.heartbeat.fenced

    async def stop(self, grace_seconds: float = 10) -> None:
        """Stops claiming, lets runs finish for `grace_seconds`, then stops the
        rest (see Dispatcher.drain); they go back to Enqueued, attempts unused.
        Bounded: a loop stuck in a call is left behind, and the heartbeat, the
        store and the executor are released even when the stop is cancelled."""
        try:
            if self.dispatcher is not None:
                await self.dispatcher.drain(grace_seconds)
                await self._fence_leftovers()
                # Give the flusher a moment to record the last outcomes.
                flush = next((t for t in self._tasks if t.get_name() == "craft-engine-flush"), None)
                if flush is not None:
                    await asyncio.wait({flush}, timeout=5)
            await self._cancel_loops()
        finally:
            await self._release()

    async def _cancel_loops(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _, stuck = await asyncio.wait(self._tasks, timeout=LOOP_STOP_SECONDS)
            for task in stuck:
                log.warning("engine loop %s did not stop within %d s; leaving it behind:\n%s",
                            task.get_name(), LOOP_STOP_SECONDS, _stack_of(task))
        self._tasks.clear()

    async def _release(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.stopping()  # at once: the threads end even if what follows is cancelled
            try:
                # Only now do others see us gone: every local run has ended by this point.
                await asyncio.to_thread(self.heartbeat.stop, self.server_id)
            except CraftJobsError as exc:
                log.warning("could not remove server row %s; others will expire it: %s", self.server_id, exc)
        if self.store is not None and self._owns_store:
            await self.store.close()
        await self.executor.close()

    async def _fence_leftovers(self) -> None:
        """Runs still there after the drain are killed, before the others may rescue them."""
        left = [r.task for r in self.dispatcher.running.values() if r.task is not None and not r.task.done()]
        if left and self.heartbeat is not None and self.heartbeat.fenceable is not None:
            log.warning("%d runs did not end; killing them", len(left))
            self.heartbeat.fenceable.fence("its engine stopped and the run did not end")
            await asyncio.wait(left, timeout=5)

    async def run(self, stop: asyncio.Event) -> None:
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()

    async def _listen_loop(self) -> None:
        """Wakes the loops on NOTIFY; reconnects when the connection drops."""
        delay = 0.5
        while True:
            try:
                async for payload in self.store.notifications(on_listening=self._look_for_work):
                    self._on_notification(payload)
                    delay = 0.5
            except DatabaseUnavailableError as exc:
                log.warning("notification connection lost, reconnecting in %.1f s: %s", delay, exc)
                await pause(delay)
                delay = min(delay * 2, 5)

    def _look_for_work(self) -> None:
        """Notifications sent before LISTEN took effect (at start, while
        reconnecting) are lost: look for work once it has."""
        self.dispatcher.wake()
        self.maintenance.wake()

    def _on_notification(self, payload: str) -> None:
        kind, detail = parse_payload(payload)
        if kind == "cancel":
            self.dispatcher.cancel(int(detail))
        elif kind == "Enqueued":
            self.dispatcher.wake(tenant=detail)
        else:  # Scheduled, Awaiting, recurring, finished: timed work may have changed
            self.maintenance.wake()
