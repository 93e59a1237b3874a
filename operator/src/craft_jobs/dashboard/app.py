"""The dashboard application: `create_app` builds it, `serve` runs it with uvicorn.

    app = create_app(options)                       # opens its own store in the lifespan
    app = create_app(options, store=store)          # shares a caller's store (tests, `craft-jobs dev`)
    await serve(options, "127.0.0.1", 8080)         # `craft-jobs dashboard`

Pages live under `options.dashboard_path` (default /jobs), the REST API under
/api (OpenAPI at /api/openapi.json, readable docs at /api/docs), plus /metrics,
/healthz and /readyz.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from craft_jobs.client.scheduler import JobScheduler
from craft_jobs.clock import Clock, SystemClock
from craft_jobs.dashboard import errors
from craft_jobs.dashboard.api import audit as api_audit
from craft_jobs.dashboard.api import docs as api_docs
from craft_jobs.dashboard.api import jobs as api_jobs
from craft_jobs.dashboard.api import metrics as api_metrics
from craft_jobs.dashboard.api import recurring as api_recurring
from craft_jobs.dashboard.api import servers as api_servers
from craft_jobs.dashboard.api import stats as api_stats
from craft_jobs.dashboard.deps import header_bearer_token, reject_nul_bytes
from craft_jobs.dashboard.auth import Authenticator, KubernetesAuth, NoAuth, TokenAuth, default_kubernetes_client
from craft_jobs.dashboard.metrics import StoreMetrics
from craft_jobs.dashboard.pages import audit as page_audit
from craft_jobs.dashboard.pages import jobs as page_jobs
from craft_jobs.dashboard.pages import overview as page_overview
from craft_jobs.dashboard.pages import recurring as page_recurring
from craft_jobs.dashboard.pages import servers as page_servers
from craft_jobs.dashboard.pages import session as page_session
from craft_jobs.dashboard.pages.render import make_templates
from craft_jobs.dashboard.settings import AuthMode, DashboardSettings, allowed_host_names, check_bind, host_name
from craft_jobs.dashboard.state import CSRF_COOKIE, DashboardState
from craft_jobs.errors import OptionsError
from craft_jobs.options import JobOptions
from craft_jobs.store.stats import StatsStore
from craft_jobs.store.store import JobStore

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
# Everything is served from here: no CDN, no inline script, no framing.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


def default_auth(settings: DashboardSettings, state: DashboardState) -> Authenticator:
    if settings.auth_mode is AuthMode.NONE:
        return NoAuth()
    if settings.auth_mode is AuthMode.TOKEN:
        if settings.tokens_file is None:
            raise OptionsError("CRAFT_JOBS_DASHBOARD_TOKENS_FILE (tokens_file)",
                               "is required with auth mode 'token': a YAML file of tokens, roles and tenants")
        return TokenAuth(settings.tokens_file)

    async def tenants() -> list[str]:
        return await state.stats.tenants()

    return KubernetesAuth(
        default_kubernetes_client, namespace=settings.kubernetes_namespace,
        tenants=tenants if state.options.enable_multi_tenancy else None, cache_seconds=settings.auth_cache_seconds,
    )


PROBES = frozenset({"/healthz", "/readyz"})


def host_allowed(request: Request, hosts: frozenset[str] | None, auth_mode: AuthMode) -> bool:
    """Probes pass, and so do callers with a bearer token where one is checked: a
    rebinding page knows none (in `none` auth any would do, so none passes)."""
    if hosts is None or request.url.path in PROBES:
        return True
    if auth_mode is not AuthMode.NONE and header_bearer_token(request):
        return True
    return host_name(request.headers.get("host", "")) in hosts


def _attach_store(state: DashboardState, store: JobStore) -> None:
    state.store = store
    state.stats = StatsStore(store.connector, state.options, store.clock)
    if state.scheduler is None:
        state.scheduler = JobScheduler(store, state.options)
    state.metrics = StoreMetrics(state.stats)


def create_app(
    options: JobOptions,
    *,
    store: JobStore | None = None,
    scheduler: JobScheduler | None = None,
    auth: Authenticator | None = None,
    settings: DashboardSettings | None = None,
    clock: Clock | None = None,
    bind_host: str | None = None,
) -> FastAPI:
    """`bind_host`: the address served on, accepted as a Host name by default."""
    settings = settings or DashboardSettings()
    hosts = allowed_host_names(settings, bind_host)
    api_metrics.read_metrics_token(settings.metrics_token_file)  # a missing file fails at start, not at scrape
    state = DashboardState(options=options, settings=settings, auth=NoAuth(), templates=make_templates(),
                           scheduler=scheduler)
    state.auth = auth or default_auth(settings, state)
    if store is None and scheduler is not None:
        store = scheduler.store
    if store is not None:
        _attach_store(state, store)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = None
        if state.store is None:
            from craft_jobs.engine.engine import connect_store

            owned = await connect_store(options, clock or SystemClock(), startup_timeout=30, pool_size=10)
            _attach_store(state, owned)
        try:
            yield
        finally:
            if owned is not None:
                await owned.close()

    app = FastAPI(
        title="Craft Jobs", version="0.1.0", lifespan=lifespan,
        description="Background jobs on Kubernetes: schedule, inspect and manage jobs and recurring jobs.",
        docs_url=None, redoc_url=None, openapi_url="/api/openapi.json", dependencies=[Depends(reject_nul_bytes)],
    )
    app.state.dashboard = state
    errors.install(app)

    @app.middleware("http")
    async def _headers(request: Request, call_next) -> Response:
        if not host_allowed(request, hosts, settings.auth_mode):
            # DNS rebinding: a foreign page whose name now points here is no client of ours.
            return JSONResponse({"error": {"code": "bad_host", "field": "Host", "message":
                                 "this host name is not one the dashboard answers to (allowed_hosts)"}},
                                status_code=400)
        response = await call_next(request)
        new_token = getattr(request.state, "new_csrf_token", None)
        if new_token:
            response.set_cookie(CSRF_COOKIE, new_token, httponly=True, samesite="strict",
                                secure=settings.secure_cookies, path="/")
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    for module in (api_jobs, api_recurring, api_servers, api_stats, api_audit, api_metrics, api_docs):
        app.include_router(module.router, responses=errors.ERROR_RESPONSES)
    base = state.base
    for module in (page_session, page_overview, page_jobs, page_recurring, page_servers, page_audit):
        app.include_router(module.router(base))
    app.mount(f"{base}/static", StaticFiles(directory=STATIC), name="static")
    if base:
        @app.get("/", include_in_schema=False)
        async def _root() -> Response:
            return RedirectResponse(f"{base}/", status_code=307)

        @app.get(base, include_in_schema=False)
        async def _base() -> Response:
            return RedirectResponse(f"{base}/", status_code=307)
    return app


async def serve(options: JobOptions, host: str | None = None, port: int | None = None, *,
                settings: DashboardSettings | None = None, store: JobStore | None = None,
                stop: asyncio.Event | None = None) -> None:
    """Runs the dashboard until `stop` is set (or a signal, when run alone).

    `none` auth refuses a non-loopback host (OptionsError)."""
    import uvicorn

    settings = settings or DashboardSettings()
    host = host or settings.host
    port = port or settings.port
    check_bind(settings, host)
    app = create_app(options, settings=settings, store=store, bind_host=host)
    config = uvicorn.Config(app, host=host, port=port, log_level="info", lifespan="on", access_log=False)
    log.info("dashboard on http://%s:%s%s/ (auth: %s)", host, port, options.dashboard_path.rstrip("/"),
             settings.auth_mode.value)
    server = uvicorn.Server(config)
    if stop is None:
        await server.serve()
        return
    # Embedded (craft-jobs dev): the caller's stop event ends it cleanly, as a signal would.

    async def stop_when_told() -> None:
        await stop.wait()
        server.should_exit = True

    watcher = asyncio.create_task(stop_when_told())
    try:
        await server.serve()
    finally:
        watcher.cancel()
