"""/api/audit: who did what, from where, newest first; only the caller's tenants."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from craft_jobs.audit import AuditAction, AuditOutcome, Surface, TargetKind
from craft_jobs.dashboard import limits_api
from craft_jobs.dashboard.api.envelope import Page
from craft_jobs.dashboard.deps import State, Viewer
from craft_jobs.store.audit_store import AuditFilter, AuditStore
from craft_jobs.store.models import AuditEntry

router = APIRouter(prefix="/api", tags=["audit"])


AuditPage = Page[AuditEntry]


async def audit_page(state, scope, *, tenant: str | None = None, action: AuditAction | None = None,
                     surface: Surface | None = None, outcome: AuditOutcome | None = None, actor: str | None = None,
                     job_id: int | None = None, recurring_id: str | None = None, before_id: int | None = None,
                     limit: int = 50) -> AuditPage:
    """The API's and the page's list: tenant-scoped like every list (`scope.narrow`)."""
    where = AuditFilter(
        tenants=scope.narrow(tenant), action=action, surface=surface.value if surface else None, outcome=outcome,
        actor=actor or None, job_id=job_id, target_kind=TargetKind.RECURRING if recurring_id else None,
        target_id=recurring_id or None,
    )
    entries = await AuditStore(state.store).list(where, before_id=before_id, limit=limit)
    return AuditPage(items=entries, next_before_id=entries[-1].id if len(entries) == limit else None)


@router.get("/audit", response_model=AuditPage, summary="The audit trail: schedules, triggers, requeues, deletes, "
            "pauses, resumes, applies and logins, refusals included")
async def list_audit(
    state: State,
    scope: Viewer,
    tenant: Annotated[str | None, Query(description="one of your tenants")] = None,
    action: AuditAction | None = None,
    surface: Surface | None = None,
    outcome: AuditOutcome | None = None,
    actor: Annotated[str | None, Query(max_length=300, description="Kubernetes user or API principal")] = None,
    job_id: Annotated[int | None, Query(ge=1, le=limits_api.BIGINT_MAX)] = None,
    recurring_id: Annotated[str | None, Query(max_length=253)] = None,
    before_id: Annotated[int | None, Query(ge=1, le=limits_api.BIGINT_MAX, description="next_before_id of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> AuditPage:
    return await audit_page(state, scope, tenant=tenant, action=action, surface=surface, outcome=outcome, actor=actor,
                            job_id=job_id, recurring_id=recurring_id, before_id=before_id, limit=limit)
