"""Headroom for quiet tenants: slots of an engine that one tenant may not fill.

Claims are fair across tenants (store/sql/jobs.sql), but a freed slot is
needed first: when one tenant's backlog holds every slot, a quiet tenant's
job waits until one of those runs ends, up to a whole run's length. So while
more than one tenant is active here (a run claimed within ACTIVE_WINDOW, or
one still running), no tenant may hold more than `worker_count -
tenant_headroom_slots` of this engine's slots, and the rest stay for the
others: their jobs start as soon as they are enqueued. A tenant alone may
take every slot; one that comes beside it is held to that number from its
first claim. The first job of a tenant not active here still waits for a
slot to free.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

# A tenant counts as active here this long after its last claim on this engine.
ACTIVE_WINDOW = timedelta(seconds=60)


class TenantHeadroom:
    def __init__(self, worker_count: int, headroom_slots: int):
        self.worker_count = worker_count
        # One slot at least for any tenant: an engine of one slot lends it to whoever comes first.
        self.cap = max(1, worker_count - headroom_slots)
        self.enabled = self.cap < worker_count
        self._last_claim: dict[str, datetime] = {}

    def claimed(self, tenants: Iterable[str], now: datetime) -> None:
        if self.enabled:
            for tenant in tenants:
                self._last_claim[tenant] = now

    def rooms(self, running: Counter, now: datetime) -> dict[str, int] | None:
        """How many more slots of this engine each tenant may take: {tenant:
        room, "*": the room of one not named}, or None when any may take all.
        Active: claimed here within the window, or running here."""
        if not self.enabled:
            return None
        since = now - ACTIVE_WINDOW
        for tenant in [t for t, at in self._last_claim.items() if at < since]:
            del self._last_claim[tenant]
        active = self._last_claim.keys() | {tenant for tenant, count in running.items() if count}
        if not active:
            return None
        if len(active) == 1:
            # A tenant alone may take every slot; one that comes beside it may not.
            return {"*": self.cap, active.pop(): self.worker_count}
        return {"*": self.cap, **{tenant: max(0, self.cap - count) for tenant, count in running.items()}}
