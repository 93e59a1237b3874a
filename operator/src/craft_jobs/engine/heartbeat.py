"""The server's heartbeat, on threads of its own, and the fence that goes with it.

Others rescue this server's jobs once its heartbeat is older than
`server_timeout_seconds` and its session lock is free (store/lease.py). So
that no rescue ever starts a copy while a run of ours still goes on:

- heartbeats do not wait for the event loop: a busy or blocked loop is not a
  dead engine;
- when this server has not heartbeaten for `server_timeout_seconds` minus two
  intervals (it may be cut off from PostgreSQL while its runs go on), it fences
  its executor: every local run is killed at once and none starts until a
  heartbeat succeeds again. Its heartbeat is then still fresh in the others'
  eyes, with two intervals to spare for the kill. A separate thread keeps
  that deadline, since the heartbeat's own may be stuck in a call to a
  database that does not answer.

And so that no server rescues runs that are not lost, its own or the others':

- it rescues nothing while its own heartbeat is late (more than
  `outage_after_seconds`, two intervals): a rescue that waited for a
  connection through an outage would otherwise run the moment PostgreSQL is
  back, before any heartbeat, ours included, had been written again;
- once its heartbeat is written again after such a gap, it rescues nothing
  for a full `server_timeout_seconds`: the others were probably cut off too,
  not dead, and need that long to heartbeat again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from craft_jobs.clock import Clock
from craft_jobs.engine.executor import Fenceable
from craft_jobs.errors import CraftJobsError, DatabaseUnavailableError
from craft_jobs.options import JobOptions
from craft_jobs.store.lease import LeaseConnection

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(
        self,
        lease: LeaseConnection,
        server_row: Callable[[], dict[str, Any]],
        options: JobOptions,
        clock: Clock,
        fenceable: Fenceable | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.lease = lease
        self.server_row = server_row
        self.clock = clock
        self.fenceable = fenceable
        self.interval = options.heartbeat_interval_seconds
        self.timeout = options.server_timeout_seconds
        self.fence_after = self.timeout - 2 * self.interval
        self.outage_after = options.outage_after_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._last_ok = monotonic()  # when the last heartbeat that succeeded began
        self._rescue_after = 0.0
        self._fenced = False
        self._threads: list[threading.Thread] = []

    # -- one heartbeat ---------------------------------------------------------

    def beat_once(self) -> None:
        began = self._monotonic()
        self.lease.beat(self.server_row(), self.clock.now())
        with self._lock:
            silent = began - self._last_ok
            if silent > self.outage_after:
                # We could not heartbeat either, so the others were probably cut off too,
                # not dead: give them a full timeout to heartbeat before rescuing their jobs.
                log.info("heartbeating again after %.1f s: rescues wait %.0f s", silent, self.timeout)
                self._rescue_after = max(self._rescue_after, began + self.timeout)
            self._last_ok = max(self._last_ok, began)
            # A heartbeat that took most of the window leaves no time to run anything.
            lifted = self._fenced and self._monotonic() - self._last_ok < self.fence_after
            if lifted:
                self._fenced = False
        if lifted:
            log.warning("heartbeating again: local runs may start again")
            self.fenceable.unfence()

    @property
    def fenced(self) -> bool:
        """While fenced, the engine claims nothing."""
        with self._lock:
            return self._fenced

    def may_rescue(self) -> bool:
        """False while our own heartbeat is late, and for a timeout after it is
        written again (see the module's docstring)."""
        with self._lock:
            now = self._monotonic()
            return now - self._last_ok <= self.outage_after and now >= self._rescue_after

    def silent_for(self) -> float:
        with self._lock:
            return self._monotonic() - self._last_ok

    # -- the threads -------------------------------------------------------------

    def start(self) -> None:
        """Call after a first `beat_once()` has succeeded."""
        loops = [("craft-heartbeat", self._beat_loop)]
        if self.fenceable is not None:
            loops.append(("craft-fence", self._fence_loop))
        for name, target in loops:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _beat_loop(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.beat_once()
            except DatabaseUnavailableError as exc:
                log.warning("heartbeat: database unavailable, will retry: %s", exc)
            except CraftJobsError:
                log.exception("heartbeat failed, will retry")
            except Exception:  # the thread must outlive any bug: its silence would fence every run
                log.exception("heartbeat failed unexpectedly, will retry")

    def _fence_loop(self) -> None:
        while True:
            silent = self.silent_for()
            if silent >= self.fence_after:
                self._fence(silent)
            if self._stopping.wait(max(0.05, min(self.interval, self.fence_after - silent))):
                return

    def _fence(self, silent: float) -> None:
        with self._lock:
            if self._fenced:
                return
            self._fenced = True
        reason = (f"its engine could not heartbeat for {silent:.1f} s (is PostgreSQL reachable?) and stopped"
                  " its local runs before another engine could rescue them")
        log.error("no heartbeat for %.1f s: stopping every local run so that none runs twice", silent)
        self.fenceable.fence(reason)

    def stopping(self) -> None:
        """Tells the threads to end, without waiting for them."""
        self._stopping.set()

    def stop(self, remove_server_id: str | None = None) -> None:
        """Stops the threads; with `remove_server_id`, deletes the row, then ends the session."""
        self.stopping()
        for thread in self._threads:
            thread.join(timeout=self.timeout)
        self._threads.clear()
        try:
            if remove_server_id is not None:
                self.lease.remove(remove_server_id)
        finally:
            self.lease.close()
