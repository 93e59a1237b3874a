"""StatsStore: the dashboard's read-only aggregates and lists.

Kept apart from JobStore because nothing here changes a job: these are the
views (counts, charts, filtered lists) and the feed behind /metrics. A tenant
scope is a list of tenant ids, or None for every tenant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel

from craft_jobs.clock import Clock, SystemClock
from craft_jobs.options import JobOptions
from craft_jobs.states import JobState
from craft_jobs.store.connector import Connector
from craft_jobs.store.models import RecurringJob
from craft_jobs.store.queries import load_queries, quoted_schema

Tenants = Sequence[str] | None

_SUMMARY_FIELDS = (
    "id", "job_type", "queue", "state", "tenant_id", "user_id", "attempt", "runs", "max_attempts",
    "created_at", "state_changed_at", "run_at", "started_at", "finished_at", "recurring_id", "parent_id",
    "parameters_preview", "error_type", "error_message",
)


class JobSummary(BaseModel):
    """One row of a job list: enough to show and filter, without the full payload."""

    id: int
    job_type: str
    queue: str
    state: JobState
    tenant_id: str
    user_id: str | None
    attempt: int
    runs: int
    max_attempts: int
    created_at: datetime
    state_changed_at: datetime
    run_at: datetime | None
    started_at: datetime | None = None
    finished_at: datetime | None
    recurring_id: str | None
    parent_id: int | None
    parameters_preview: str
    error_type: str | None
    error_message: str | None


class JobPage(BaseModel):
    jobs: list[JobSummary]
    # Pass as before_id for the next page; None when there is nothing older.
    next_before_id: int | None
    # With a text search: how many jobs this page read, and the oldest id read.
    scanned: int | None = None
    scanned_to: int | None = None


class PlaceInLine(BaseModel):
    """Where an Enqueued job waits: its place in its tenant's line (claims take
    each tenant's oldest in turn), and its tenant's and queue's runs against
    their concurrency limits."""

    place: int
    waiting: int
    running: int
    concurrency_limit: int | None
    queue_running: int
    queue_concurrency_limit: int | None

    @property
    def held_by_tenant_limit(self) -> bool:
        return self.concurrency_limit is not None and self.running >= self.concurrency_limit

    @property
    def held_by_queue_limit(self) -> bool:
        return self.queue_concurrency_limit is not None and self.queue_running >= self.queue_concurrency_limit


class ThroughputPoint(BaseModel):
    bucket: datetime
    succeeded: int
    failed: int


class DurationStats(BaseModel):
    job_type: str
    executions: int
    run_p50: float | None
    run_p95: float | None
    run_p99: float | None
    run_max: float | None
    wait_p50: float | None
    wait_p95: float | None


class QueueLoad(BaseModel):
    """One queue (and tenant): jobs waiting, how long the oldest has waited since, jobs running."""

    queue: str
    tenant_id: str
    enqueued: int
    oldest_enqueued_at: datetime | None
    processing: int


@dataclass(frozen=True, slots=True)
class Counted:
    """A count read up to a cap (`capped`: there are at least `count`), or
    scaled up from a sample (`estimated`)."""

    count: int
    capped: bool
    estimated: bool = False


@dataclass(frozen=True, slots=True)
class JobFilter:
    state: JobState | None = None
    tenants: Tenants = None
    job_type: str | None = None
    queue: str | None = None
    search: str | None = None


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """A job_states row for /metrics: what happened, and how long it took."""

    id: int
    state: JobState
    created_at: datetime
    job_type: str
    wait_seconds: float | None
    run_seconds: float | None


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _tenants(tenants: Tenants) -> list[str] | None:
    return None if tenants is None else list(tenants)


def _filter_params(where: JobFilter) -> dict[str, Any]:
    return {"tenants": _tenants(where.tenants), "job_type": where.job_type, "queue": where.queue}


class StatsStore:
    SEARCH_SCAN_LIMIT = 5_000
    DURATION_SAMPLE = 5_000
    # Counts of a recurring job's runs or of retries stop here.
    COUNT_CAP = 10_000
    # Filtered tab counts read at most this many jobs of each state (a few ms each at any volume).
    COUNT_SAMPLE = 2_000

    def __init__(self, connector: Connector, options: JobOptions, clock: Clock | None = None):
        self.connector = connector
        self.options = options
        self.clock = clock or SystemClock()
        self.queries = load_queries(options.schema_name)
        self._jobs_table = f"{quoted_schema(options.schema_name)}.jobs"

    async def ready(self) -> bool:
        """True when the database answers and the schema is migrated."""
        row = await self.connector.fetch_one(self.queries["stats_ready"], {"jobs_table": self._jobs_table})
        return bool(row and row["migrated"])

    async def state_counts(self, tenants: Tenants = None) -> dict[JobState, int]:
        rows = await self.connector.fetch_all(self.queries["stats_state_counts"], {"tenants": _tenants(tenants)})
        counts = {state: 0 for state in JobState}
        for row in rows:
            counts[JobState(row["state"])] = row["count"]
        return counts

    async def filtered_counts(
        self, where: JobFilter, totals: dict[JobState, int] | None = None, scan: int | None = None
    ) -> dict[JobState, Counted]:
        """Jobs per state under `where`'s tenants, job type and queue (its state and search are ignored).

        Exact for a state with at most `scan` jobs in the tenant scope; for a
        larger one, the share matching among `scan` of its jobs (as its index
        gives them, the newest first for final states) times its total
        (`totals`: state_counts of the same tenants)."""
        scan = scan or self.COUNT_SAMPLE
        totals = totals if totals is not None else await self.state_counts(where.tenants)
        rows = await self.connector.fetch_all(self.queries["stats_filtered_counts"], {**_filter_params(where), "scan": scan})
        counts = {}
        for row in rows:
            state, scanned, matched = JobState(row["state"]), row["scanned"], row["matched"]
            total = totals[state]
            if scanned < scan or total <= scanned:
                counts[state] = Counted(matched, False)
            else:
                counts[state] = Counted(round(matched * total / scanned), False, estimated=True)
        return counts

    async def list_jobs(
        self, where: JobFilter, *, before_id: int | None = None, limit: int = 50, offset: int = 0,
        scan_limit: int | None = None,
    ) -> JobPage:
        """Newest first. `offset` skips that many rows (page numbers); a text search ignores it."""
        params: dict[str, Any] = {
            **_filter_params(where),
            "state": where.state.value if where.state else None,
            "before_id": before_id,
            "limit": limit,
            "offset": offset,
        }
        if not where.search:
            rows = await self.connector.fetch_all(self.queries["stats_list_jobs"], params)
            jobs = [JobSummary.model_validate(row) for row in rows]
            return JobPage(jobs=jobs, next_before_id=jobs[-1].id if len(jobs) == limit else None)
        params.update(pattern=_like_pattern(where.search), scan_limit=scan_limit or self.SEARCH_SCAN_LIMIT)
        rows = await self.connector.fetch_all(self.queries["stats_search_jobs"], params)
        scanned, scanned_to = rows[0]["scanned"], rows[0]["scanned_to"]
        jobs = [JobSummary.model_validate({k: row[k] for k in _SUMMARY_FIELDS}) for row in rows if row["id"] is not None]
        if len(jobs) == limit:
            next_before = jobs[-1].id
        elif scanned == params["scan_limit"]:
            next_before = scanned_to  # the window ran out before the page filled: keep searching older jobs
        else:
            next_before = None
        return JobPage(jobs=jobs, next_before_id=next_before, scanned=scanned, scanned_to=scanned_to)

    async def continuations(self, job_id: int, limit: int = 100) -> list[JobSummary]:
        return await self._summaries("stats_continuations", job_id, limit)

    async def scheduled_by(self, job_id: int, limit: int = 100) -> list[JobSummary]:
        """The jobs `job_id` scheduled while it ran."""
        return await self._summaries("stats_scheduled_by", job_id, limit)

    async def _summaries(self, query: str, job_id: int, limit: int) -> list[JobSummary]:
        rows = await self.connector.fetch_all(self.queries[query], {"id": job_id, "limit": limit})
        return [JobSummary.model_validate(row) for row in rows]

    async def place_in_line(self, job_id: int, tenant_id: str, queue: str) -> PlaceInLine:
        row = await self.connector.fetch_one(self.queries["stats_place_in_line"],
                                             {"id": job_id, "tenant_id": tenant_id, "queue": queue})
        return PlaceInLine(**row, concurrency_limit=self.options.tenant_limit(tenant_id),
                           queue_concurrency_limit=self.options.queue_concurrency_limits.get(queue))

    async def list_retries(self, where: JobFilter, *, limit: int = 50, offset: int = 0) -> list[JobSummary]:
        """Jobs waiting for a retry (Scheduled after a failed run), the next to run first."""
        rows = await self.connector.fetch_all(
            self.queries["stats_list_retries"], {**_filter_params(where), "limit": limit, "offset": offset})
        return [JobSummary.model_validate(row) for row in rows]

    async def retry_count(self, where: JobFilter, cap: int | None = None) -> Counted:
        cap = cap or self.COUNT_CAP
        row = await self.connector.fetch_one(self.queries["stats_retry_count"], {**_filter_params(where), "cap": cap})
        return Counted(row["count"], row["count"] >= cap)

    async def recurring_runs(self, recurring_id: str, tenant_id: str, limit: int = 10, offset: int = 0) -> list[JobSummary]:
        """The runs of one tenant's recurring job (ids are per tenant), newest first."""
        rows = await self.connector.fetch_all(
            self.queries["stats_recurring_runs"],
            {"id": recurring_id, "tenant_id": tenant_id, "limit": limit, "offset": offset}
        )
        return [JobSummary.model_validate(row) for row in rows]

    async def recurring_run_count(self, recurring_id: str, tenant_id: str, cap: int | None = None) -> Counted:
        cap = cap or self.COUNT_CAP
        row = await self.connector.fetch_one(self.queries["stats_recurring_run_count"],
                                             {"id": recurring_id, "tenant_id": tenant_id, "cap": cap})
        return Counted(row["count"], row["count"] >= cap)

    async def queues(self, tenants: Tenants = None) -> list[QueueLoad]:
        rows = await self.connector.fetch_all(self.queries["stats_queues"], {"tenants": _tenants(tenants)})
        return [QueueLoad.model_validate(row) for row in rows]

    async def throughput(
        self, unit: Literal["minute", "hour"], span: timedelta, tenants: Tenants = None
    ) -> list[ThroughputPoint]:
        until = self.clock.now()
        rows = await self.connector.fetch_all(
            self.queries[f"stats_throughput_by_{unit}"],
            {"unit": unit, "since": until - span, "until": until, "tenants": _tenants(tenants)},
        )
        return [ThroughputPoint.model_validate(row) for row in rows]

    async def durations(self, span: timedelta, tenants: Tenants = None) -> list[DurationStats]:
        rows = await self.connector.fetch_all(
            self.queries["stats_durations"],
            {"since": self.clock.now() - span, "sample": self.DURATION_SAMPLE, "tenants": _tenants(tenants)},
        )
        return [DurationStats.model_validate(row) for row in rows]

    async def tenants(self) -> list[str]:
        rows = await self.connector.fetch_all(self.queries["stats_tenants"])
        return [row["tenant_id"] for row in rows]

    async def job_types(self) -> list[str]:
        rows = await self.connector.fetch_all(self.queries["stats_job_types"])
        return [row["job_type"] for row in rows]

    async def list_recurring(self, tenants: Tenants = None) -> list[RecurringJob]:
        rows = await self.connector.fetch_all(self.queries["stats_list_recurring"], {"tenants": _tenants(tenants)})
        return [RecurringJob.model_validate(row) for row in rows]

    # -- the feed behind /metrics ------------------------------------------------

    async def last_history_id(self) -> int:
        row = await self.connector.fetch_one(self.queries["metric_last_history_id"])
        return row["id"]

    async def history_since(self, after: int, settled_before: datetime, limit: int = 20_000) -> list[HistoryEvent]:
        """Transitions after `after`, up to the first one newer than `settled_before`."""
        rows = await self.connector.fetch_all(self.queries["metric_history_since"], {"after": after, "limit": limit})
        events = []
        for row in rows:
            if row["created_at"] > settled_before:
                break
            events.append(HistoryEvent(
                id=row["id"], state=JobState(row["state"]), created_at=row["created_at"],
                job_type=row["job_type"], wait_seconds=row["wait_seconds"], run_seconds=row["run_seconds"],
            ))
        return events
