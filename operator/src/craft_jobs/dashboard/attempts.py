"""Refused attempts in the audit trail: `refusals_audited` records an action
refused inside it; `attempted` reads what an operator-only request tried to
do from its route, so a refusal of the role (a viewer's click or call) is
recorded like any other."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from craft_jobs.audit import AuditAction, AuditOutcome, TargetKind, current_caller
from craft_jobs.dashboard.errors import ApiError
from craft_jobs.dashboard.state import DashboardState
from craft_jobs.store.audit_store import AuditStore

_ACTIONS = {action.value: action for action in (AuditAction.TRIGGER, AuditAction.REQUEUE, AuditAction.DELETE,
                                                AuditAction.PAUSE, AuditAction.RESUME)}


@dataclass(frozen=True)
class Attempt:
    action: AuditAction
    kind: TargetKind
    target: str | None
    tenant: str | None  # None: the job's own, for a job target


def attempted(request: Request) -> Attempt | None:
    """The action, target and tenant of this request; None when its route names none (a bulk action)."""
    route = getattr(request.scope.get("route"), "path", "")
    params = request.path_params
    tenant = request.query_params.get("tenant")
    last = route.rsplit("/", 1)[-1]
    word = params.get("action") or last
    if "recurring_id" in params:
        action = AuditAction.APPLY if request.method == "PUT" else (
            AuditAction.DELETE if request.method == "DELETE" else _ACTIONS.get(word))
        return Attempt(action, TargetKind.RECURRING, params["recurring_id"], tenant or "") if action else None
    if route.endswith("/jobs") or route.endswith("/continuations"):
        return Attempt(AuditAction.SCHEDULE, TargetKind.JOB, None, tenant or "")
    if route.endswith("/jobs/batch"):
        return Attempt(AuditAction.SCHEDULE, TargetKind.BATCH, None, tenant or "")
    if "job_id" in params:
        action = AuditAction.DELETE if request.method == "DELETE" else _ACTIONS.get(word)
        return Attempt(action, TargetKind.JOB, str(params["job_id"]), None) if action else None
    return None


@contextlib.asynccontextmanager
async def refusals_audited(state: DashboardState, action: AuditAction, kind: TargetKind, target: Any,
                           tenant: str | None = None) -> AsyncIterator[None]:
    """An action refused inside is recorded as refused (403) or not found (404), then raised on.
    A job target's row goes to the job's own tenant: its owners see who tried."""
    try:
        yield
    except ApiError as exc:
        if exc.status in (403, 404):
            outcome = AuditOutcome.REFUSED if exc.status == 403 else AuditOutcome.NOT_FOUND
            await AuditStore(state.store).record(current_caller(), action, kind, target, tenant_id=tenant,
                                                 outcome=outcome, detail=exc.message)
        raise
