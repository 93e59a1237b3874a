"""`craft-jobs operator`: kopf and the engine (Kubernetes executor) in one process.

    await run_operator(options, stop=stop_event)

- the engine claims jobs (SDK/API jobs and resource jobs alike) and runs each
  as a batch/v1 Job through `KubernetesExecutor`;
- kopf watches BackgroundJob/RecurringJob and turns them into scheduler calls;
- the status sync mirrors the store into the resources' `.status`;
- /healthz (alive: kopf, the engine's loops and the sync run) and /readyz
  (kopf has started and the engine is up) on 0.0.0.0:8081;
- the admission webhooks on 9443 when CRAFT_JOBS_WEBHOOK_ENABLED=true.

Any number of replicas can run: engine claims are exclusive, kopf handlers are
idempotent, and one replica at a time writes statuses. On stop, running
Kubernetes Jobs are left alone; the next operator adopts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp.web
import kopf

from craft_jobs.client.scheduler import JobScheduler
from craft_jobs.clock import Clock, SystemClock
from craft_jobs.engine.engine import DISPATCH_CONNECTIONS, Engine, connect_store
from craft_jobs.kube.api import KubeApi
from craft_jobs.kube.executor import KubernetesExecutor
from craft_jobs.kube.handlers import build_registry
from craft_jobs.kube.kopfthread import Bridge, KopfThread
from craft_jobs.kube.manifest import ManifestSettings
from craft_jobs.kube.reconciler import Reconciler
from craft_jobs.kube.settings import KubeSettings
from craft_jobs.kube.status import StatusSync
from craft_jobs.kube.webhooks import register_webhooks, webhook_server
from craft_jobs.options import JobOptions
from craft_jobs.store.kube_store import KubeStore
from craft_jobs.store.store import JobStore

log = logging.getLogger(__name__)


@dataclass
class OperatorHandle:
    """What a running operator exposes to its caller (tests, benchmarks)."""

    engine: Engine | None = None
    executor: KubernetesExecutor | None = None
    status: StatusSync | None = None
    reconciler: Reconciler | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: dict[str, asyncio.Task] = field(default_factory=dict)
    # The admission webhooks' port, when this operator serves them.
    webhook_port: int | None = None

    def alive(self) -> bool:
        if any(task.done() for task in self.tasks.values()):
            return False
        engine_tasks = getattr(self.engine, "_tasks", [])
        return not any(task.done() for task in engine_tasks)


def manifest_settings(settings: KubeSettings, options: JobOptions, installation: tuple[str, str] = ("", "")) -> ManifestSettings:
    return ManifestSettings(
        pod_start_timeout_seconds=settings.pod_start_timeout_seconds,
        installation_id=installation[0],
        signing_key=installation[1],
        default_image=settings.default_image,
        default_namespace=settings.effective_job_namespace,
        ttl_seconds_after_finished=settings.job_ttl_seconds,
        termination_grace_seconds=settings.termination_grace_seconds,
        cancel_grace_seconds=min(options.cancel_grace_seconds, max(settings.termination_grace_seconds - 5, 1)),
        image_pull_policy=settings.image_pull_policy,
    )


class _RetryForever:
    """kopf's backoffs between retries of a failed API request: its own first steps,
    then every 30 s for as long as it takes. kopf gives up on a request after its
    finite steps (about a minute), and a watch given up on ends kopf's watching for
    good while the process runs on; Kubernetes' own clients wait out an API server's
    absence. Iterable afresh by every request."""

    FIRST = (1, 1, 2, 3, 5, 8, 13, 21)
    THEN = 30.0

    def __iter__(self) -> Iterator[float]:
        yield from self.FIRST
        yield from itertools.repeat(self.THEN)


def kopf_settings(settings: KubeSettings, admission: Any | None) -> kopf.OperatorSettings:
    kopf_config = kopf.OperatorSettings()
    kopf_config.networking.error_backoffs = _RetryForever()
    kopf_config.scanning.disabled = True  # the CRDs are installed by the chart; no CRD reads needed
    kopf_config.posting.level = logging.WARNING  # Events only for problems: each is an API write
    kopf_config.watching.connect_timeout = 10
    kopf_config.watching.server_timeout = 300
    kopf_config.networking.request_timeout = 30
    kopf_config.execution.max_workers = 4
    if admission is not None:
        kopf_config.admission.server = admission
    return kopf_config


async def _webhooks_served(port: int | None) -> bool:
    """Ready only once the webhook server accepts connections: the API server's calls
    must not be refused while a new operator starts."""
    if port is None:
        return True
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


async def _health_server(handle: OperatorHandle, host: str, port: int) -> aiohttp.web.AppRunner:
    async def healthz(_: aiohttp.web.Request) -> aiohttp.web.Response:
        ok = handle.alive()
        return aiohttp.web.json_response({"alive": ok}, status=200 if ok else 500)

    async def readyz(_: aiohttp.web.Request) -> aiohttp.web.Response:
        ok = handle.ready.is_set() and handle.alive() and await _webhooks_served(handle.webhook_port)
        return aiohttp.web.json_response({"ready": ok}, status=200 if ok else 503)

    app = aiohttp.web.Application()
    app.add_routes([aiohttp.web.get("/healthz", healthz), aiohttp.web.get("/readyz", readyz)])
    runner = aiohttp.web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await aiohttp.web.TCPSite(runner, host, port).start()
    return runner


async def run_operator(
    options: JobOptions,
    *,
    stop: asyncio.Event,
    settings: KubeSettings | None = None,
    server: str | None = None,
    store: JobStore | None = None,
    clock: Clock | None = None,
    admission_server: Any | None = None,
    handle: OperatorHandle | None = None,
    stop_grace_seconds: float = 10,
) -> None:
    """Runs until `stop` is set (or a vital part dies, which raises).

    `server` points at an API server without credentials (tests, the
    emulator); `admission_server` replaces the HTTPS webhook server (tests).
    """
    settings = settings or KubeSettings()
    clock = clock or SystemClock()
    handle = handle or OperatorHandle()
    owns_store = store is None
    if store is None:
        store = await connect_store(
            options, clock, startup_timeout=60, pool_size=min(options.worker_count, 10) + 8, dispatch_pool_size=DISPATCH_CONNECTIONS)
    api = KubeApi.connect(server)
    kube_store = KubeStore(store)
    installation = await kube_store.installation(clock.now())
    executor = KubernetesExecutor(api, manifest_settings(settings, options, installation), namespaces=settings.namespaces,
                                  recheck_seconds=settings.job_resync_seconds, store=kube_store,
                                  start_timeout_seconds=settings.pod_start_timeout_seconds)
    engine = Engine(options, executor, kind="operator", store=store, clock=clock)
    scheduler = JobScheduler(store, options)
    reconciler = Reconciler(scheduler, api, settings, options, clock)
    status = StatusSync(reconciler, settings.status_sync_seconds)
    handle.engine, handle.executor, handle.status, handle.reconciler = engine, executor, status, reconciler

    bridge = Bridge(asyncio.get_running_loop())
    registry = build_registry(reconciler, status, bridge)

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        if server:
            return kopf.ConnectionInfo(server=server)
        return kopf.login_via_client(**kwargs)

    admission = admission_server
    if admission is None and settings.webhook_enabled:
        admission = webhook_server(settings)
        handle.webhook_port = settings.webhook_port
    if admission is not None:
        register_webhooks(registry, reconciler, bridge)

    scope: dict[str, Any] = {"namespaces": settings.namespaces} if settings.namespaces else {"clusterwide": True}
    kopf_thread = KopfThread(registry=registry, settings=kopf_settings(settings, admission), standalone=True, **scope)
    health = None
    try:
        await engine.start()
        await executor.start()
        kopf_thread.start()
        handle.tasks["kopf"] = asyncio.ensure_future(asyncio.wrap_future(kopf_thread.done))
        handle.tasks["status"] = asyncio.create_task(status.run(), name="craft-status-sync")
        if settings.health_port:
            health = await _health_server(handle, settings.health_host, settings.health_port)
        await kopf_thread.wait_ready()
        handle.ready.set()
        log.info("operator ready (%s)", "namespaces " + ",".join(settings.namespaces) if settings.namespaces else "cluster-wide")
        stopping = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({stopping, *handle.tasks.values()}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        for task in done:
            if task is not stopping and task.exception() is not None:
                raise task.exception()
            if task is not stopping:
                raise RuntimeError("an operator part stopped unexpectedly")
    finally:
        handle.ready.clear()
        executor.detach()  # Jobs keep running; the next operator adopts them
        try:
            with contextlib.suppress(Exception):
                await engine.stop(stop_grace_seconds)
        finally:  # even when the stop is cancelled: kopf's thread would outlive us
            await kopf_thread.stop()
            for task in handle.tasks.values():
                task.cancel()
            await asyncio.gather(*handle.tasks.values(), return_exceptions=True)
            if health is not None:
                await health.cleanup()
            api.close()
            if owns_store:
                await store.close()
