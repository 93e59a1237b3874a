"""Admission webhooks for BackgroundJob and RecurringJob, served by kopf.

- /mutate records who asked, from the request's userInfo, never from the
  object: `jobs.craft.dev/created-by` is the requester on CREATE and kept on
  UPDATE; `jobs.craft.dev/changed-by` is the requester on CREATE and on each
  UPDATE that changes the spec (the operator's own annotation patches are no
  change of the job). An object claiming another creator (the annotation set
  to someone else on CREATE, or changed on UPDATE) is refused with 403 unless
  the requester may impersonate that user (a SubjectAccessReview on
  `impersonate users/<name>`, as `kubectl --as` needs).
  `jobs.craft.dev/requested-by` is the requester of the request that set a
  one-shot annotation (trigger, requeue), so the audit names who asked;
  any other request keeps it as it was.
- /validate refuses what the operator would refuse (unknown job type,
  parameters the job class rejects or over the size limit, a bad schedule or
  time zone, no image and no default image), naming the field and the reason.
  When the database is unreachable it admits and the operator decides later.

The paths are the handler ids, which is how kopf's WebhookServer routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kopf

from craft_jobs.kube.api import GROUP, VERSION, KubeApiError
from craft_jobs.kube.kopfthread import Bridge
from craft_jobs.kube.names import (
    ANNOTATION_CHANGED_BY,
    ANNOTATION_CREATED_BY,
    ANNOTATION_REQUESTED_BY,
    ANNOTATION_REQUEUE,
    ANNOTATION_TRIGGER,
)
from craft_jobs.kube.spec import cr_field
from craft_jobs.kube.reconciler import BACKGROUND_JOBS, RECURRING_JOBS, Reconciler, SpecError
from craft_jobs.kube.settings import KubeSettings


# The annotations whose setter `requested-by` records.
_ONE_SHOTS = (ANNOTATION_TRIGGER, ANNOTATION_REQUEUE)


@dataclass(frozen=True)
class Identity:
    """What the two annotations must say after a request, and a claim that needs checking."""

    created_by: str | None
    changed_by: str | None
    claimed: str | None = None  # another user the object names as its creator
    requested_by: str | None = None  # who set the last one-shot annotation


def identity_after(operation: str, userinfo: dict[str, Any], body: dict[str, Any], old: dict[str, Any] | None) -> Identity:
    requester = (userinfo or {}).get("username") or None
    annotations = ((body.get("metadata") or {}).get("annotations")) or {}
    old_annotations = (((old or {}).get("metadata") or {}).get("annotations")) or {}
    given = annotations.get(ANNOTATION_CREATED_BY) or None
    asked = any(annotations.get(key) and annotations.get(key) != old_annotations.get(key) for key in _ONE_SHOTS)
    requested_by = requester if asked else old_annotations.get(ANNOTATION_REQUESTED_BY) or None
    if operation == "CREATE":
        claimed = given if given and given != requester else None
        return Identity(given or requester, requester, claimed, requested_by)
    recorded = old_annotations.get(ANNOTATION_CREATED_BY) or None
    claimed = given if given and given != recorded else None
    changed = (body.get("spec") != (old or {}).get("spec")) or claimed is not None
    return Identity(given if claimed else recorded,
                    requester if changed else old_annotations.get(ANNOTATION_CHANGED_BY) or None, claimed, requested_by)


def register_webhooks(registry: kopf.OperatorRegistry, reconciler: Reconciler, bridge: Bridge) -> None:
    async def mutate(body: kopf.Body, old: Any, patch: kopf.Patch, userinfo: dict[str, Any], operation: str,
                     **_: Any) -> None:
        identity = identity_after(operation, userinfo, dict(body), old)
        if identity.claimed is not None and not await _may_impersonate(reconciler, bridge, userinfo, identity.claimed):
            raise kopf.AdmissionError(
                f"metadata.annotations[{ANNOTATION_CREATED_BY}]: names {identity.claimed!r}, but the request comes from "
                f"{(userinfo or {}).get('username')!r}, who may not impersonate that user", code=403)
        annotations = dict(body.metadata.annotations)
        for key, wanted in ((ANNOTATION_CREATED_BY, identity.created_by), (ANNOTATION_CHANGED_BY, identity.changed_by),
                            (ANNOTATION_REQUESTED_BY, identity.requested_by)):
            if annotations.get(key) != wanted:
                patch.metadata.annotations[key] = wanted

    async def validate(body: kopf.Body, kind: str) -> None:
        try:
            await bridge.call(reconciler.validate(dict(body), kind))
        except SpecError as error:
            field = cr_field(error.error.field, error.recurring)
            raise kopf.AdmissionError(f"{field}: {error.error.reason}", code=422) from error

    @kopf.on.mutate(GROUP, VERSION, BACKGROUND_JOBS, registry=registry, id="mutate", operations=["CREATE", "UPDATE"])
    async def backgroundjob_mutate(**kwargs: Any) -> None:
        await mutate(**kwargs)

    @kopf.on.mutate(GROUP, VERSION, RECURRING_JOBS, registry=registry, id="mutate", operations=["CREATE", "UPDATE"])
    async def recurringjob_mutate(**kwargs: Any) -> None:
        await mutate(**kwargs)

    @kopf.on.validate(GROUP, VERSION, BACKGROUND_JOBS, registry=registry, id="validate", operations=["CREATE", "UPDATE"])
    async def backgroundjob_validate(body: kopf.Body, **_: Any) -> None:
        await validate(body, "BackgroundJob")

    @kopf.on.validate(GROUP, VERSION, RECURRING_JOBS, registry=registry, id="validate", operations=["CREATE", "UPDATE"])
    async def recurringjob_validate(body: kopf.Body, **_: Any) -> None:
        await validate(body, "RecurringJob")


async def _may_impersonate(reconciler: Reconciler, bridge: Bridge, userinfo: dict[str, Any], user: str) -> bool:
    try:
        return await bridge.call(reconciler.api.may(userinfo or {}, "impersonate", "users", user))
    except KubeApiError as exc:
        # Unable to ask is no permission: the request is refused, naming why.
        raise kopf.AdmissionError(f"cannot check whether the requester may impersonate {user!r}: {exc}", code=503) from exc


def webhook_server(settings: KubeSettings) -> kopf.WebhookServer:
    """HTTPS on 0.0.0.0:9443 with the certificate mounted from the chart's Secret."""
    cert_dir = Path(settings.webhook_cert_dir)
    return kopf.WebhookServer(
        addr="0.0.0.0", port=settings.webhook_port,
        certfile=str(cert_dir / "tls.crt"), pkeyfile=str(cert_dir / "tls.key"),
    )
