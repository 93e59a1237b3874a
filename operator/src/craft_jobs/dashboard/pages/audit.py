"""The Audit page: the audit trail, filterable, tenant-scoped, paged like the job list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from craft_jobs.audit import AuditAction, AuditOutcome, Surface
from craft_jobs.dashboard import limits_api, service
from craft_jobs.dashboard.api.audit import audit_page
from craft_jobs.dashboard.deps import State, Viewer
from craft_jobs.dashboard.errors import ApiError
from craft_jobs.dashboard.pages.render import render


def _blank_is_none(value: str | None) -> str | None:
    return value or None  # a filter form sends "" for "any"


def _choice(kind, field: str, value: str | None):
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        raise ApiError(422, "invalid", f"must be one of {', '.join(k.value for k in kind)}", field) from None


def router(base: str) -> APIRouter:
    pages = APIRouter(prefix=base, include_in_schema=False)

    @pages.get("/audit")
    async def audit(
        request: Request,
        state: State,
        scope: Viewer,
        tenant: str | None = None,
        action: str | None = None,
        surface: str | None = None,
        outcome: str | None = None,
        actor: Annotated[str | None, Query(max_length=300)] = None,
        before_id: Annotated[int | None, Query(ge=1, le=limits_api.BIGINT_MAX)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> Response:
        chosen = {"tenant": _blank_is_none(tenant), "action": _blank_is_none(action), "surface": _blank_is_none(surface),
                  "outcome": _blank_is_none(outcome), "actor": _blank_is_none(actor)}
        page = await audit_page(
            state, scope, tenant=chosen["tenant"], actor=chosen["actor"], before_id=before_id, limit=limit,
            action=_choice(AuditAction, "action", chosen["action"]),
            surface=_choice(Surface, "surface", chosen["surface"]),
            outcome=_choice(AuditOutcome, "outcome", chosen["outcome"]),
        )
        filters = {**chosen, "limit": limit if limit != 50 else None}
        tenants = await service.filter_tenants(state, scope)
        return render(request, state, "audit.html", page=page, filters=filters, before_id=before_id, tenants=tenants,
                      actions=list(AuditAction), surfaces=list(Surface), outcomes=list(AuditOutcome))

    return pages
