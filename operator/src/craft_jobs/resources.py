"""BackgroundJob and RecurringJob documents (the YAML kubectl takes), applied locally.

`craft-jobs apply -f` checks each document's identity here and maps its spec
with the operator's own functions (`craft_jobs.kube.spec`, `craft_jobs.kube.submit`), so a spec means
the same thing with or without a cluster. Errors name the YAML path.

A file is applied all or nothing: `check_document` runs every check of the
apply on each document (fields unknown to the CRD included, as kubectl's strict
field validation) before `apply_*` stores the first one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from craft_jobs.client.scheduler import JobScheduler
from craft_jobs.errors import ValidationError
from craft_jobs.kube.spec import cr_field, job_request, recurring_id, recurring_request
from craft_jobs.kube.fields import unknown_fields
from craft_jobs.kube.submit import check_job_submission, check_recurring_submission, submit_job, submit_recurring
from craft_jobs.resource_ref import ResourceRef
from craft_jobs.store.models import RecurringJob

API_GROUP = "jobs.craft.dev"
KINDS = ("BackgroundJob", "RecurringJob")
# Locally the executor runs the job modules of this machine: no image is needed.
LOCAL_IMAGE = "local"
_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


@dataclass(frozen=True)
class Document:
    """A document's kind and the resource it stands for."""

    kind: str
    resource: ResourceRef

    @property
    def namespace(self) -> str:
        return self.resource.namespace

    @property
    def name(self) -> str:
        return self.resource.name


def document_ref(document: Any, default_namespace: str = "default") -> Document:
    """Checks a document's apiVersion/kind/metadata; local uids are stable per name."""
    if not isinstance(document, dict):
        raise ValidationError("document", "must be a YAML mapping")
    api_version = document.get("apiVersion", "")
    if not isinstance(api_version, str) or not api_version.startswith(API_GROUP + "/"):
        raise ValidationError("apiVersion", f"must be {API_GROUP}/v1alpha1, got {api_version!r}")
    kind = document.get("kind")
    if kind not in KINDS:
        raise ValidationError("kind", f"must be BackgroundJob or RecurringJob, got {kind!r}")
    metadata = document.get("metadata") or {}
    name = metadata.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValidationError("metadata.name", f"{name!r} is not a valid resource name")
    namespace = metadata.get("namespace") or default_namespace
    uid = metadata.get("uid") or f"local/{kind}/{namespace}/{name}"
    if not isinstance(document.get("spec"), dict):
        raise ValidationError("spec", "is required")
    return Document(kind, ResourceRef(uid=uid, namespace=namespace, name=name))


async def check_document(
    scheduler: JobScheduler, ref: Document, document: dict[str, Any], *, tenant_id: str | None, user_id: str | None,
    earlier_jobs: set[tuple[str, str]],
) -> None:
    """Raises what applying `document` would, storing nothing. `earlier_jobs`:
    (namespace, name) of the BackgroundJobs before it in the file, which a
    continuation may wait for."""
    unknown = unknown_fields(ref.kind, document)
    if unknown:
        raise ValidationError(", ".join(unknown), "unknown field" + ("s" if len(unknown) > 1 else "")
                              + f" (not in the {ref.kind} schema)")
    spec = document["spec"]
    recurring = ref.kind == "RecurringJob"
    try:
        if recurring:
            request = recurring_request(spec, default_image=LOCAL_IMAGE)
            await check_recurring_submission(scheduler, request, tenant_id=tenant_id, user_id=user_id)
            return
        request = job_request(spec, now=scheduler.store.clock.now(), default_image=LOCAL_IMAGE)
        await check_job_submission(scheduler, request, tenant_id=tenant_id, user_id=user_id)
        if request.continue_after and (ref.namespace, request.continue_after) not in earlier_jobs:
            await _parent_id(scheduler, ref, request.continue_after)
    except ValidationError as exc:
        raise ValidationError(cr_field(exc.field, recurring=recurring), exc.reason) from exc


async def _parent_id(scheduler: JobScheduler, ref: Document, name: str) -> int:
    parent = await scheduler.store.get_job_by_cr_name(ref.namespace, name)
    if parent is None:
        raise ValidationError("parent_id", f"BackgroundJob {name!r} does not exist in namespace {ref.namespace!r}")
    return parent.id


async def apply_background_job(
    scheduler: JobScheduler, ref: Document, spec: dict[str, Any], *, tenant_id: str | None, user_id: str | None
) -> int:
    try:
        request = job_request(spec, now=scheduler.store.clock.now(), default_image=LOCAL_IMAGE)
        parent_id = await _parent_id(scheduler, ref, request.continue_after) if request.continue_after else None
        return await submit_job(scheduler, request, ref.resource, parent_id=parent_id, tenant_id=tenant_id, user_id=user_id)
    except ValidationError as exc:
        raise ValidationError(cr_field(exc.field), exc.reason) from exc


async def apply_recurring_job(
    scheduler: JobScheduler, ref: Document, spec: dict[str, Any], *, tenant_id: str | None, user_id: str | None
) -> RecurringJob:
    try:
        request = recurring_request(spec, default_image=LOCAL_IMAGE)
        return await submit_recurring(
            scheduler, request, recurring_id(ref.namespace, ref.name), ref.resource, tenant_id=tenant_id, user_id=user_id
        )
    except ValidationError as exc:
        raise ValidationError(cr_field(exc.field, recurring=True), exc.reason) from exc
