"""The operator's own queries (sql/kube.sql), beside JobStore."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime

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

    async def recurring_to_sync(self, since: datetime, include_all: bool, limit: int = 5000) -> list[tuple[RecurringJob, datetime]]:
        rows = await self.store.connector.fetch_all(
            self.queries["kube_recurring_to_sync"], {"since": since, "include_all": include_all, "limit": limit}
        )
        return [(RecurringJob.model_validate(row), row["changed_at"]) for row in rows]

    async def unfinished_jobs_of_recurring(self, recurring_id: str) -> list[int]:
        rows = await self.store.connector.fetch_all(
            self.queries["kube_unfinished_jobs_of_recurring"], {"recurring_id": recurring_id}
        )
        return [row["id"] for row in rows]

    @contextlib.asynccontextmanager
    async def sync_lock(self) -> AsyncIterator[bool]:
        """True inside when this replica holds the status-sync lock for the pass."""
        async with self.store.connector.transaction() as session:
            row = await session.fetch_one(self.queries["kube_try_sync_lock"], {"key": self.lock_key})
            yield bool(row["locked"])
