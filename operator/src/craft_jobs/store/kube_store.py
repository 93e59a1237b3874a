"""The operator's own queries (sql/kube.sql), beside JobStore."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime

from craft_jobs.store.connector import Session
from craft_jobs.store.models import RecurringJob
from craft_jobs.store.store import JobStore


class KubeStore:
    def __init__(self, store: JobStore):
        self.store = store
        self.queries = store.queries
        self.lock_key = f"craft-jobs:{store.options.schema_name}:kube-status-sync"

    async def jobs_to_sync(self, since: datetime, include_unfinished: bool, limit: int = 5000) -> list[dict]:
        return await self.store.connector.fetch_all(
            self.queries["kube_jobs_to_sync"],
            {"since": since, "include_unfinished": include_unfinished, "limit": limit},
        )

    async def runs_in_flight(self) -> list[dict]:
        return await self.store.connector.fetch_all(self.queries["kube_runs_in_flight"], {})

    async def waiting_jobs(self, every_tenant: bool, tenants: list[str], queues: list[str], after: int,
                           limit: int) -> list[dict]:
        """See kube_waiting_jobs."""
        return await self.store.connector.fetch_all(self.queries["kube_waiting_jobs"], {
            "every_tenant": every_tenant, "tenants": tenants, "queues": queues, "after": after, "limit": limit})

    async def jobs_by_id(self, ids: list[int]) -> list[dict]:
        return await self.store.connector.fetch_all(self.queries["kube_jobs_by_id"], {"ids": ids})

    async def recurring_to_sync(self, since: datetime, include_all: bool,
                                limit: int = 5000) -> list[tuple[RecurringJob, datetime, dict | None]]:
        """(recurring job, when it or its last job changed, the last job's error)."""
        rows = await self.store.connector.fetch_all(
            self.queries["kube_recurring_to_sync"], {"since": since, "include_all": include_all, "limit": limit}
        )
        return [(RecurringJob.model_validate(row), row["changed_at"], row["last_job_error"]) for row in rows]

    async def unfinished_jobs_of_recurring(self, recurring_id: str, tenant_id: str, namespace: str) -> list[int]:
        rows = await self.store.connector.fetch_all(
            self.queries["kube_unfinished_jobs_of_recurring"],
            {"recurring_id": recurring_id, "tenant_id": tenant_id, "namespace": namespace},
        )
        return [row["id"] for row in rows]

    async def installation(self, now: datetime) -> tuple[str, str]:
        return await self.store.installation(now)

    async def recorded_runs(self, runs: list[tuple[int, str]]) -> set[tuple[int, str]]:
        """The (job id, Job ref) pairs whose Kubernetes Job is no longer needed (see kube_recorded_runs)."""
        if not runs:
            return set()
        rows = await self.store.connector.fetch_all(self.queries["kube_recorded_runs"], {
            "ids": [job_id for job_id, _ in runs], "refs": [ref for _, ref in runs]})
        return {(row["job_id"], row["ref"]) for row in rows}

    async def set_job_ref(self, job_id: int, ref: str) -> None:
        await self.store.connector.execute(self.queries["kube_set_job_ref"], {"id": job_id, "ref": ref})

    async def record_eviction(self, job_id: int, pod: str, reason: str, ref: str) -> None:
        await self.store.connector.execute(self.queries["kube_record_eviction"], {
            "id": job_id, "pod": pod, "reason": reason, "ref": ref, "now": self.store.clock.now()})

    async def record_waiting_pod(self, job_id: int, waiting: str, reason: str, ref: str) -> None:
        await self.store.connector.execute(self.queries["kube_record_waiting_pod"], {
            "id": job_id, "waiting": waiting, "reason": reason, "ref": ref, "now": self.store.clock.now()})

    async def take_one_shot(self, session: Session, uid: str, annotation: str, value: str, now: datetime) -> bool:
        """True when this transaction may act on the annotation's value (see kube_take_one_shot)."""
        row = await session.fetch_one(self.queries["kube_take_one_shot"], {
            "uid": uid, "annotation": annotation, "value": value, "now": now})
        return row is not None

    async def forget_one_shot(self, uid: str, annotation: str, value: str) -> None:
        await self.store.connector.execute(self.queries["kube_forget_one_shot"], {
            "uid": uid, "annotation": annotation, "value": value})

    @contextlib.asynccontextmanager
    async def sync_lock(self) -> AsyncIterator[bool]:
        """True inside when this replica holds the status-sync lock for the pass."""
        async with self.store.connector.transaction() as session:
            row = await session.fetch_one(self.queries["kube_try_sync_lock"], {"key": self.lock_key})
            yield bool(row["locked"])
