"""The audit trail's queries (sql/audit.sql), beside JobStore."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from craft_jobs.audit import AuditAction, AuditOutcome, Caller, TargetKind
from craft_jobs.store.connector import Session
from craft_jobs.store.models import AuditEntry
from craft_jobs.store.store import JobStore


@dataclass(frozen=True)
class AuditFilter:
    """What an audit list shows; `tenants` None: every tenant."""

    tenants: Sequence[str] | None = None
    action: AuditAction | None = None
    surface: str | None = None
    outcome: AuditOutcome | None = None
    actor: str | None = None
    job_id: int | None = None
    batch_id: str | None = None  # with job_id: also the row of the batch the job came in
    target_kind: TargetKind | None = None
    target_id: str | None = None


class AuditStore:
    def __init__(self, store: JobStore):
        self.store = store
        self.queries = store.queries

    @property
    def retention(self) -> timedelta:
        options = self.store.options
        return timedelta(days=options.audit_retention_days or options.job_expiration_days)

    async def record(
        self, caller: Caller, action: AuditAction, target_kind: TargetKind, target_id: str | int | None, *,
        tenant_id: str | None = None, outcome: AuditOutcome = AuditOutcome.OK, detail: str | None = None,
        job_id: int | None = None, session: Session | None = None,
    ) -> None:
        """One row; `tenant_id` None: the job's (a job target), else none."""
        if target_kind is TargetKind.JOB and job_id is None and target_id is not None:
            job_id = int(target_id)
        runner = session if session is not None else self.store.connector
        await runner.execute(self.queries["insert_audit"], {
            "at": self.store.clock.now(), "action": action.value, "surface": caller.surface.value,
            "actor": caller.actor, "tenant_id": tenant_id, "target_kind": target_kind.value,
            "target_id": None if target_id is None else str(target_id), "job_id": job_id,
            "outcome": outcome.value, "detail": detail and detail[:500],
        })

    async def list(self, where: AuditFilter, *, before_id: int | None = None, limit: int = 50) -> list[AuditEntry]:
        rows = await self.store.connector.fetch_all(self.queries["list_audit"], {
            "tenants": None if where.tenants is None else list(where.tenants),
            "action": where.action.value if where.action else None, "surface": where.surface,
            "outcome": where.outcome.value if where.outcome else None, "actor": where.actor,
            "job_id": where.job_id, "batch_id": where.batch_id, "target_kind": where.target_kind.value if where.target_kind else None,
            "target_id": where.target_id, "before_id": before_id, "limit": limit,
        })
        return [AuditEntry.model_validate(row) for row in rows]

    async def expire(self, limit: int = 1000, now: datetime | None = None) -> int:
        """Removes up to `limit` rows older than the retention; how many went."""
        cutoff = (now or self.store.clock.now()) - self.retention
        row = await self.store.connector.fetch_one(self.queries["expire_audit"], {"cutoff": cutoff, "limit": limit})
        return row["removed"]
