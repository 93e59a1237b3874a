"""Request dependencies (Annotated): the shared state, who is calling, their tenant scope.

`Viewer` reads; `Operator` acts, and for an unsafe method also passes the
CSRF check: the double-submit token (cookie + form field or X-CSRF-Token),
unless the caller was authenticated by an `Authorization: Bearer` token, which
a browser never sends on its own (the session cookie it does send still needs
the token, whatever other header comes with it). In `none` auth there is no
credential at all: there an `X-Requested-By` header also passes (no cross-site
page can send one without a CORS preflight, which this app never grants).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from craft_jobs import job_tokens
from craft_jobs.audit import Surface, set_caller
from craft_jobs.client.scheduler import JobScheduler
from craft_jobs.dashboard.attempts import attempted, refusals_audited
from craft_jobs.dashboard.auth import Principal, Role
from craft_jobs.dashboard.errors import ApiError, LoginRequired, forbidden, not_found
from craft_jobs.dashboard.run_auth import run_principal
from craft_jobs.dashboard.settings import AuthMode
from craft_jobs.dashboard.state import CSRF_COOKIE, SESSION_COOKIE, DashboardState
from craft_jobs.store.stats import StatsStore
from craft_jobs.store.store import JobStore

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def reject_nul_bytes(request: Request) -> None:
    """PostgreSQL cannot store or compare text with NUL: a query or path
    parameter holding one is refused by name (app-wide dependency)."""
    for name, value in [*request.path_params.items(), *request.query_params.multi_items()]:
        if isinstance(value, str) and "\x00" in value:
            raise ApiError(422, "invalid", "contains a NUL byte", name)


def get_state(request: Request) -> DashboardState:
    return request.app.state.dashboard


State = Annotated[DashboardState, Depends(get_state)]


def get_store(state: State) -> JobStore:
    return state.store


def get_stats(state: State) -> StatsStore:
    return state.stats


def get_scheduler(state: State) -> JobScheduler:
    return state.scheduler


Store = Annotated[JobStore, Depends(get_store)]
Stats = Annotated[StatsStore, Depends(get_stats)]
Scheduler = Annotated[JobScheduler, Depends(get_scheduler)]


def header_bearer_token(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def bearer_token(request: Request) -> str | None:
    """The credential: an `Authorization: Bearer` header wins over the session cookie."""
    return header_bearer_token(request) or request.cookies.get(SESSION_COOKIE)


def ensure_csrf_token(request: Request) -> str:
    """This browser's CSRF token (set as a cookie by the page middleware when new)."""
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf_token", None)
    if token is None:
        token = secrets.token_urlsafe(32)
        request.state.new_csrf_token = token
    request.state.csrf_token = token
    return token


async def current_principal(request: Request, state: State) -> Principal:
    token = bearer_token(request)
    if job_tokens.looks_like_run_token(token):
        principal = await run_principal(request, state, token)
    else:
        principal = await state.auth.authenticate(token)
    if principal is None:
        if not request.url.path.startswith("/api") and request.method in SAFE_METHODS:
            raise LoginRequired()
        if state.settings.auth_mode is AuthMode.KUBERNETES:
            raise ApiError(401, "unauthenticated", "the token is not valid or grants no access to backgroundjobs")
        raise ApiError(401, "unauthenticated", "a valid bearer token is required")
    request.state.principal = principal
    # What the CSRF check needs to know: did a bearer header (never ambient) authenticate?
    request.state.by_bearer_header = header_bearer_token(request) is not None
    return principal


@dataclass(frozen=True)
class Scope:
    """What a principal may see and touch. `tenants` None: every tenant."""

    principal: Principal
    multi_tenancy: bool

    @property
    def tenants(self) -> list[str] | None:
        return self.principal.tenants_with(Role.VIEWER) if self.multi_tenancy else None

    @property
    def user(self) -> str:
        """Who the jobs it makes belong to: a running job acts for its own user."""
        run = self.principal.run
        return run.user_id or self.principal.name if run is not None else self.principal.name

    @property
    def scheduling_job(self) -> int | None:
        """The running job making this request, if one is."""
        return self.principal.run.job_id if self.principal.run is not None else None

    def can_see(self, tenant: str) -> bool:
        return not self.multi_tenancy or self.principal.role_in(tenant) is not None

    def can_operate(self, tenant: str) -> bool:
        role = self.principal.role if not self.multi_tenancy else self.principal.role_in(tenant)
        return role is not None and role >= Role.OPERATOR

    def narrow(self, tenant: str | None) -> Sequence[str] | None:
        """The tenants a list shows when the caller filters by `tenant`."""
        if not tenant:
            return self.tenants
        if not self.can_see(tenant):
            raise forbidden(f"tenant {tenant!r} is not granted to you", "tenant")
        return [tenant]

    def check_visible(self, tenant: str, what: str) -> None:
        # Someone else's job looks like no job at all: its id says nothing.
        if not self.can_see(tenant):
            raise not_found(what)

    def check_operable(self, tenant: str, what: str) -> None:
        self.check_visible(tenant, what)
        if not self.can_operate(tenant):
            raise forbidden(f"your role may only view {what}")


async def viewer_scope(request: Request, state: State, principal: Annotated[Principal, Depends(current_principal)]) -> Scope:
    ensure_csrf_token(request)
    return Scope(principal, state.options.enable_multi_tenancy)


Viewer = Annotated[Scope, Depends(viewer_scope)]


async def check_csrf(request: Request) -> None:
    if request.method in SAFE_METHODS:
        return
    if getattr(request.state, "by_bearer_header", False):
        return
    state: DashboardState = request.app.state.dashboard
    if state.settings.auth_mode is AuthMode.NONE and request.headers.get("x-requested-by"):
        return
    expected = request.cookies.get(CSRF_COOKIE)
    given = request.headers.get("x-csrf-token")
    if given is None and "form" in request.headers.get("content-type", ""):
        given = (await request.form()).get("csrf_token")
    if not expected or not isinstance(given, str) or not hmac.compare_digest(expected, given):
        raise ApiError(403, "csrf", "missing or wrong CSRF token: reload the page and try again", "csrf_token")


def surface_of(request: Request) -> Surface:
    return Surface.API if request.url.path.startswith("/api") else Surface.DASHBOARD


async def operator_scope(request: Request, state: State, scope: Viewer) -> Scope:
    # What this request does is recorded as done by this principal (a running
    # job's credential: `job:<id>`) from this surface.
    set_caller(surface_of(request), scope.principal.name)
    await check_csrf(request)
    if scope.principal.role < Role.OPERATOR:
        refusal = forbidden("this action needs the operator role; yours is viewer")
        attempt = attempted(request)
        if attempt is None:
            raise refusal
        # No tenant named: the viewer's own when it has one (as for logins), so it sees its own refusals.
        granted = scope.principal.tenants_with(Role.VIEWER) or []
        tenant = attempt.tenant or (granted[0] if len(granted) == 1 else attempt.tenant)
        async with refusals_audited(state, attempt.action, attempt.kind, attempt.target, tenant):
            raise refusal
    return scope


Operator = Annotated[Scope, Depends(operator_scope)]
