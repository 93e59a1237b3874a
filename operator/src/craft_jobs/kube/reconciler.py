"""What the kopf handlers do, without kopf: resources in, scheduler calls out.

Every action goes through `JobScheduler`, so a resource is validated exactly
as an SDK or API call would be. The kopf layer (handlers.py) only maps the
outcome: `SpecError` -> a condition and `kopf.PermanentError`,
`RetryLater` -> `kopf.TemporaryError`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from craft_jobs.audit import Surface, acting_as
from craft_jobs.client.scheduler import JobScheduler
from craft_jobs.clock import Clock, SystemClock
from craft_jobs.errors import (
    DatabaseUnavailableError,
    RecurringJobNotFoundError,
    StoreError,
    ValidationError,
)
from craft_jobs.kube.api import KubeApi, KubeApiError
from craft_jobs.kube.job_metadata import Owner
from craft_jobs.kube.names import (
    ANNOTATION_CHANGED_BY,
    ANNOTATION_CREATED_BY,
    ANNOTATION_REQUESTED_BY,
    ANNOTATION_REQUEUE,
    ANNOTATION_TRIGGER,
    NAMESPACE_TENANT_LABEL,
)
from craft_jobs.kube.spec import background_request, job_request, recurring_id, recurring_request
from craft_jobs.kube.submit import submit_job, submit_recurring
from craft_jobs.kube.oneshot import Transient, take_one_shot
from craft_jobs.kube.settings import KubeSettings
from craft_jobs.options import JobOptions
from craft_jobs.resource_ref import ResourceRef
from craft_jobs.schedules import parse_schedule
from craft_jobs.store.kube_store import KubeStore

log = logging.getLogger(__name__)

BACKGROUND_JOBS = "backgroundjobs"
# Who acted when no user is known: Kubernetes itself (a deleted resource, a one-shot annotation).
KUBERNETES_ACTOR = "kubernetes"
RECURRING_JOBS = "recurringjobs"


class SpecError(Exception):
    """The resource's spec cannot be used; `error` names the field."""

    def __init__(self, error: ValidationError, recurring: bool = False):
        super().__init__(str(error))
        self.error = error
        self.recurring = recurring


class RetryLater(Exception):
    def __init__(self, message: str, delay: float):
        super().__init__(message)
        self.delay = delay


@dataclass
class _Tenants:
    ttl: float = 30.0
    entries: dict[str, tuple[float, str]] = field(default_factory=dict)


class Reconciler:
    def __init__(self, scheduler: JobScheduler, api: KubeApi, settings: KubeSettings, options: JobOptions,
                 clock: Clock | None = None):
        self.scheduler = scheduler
        self.store = scheduler.store
        self.kube_store = KubeStore(scheduler.store)
        self.api = api
        self.settings = settings
        self.options = options
        self.clock = clock or SystemClock()
        self._tenants = _Tenants()

    # -- who and for whom -----------------------------------------------------------------

    async def tenant_of(self, namespace: str) -> str | None:
        """The namespace's `jobs.craft.dev/tenant` label, else its name (multi-tenancy only)."""
        if not self.options.enable_multi_tenancy:
            return None
        cached = self._tenants.entries.get(namespace)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        tenant = namespace
        try:
            ns = await self.api.get_namespace(namespace)
            label = ((ns or {}).get("metadata") or {}).get("labels", {}).get(NAMESPACE_TENANT_LABEL)
            if label:
                tenant = label
        except KubeApiError as exc:
            if exc.status not in (403, 404):
                raise RetryLater(f"cannot read namespace {namespace}: {exc}", 5) from exc
        self._tenants.entries[namespace] = (time.monotonic() + self._tenants.ttl, tenant)
        return tenant

    def user_of(self, meta: dict[str, Any], annotation: str = ANNOTATION_CREATED_BY) -> str | None:
        """The creator (or last changer) recorded by our mutating webhook; without
        webhooks nobody vouches for it."""
        if not self.settings.webhook_enabled:
            return None
        return ((meta.get("annotations") or {}).get(annotation)) or None

    def acting(self, user: str | None):
        """What follows is audited as done through Kubernetes by `user`."""
        return acting_as(Surface.KUBECTL, user or KUBERNETES_ACTOR)

    # -- BackgroundJob ---------------------------------------------------------------------

    async def create_background_job(self, body: dict[str, Any]) -> int:
        """Stores the job of a BackgroundJob; idempotent (a second call returns the same id)."""
        meta = body["metadata"]
        resource = ResourceRef.of(meta)
        try:
            request = background_request(body, now=self.clock.now(), default_image=self.settings.default_image)
        except ValidationError as exc:
            raise SpecError(exc) from exc
        tenant = await self.tenant_of(resource.namespace)
        user = self.user_of(meta)
        try:
            parent_id = None
            if request.continue_after:
                parent_id = await self._parent_job(resource.namespace, request.continue_after, tenant, request.created_at)
            with self.acting(user):
                return await submit_job(self.scheduler, request, resource, parent_id=parent_id, tenant_id=tenant,
                                        user_id=user)
        except ValidationError as exc:
            raise SpecError(exc) from exc
        except (DatabaseUnavailableError, StoreError) as exc:
            raise RetryLater(str(exc), 5) from exc

    async def _parent_job(
        self, namespace: str, parent_name: str, tenant: str | None, created_at: datetime | None
    ) -> int:
        try:
            parent = await self.api.get_custom(BACKGROUND_JOBS, namespace, parent_name)
        except KubeApiError as exc:
            raise RetryLater(f"cannot read BackgroundJob {parent_name}: {exc}", 5) from exc
        if parent is None:
            waited = (self.clock.now() - created_at).total_seconds() if created_at else float("inf")
            if waited < self.settings.parent_wait_seconds:
                raise RetryLater(f"waiting for BackgroundJob {parent_name!r} to be created", 1)
            raise SpecError(ValidationError(
                "parent_id", f"BackgroundJob {parent_name!r} does not exist in namespace {namespace!r}"
                f" (waited {self.settings.parent_wait_seconds:g} s for it)"))
        job = await self.store.get_job_by_cr_uid(parent["metadata"]["uid"])
        if job is None:
            for condition in (parent.get("status") or {}).get("conditions") or ():
                if condition.get("type") == "Accepted" and condition.get("status") == "False":
                    raise SpecError(ValidationError("parent_id", f"BackgroundJob {parent_name!r} is invalid: {condition.get('message', '')}"))
            raise RetryLater(f"BackgroundJob {parent_name!r} is not stored yet", 1)
        return job.id

    async def job_of(self, uid: str):
        try:
            return await self.store.get_job_by_cr_uid(uid)
        except (DatabaseUnavailableError, StoreError) as exc:
            raise RetryLater(str(exc), 5) from exc

    async def requeue_background_job(self, body: dict[str, Any], actor: str | None) -> bool:
        """Acts on the resource's `jobs.craft.dev/requeue` once (see oneshot.py), then removes it."""
        job = await self.job_of(body["metadata"]["uid"])
        if job is None:
            return False

        actor = actor or self.user_of(body["metadata"], ANNOTATION_REQUESTED_BY)

        async def requeue(session) -> None:
            with self.acting(actor):
                await self.scheduler.requeue(job.id, session=session)
        return await self._one_shot(BACKGROUND_JOBS, body, ANNOTATION_REQUEUE, requeue)

    async def _one_shot(self, plural: str, body: dict[str, Any], key: str, act) -> bool:
        try:
            return await take_one_shot(self.api, self.kube_store, plural, body, key, self.clock.now(), act)
        except Transient as exc:
            raise RetryLater(str(exc), 5) from exc

    async def delete_background_job(self, uid: str, reason: str = "its BackgroundJob was deleted") -> bool:
        job = await self.job_of(uid)
        if job is None or job.state.value in ("Deleted", "Succeeded"):
            return False
        with self.acting(None):
            return await self.scheduler.delete(job.id, reason=reason)

    # -- RecurringJob ----------------------------------------------------------------------

    async def apply_recurring_job(self, body: dict[str, Any], resumed: bool = False):
        meta = body["metadata"]
        resource = ResourceRef.of(meta)
        owner = Owner("RecurringJob", resource.name, resource.uid)
        try:
            request = recurring_request(body.get("spec") or {}, owner=owner, default_image=self.settings.default_image)
            tenant = await self.tenant_of(resource.namespace)
            with self.acting(self.user_of(meta, ANNOTATION_CHANGED_BY) or self.user_of(meta)):
                recurring = await submit_recurring(
                    self.scheduler, request, recurring_id(resource.namespace, resource.name), resource,
                    tenant_id=tenant, user_id=self.user_of(meta),
                )
                if resumed and not request.suspend:
                    await self.scheduler.resume_recurring(recurring.id, tenant_id=tenant)
            return recurring
        except ValidationError as exc:
            raise SpecError(exc, recurring=True) from exc
        except (DatabaseUnavailableError, StoreError) as exc:
            raise RetryLater(str(exc), 5) from exc

    async def trigger_recurring_job(self, body: dict[str, Any], actor: str | None) -> bool:
        """Acts on the resource's `jobs.craft.dev/trigger` once (see oneshot.py), then removes it."""
        rid = recurring_id(body["metadata"]["namespace"], body["metadata"]["name"])
        tenant = await self.tenant_of(body["metadata"]["namespace"])
        actor = actor or self.user_of(body["metadata"], ANNOTATION_REQUESTED_BY)

        async def fire(session) -> None:
            try:
                with self.acting(actor):
                    await self.scheduler.trigger_recurring(rid, tenant_id=tenant, session=session)
            except RecurringJobNotFoundError:  # an invalid spec is never stored: nothing to fire
                log.warning("RecurringJob %s is not stored: its trigger is dropped", rid)
        return await self._one_shot(RECURRING_JOBS, body, ANNOTATION_TRIGGER, fire)

    async def remove_recurring_job(self, namespace: str, name: str) -> bool:
        """Removes the schedule and stops what it started and has not finished (as a CronJob's Jobs go with it)."""
        rid = recurring_id(namespace, name)
        tenant = await self.tenant_of(namespace)
        with self.acting(None):
            removed = await self.scheduler.remove_recurring(rid, tenant_id=tenant)
            for job_id in await self.kube_store.unfinished_jobs_of_recurring(rid, tenant or "", namespace):
                await self.scheduler.delete(job_id, reason=f"its RecurringJob {rid} was deleted")
        return removed

    # -- validation without side effects (the admission webhook) ---------------------------

    async def validate(self, body: dict[str, Any], kind: str) -> None:
        """Raises SpecError for what the scheduler would refuse; stores nothing."""
        from craft_jobs.client.jobtypes import resolve_kind

        meta = body.get("metadata") or {}
        try:
            if kind == "RecurringJob":
                request = recurring_request(body.get("spec") or {}, default_image=self.settings.default_image)
                parse_schedule(request.cron, request.interval_minutes, request.time_zone, anchor=self.clock.now())
                job = request.job
            else:
                job = job_request(body.get("spec") or {}, now=self.clock.now(), default_image=self.settings.default_image)
            try:
                kind = await asyncio.wait_for(resolve_kind(self.store, job.job_type, self.options), 5)
                kind.parameters_dict(job.parameters)
            except (DatabaseUnavailableError, StoreError, TimeoutError):
                log.warning("admission of %s/%s: the store is unavailable; the operator will check it", meta.get("namespace"), meta.get("name"))
        except ValidationError as exc:
            raise SpecError(exc, recurring=kind == "RecurringJob") from exc

    def now(self) -> datetime:
        return self.clock.now()
