"""When an enqueue's NOTIFY goes out: with its commit, or just after it.

PostgreSQL holds a database-wide lock from a notifying transaction's
pre-commit until its commit is flushed, so concurrent enqueues that each
NOTIFY commit one after another: group commit cannot help them. Measured
with ten producers in one process, that halved their throughput.

So an enqueue on our own pooled connection notifies with its commit when no
other enqueue of this process is under way: a lone job wakes the engines as
soon as it exists, in one round trip. One that runs alongside others commits
without a NOTIFY and asks for one after its commit; one statement then
covers every job committed before it started. At most one such NOTIFY is in
flight, at most one per `QUIET_SECONDS`, and one more follows when jobs
committed meanwhile. A NOTIFY sent after a job's commit wakes a claim that
sees the job, so none is missed; if sending fails, the engines' polling
finds the jobs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

# Under load, a process sends at most one NOTIFY per interval after commits;
# a job enqueued alongside others waits at most this long for its wake-up call.
QUIET_SECONDS = 0.005


def job_payload(state: str, tenant_id: str) -> str:
    """The NOTIFY of one stored job, as insert_job sends it: its state and its
    tenant ("Enqueued:acme"), so that an engine with no room for that tenant
    need not claim (engine/headroom.py). Others send the state alone."""
    return f"{state}:{tenant_id}"


def parse_payload(payload: str) -> tuple[str, str | None]:
    """(kind, detail or None) of a NOTIFY payload: ("Enqueued", tenant), ("cancel", job id), ("finished", None)."""
    kind, colon, detail = payload.partition(":")
    return kind, detail if colon else None


class Notifier:
    def __init__(self, send: Callable[[str], Awaitable[None]], quiet_seconds: float = QUIET_SECONDS):
        """`send(payload)` runs one NOTIFY in a transaction of its own."""
        self._send = send
        self._quiet_seconds = quiet_seconds
        self._last_sent = float("-inf")
        self._pending: set[str] = set()
        self._task: asyncio.Task | None = None
        self._under_way = 0
        self._now = asyncio.Event()  # set by flush: stop waiting out the interval

    def starting(self) -> bool:
        """An enqueue starts: whether its statement should NOTIFY with its
        commit. Pair with `finished`; if not, call `after_commit` once it has
        committed."""
        self._under_way += 1
        return self._under_way == 1

    def finished(self) -> None:
        self._under_way -= 1

    def after_commit(self, payload: str) -> None:
        """A job with `payload` committed without a NOTIFY: send one soon."""
        self._pending.add(payload)
        if self._task is None:
            self._task = asyncio.create_task(self._send_pending(), name="craft-jobs-notify")

    async def _send_pending(self) -> None:
        try:
            while self._pending:
                wait = self._last_sent + self._quiet_seconds - time.monotonic()
                if wait > 0 and not self._now.is_set():
                    try:
                        await asyncio.wait_for(self._now.wait(), wait)
                    except asyncio.TimeoutError:
                        pass
                payloads, self._pending = self._pending, set()
                self._last_sent = time.monotonic()
                for payload in sorted(payloads):
                    try:
                        await self._send(payload)
                    except Exception as exc:  # the engines' polling finds the jobs
                        log.warning("could not send NOTIFY %r; engines will find the jobs by polling: %s", payload, exc)
        finally:
            self._task = None

    async def flush(self) -> None:
        """Sends what is pending now, without waiting out the interval."""
        task = self._task
        if task is not None:
            self._now.set()
            try:
                await task
            finally:
                self._now.clear()
