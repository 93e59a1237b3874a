"""Login and logout for the pages: the token goes into an HttpOnly, SameSite=Strict cookie."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from craft_jobs.audit import AuditAction, AuditOutcome, Caller, Surface, TargetKind
from craft_jobs.dashboard.auth import Principal, Role
from craft_jobs.dashboard.deps import State, check_csrf, ensure_csrf_token
from craft_jobs.dashboard.pages.render import render
from craft_jobs.dashboard.state import SESSION_COOKIE
from craft_jobs.store.audit_store import AuditStore


def _safe_next(state, target: str | None) -> str:
    # Only paths inside the dashboard: never an open redirect to another site.
    if target and target.startswith(state.base + "/") and not target.startswith("//"):
        return target
    return f"{state.base}/"


async def _audit_login(state, principal: Principal | None) -> None:
    """A login, or a refused one; under the principal's tenant when it has exactly one."""
    tenants = principal.tenants_with(Role.VIEWER) if principal else None
    await AuditStore(state.store).record(
        Caller(Surface.DASHBOARD, principal.name if principal else "(unknown token)"), AuditAction.LOGIN,
        TargetKind.SESSION, None, tenant_id=tenants[0] if tenants and len(tenants) == 1 else "",
        outcome=AuditOutcome.OK if principal else AuditOutcome.REFUSED,
        detail=None if principal else "the token is not valid")


def router(base: str) -> APIRouter:
    pages = APIRouter(prefix=base, include_in_schema=False)

    @pages.get("/login")
    async def login_page(request: Request, state: State, next: str | None = None) -> Response:
        ensure_csrf_token(request)
        return render(request, state, "login.html", next=_safe_next(state, next), failed=False)

    @pages.post("/login")
    async def login(
        request: Request, state: State, token: Annotated[str, Form()], next: Annotated[str | None, Form()] = None
    ) -> Response:
        ensure_csrf_token(request)
        await check_csrf(request)
        principal = await state.auth.authenticate(token.strip())
        await _audit_login(state, principal)
        if principal is None:
            response = render(request, state, "login.html", next=_safe_next(state, next), failed=True)
            response.status_code = 401
            return response
        response = RedirectResponse(_safe_next(state, next), status_code=303)
        response.set_cookie(SESSION_COOKIE, token.strip(), httponly=True, samesite="strict",
                            secure=state.settings.secure_cookies, path="/")
        return response

    @pages.post("/logout")
    async def logout(request: Request, state: State) -> Response:
        await check_csrf(request)
        response = RedirectResponse(f"{state.base}/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    return pages
