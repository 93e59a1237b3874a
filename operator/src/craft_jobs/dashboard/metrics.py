"""/metrics: Prometheus figures derived from the store at scrape time.

Jobs by state is counted at each scrape. Transitions and the two histograms
read the state history after the last row seen (a job_states id), so they
count from this process's start like any Prometheus counter; rows younger
than `settle` are left for the next scrape so that a transaction committing
late is not skipped. Labels: state and job_type only, never user or tenant.

With multi-tenancy, `craft_jobs_tenant_jobs{tenant,state}` counts each
tenant's jobs; a caller granted some tenants only gets those series, and none
of the installation-wide ones (they add up every tenant's work).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from craft_jobs.states import JobState
from craft_jobs.store.stats import StatsStore

DURATION_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, float("inf"))
LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, float("inf"))


class StoreMetrics:
    def __init__(self, stats: StatsStore, settle: timedelta = timedelta(seconds=5), batch: int = 20_000):
        self.stats = stats
        self.settle = settle
        self.batch = batch
        self.registry = CollectorRegistry(auto_describe=True)
        self.jobs = Gauge("craft_jobs_jobs", "Jobs in the store by state, counted at scrape", ["state"],
                          registry=self.registry)
        self.transitions = Counter("craft_jobs_transitions", "State transitions recorded since this process started",
                                   ["state"], registry=self.registry)
        self.duration = Histogram("craft_jobs_execution_duration_seconds",
                                  "Run time of executions that ended (succeeded, failed or retried)",
                                  ["job_type"], buckets=DURATION_BUCKETS, registry=self.registry)
        self.latency = Histogram("craft_jobs_enqueue_to_start_seconds",
                                 "Wait between a job becoming Enqueued and an execution starting",
                                 ["job_type"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.database_up = Gauge("craft_jobs_database_up", "1 when the last scrape reached PostgreSQL",
                                 registry=self.registry)
        self._after: int | None = None
        self._lock = asyncio.Lock()
        for state in JobState:
            self.transitions.labels(state.value)

    async def refresh(self) -> None:
        async with self._lock:
            try:
                counts = await self.stats.state_counts()
                if self._after is None:
                    self._after = await self.stats.last_history_id()
                else:
                    await self._read_history()
            except Exception:
                self.database_up.set(0)
                raise
            self.database_up.set(1)
            for state, count in counts.items():
                self.jobs.labels(state.value).set(count)

    async def _read_history(self) -> None:
        settled = self.stats.clock.now() - self.settle
        for _ in range(10):  # bounded work per scrape; the rest waits for the next one
            events = await self.stats.history_since(self._after, settled, self.batch)
            for event in events:
                self.transitions.labels(event.state.value).inc()
                if event.run_seconds is not None:
                    self.duration.labels(event.job_type).observe(max(event.run_seconds, 0.0))
                if event.wait_seconds is not None:
                    self.latency.labels(event.job_type).observe(max(event.wait_seconds, 0.0))
            if events:
                self._after = events[-1].id
            if len(events) < self.batch:
                return

    async def render(self, tenants: Sequence[str] | None = None, *, per_tenant: bool = False) -> bytes:
        """Everything (`tenants` None), else only the series of those tenants.
        `per_tenant`: with multi-tenancy, add each tenant's counts."""
        if tenants is not None:
            return await self._tenant_series(tenants)
        await self.refresh()
        text = generate_latest(self.registry)
        return text + await self._tenant_series(await self.stats.tenants()) if per_tenant else text

    async def _tenant_series(self, tenants: Sequence[str]) -> bytes:
        registry = CollectorRegistry(auto_describe=True)
        gauge = Gauge("craft_jobs_tenant_jobs", "Jobs in the store by tenant and state, counted at scrape",
                      ["tenant", "state"], registry=registry)
        for tenant in tenants:
            for state, count in (await self.stats.state_counts([tenant])).items():
                gauge.labels(tenant, state.value).set(count)
        return generate_latest(registry)
