"""Why an Enqueued BackgroundJob waits: a tenant's or a queue's concurrency limit.

The dashboard's job page says so; this is the same for `kubectl describe bj`:
the status sync gives a held job the condition Held (True, reason
TenantConcurrencyLimit or QueueConcurrencyLimit), and Held False (Released)
once no limit holds it. The runs in flight are counted once per sync pass.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from craft_jobs.options import JobOptions

TENANT_LIMIT = "TenantConcurrencyLimit"
QUEUE_LIMIT = "QueueConcurrencyLimit"


def limits_set(options: JobOptions) -> bool:
    return (options.tenant_concurrency_limit is not None or bool(options.tenant_concurrency_limits)
            or bool(options.queue_concurrency_limits))


@dataclass(frozen=True)
class RunsInFlight:
    tenants: Counter = field(default_factory=Counter)
    queues: Counter = field(default_factory=Counter)

    @classmethod
    def from_rows(cls, rows: list[dict[str, Any]]) -> RunsInFlight:
        tenants, queues = Counter(), Counter()
        for row in rows:
            tenants[row["tenant_id"]] += row["running"]
            queues[row["queue"]] += row["running"]
        return cls(tenants, queues)


def hold_of(options: JobOptions, running: RunsInFlight, tenant: str, queue: str) -> tuple[str, str] | None:
    """(reason, message) when a limit holds a waiting job of this tenant and queue."""
    limit = options.tenant_limit(tenant)
    if limit is not None and running.tenants[tenant] >= limit:
        who = f"tenant {tenant}" if tenant else "the default tenant"
        return TENANT_LIMIT, f"held: {who} runs {running.tenants[tenant]} of its limit of {limit}"
    limit = options.queue_concurrency_limits.get(queue)
    if limit is not None and running.queues[queue] >= limit:
        return QUEUE_LIMIT, f"held: queue {queue} runs {running.queues[queue]} of its limit of {limit}"
    return None


@dataclass(frozen=True)
class HeldScope:
    """Where waiting jobs may be held now: what the sync reads beyond the jobs that changed."""

    every_tenant: bool  # the default tenant limit is reached by tenants with nothing running
    tenants: list[str]
    queues: list[str]


def held_scope(options: JobOptions, running: RunsInFlight) -> HeldScope:
    default = options.tenant_concurrency_limit
    tenants = {t for t, n in running.tenants.items() if (limit := options.tenant_limit(t)) is not None and n >= limit}
    tenants |= {t for t, limit in options.tenant_concurrency_limits.items() if running.tenants[t] >= limit}
    queues = {q for q, limit in options.queue_concurrency_limits.items() if running.queues[q] >= limit}
    return HeldScope(every_tenant=default == 0, tenants=sorted(tenants), queues=sorted(queues))
