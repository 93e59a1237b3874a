"""What an operator-only request tried to do, read from its route, so that a
refusal of the role (a viewer's click or call) is audited like any other."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from craft_jobs.audit import AuditAction, TargetKind

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
