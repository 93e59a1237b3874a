"""Admission webhooks for BackgroundJob and RecurringJob, served by kopf.

- /mutate records who asked: `jobs.craft.dev/created-by` is set from the
  request's userInfo.username on CREATE, overwriting whatever the user wrote,
  and kept unchanged on UPDATE, so the job's user is never taken on trust.
- /validate refuses what the operator would refuse (unknown job type,
  parameters the job class rejects or over the size limit, a bad schedule or
  time zone, no image and no default image), naming the field and the reason.
  When the database is unreachable it admits and the operator decides later.

The paths are the handler ids, which is how kopf's WebhookServer routes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kopf

from craft_jobs.kube.api import GROUP, VERSION
from craft_jobs.kube.kopfthread import Bridge
from craft_jobs.kube.names import ANNOTATION_CREATED_BY
from craft_jobs.kube.spec import cr_field
from craft_jobs.kube.reconciler import BACKGROUND_JOBS, RECURRING_JOBS, Reconciler, SpecError
from craft_jobs.kube.settings import KubeSettings


def created_by_patch(operation: str, userinfo: dict[str, Any], annotations: dict[str, str],
                     old_annotations: dict[str, str] | None) -> str | None:
    """The value the annotation must have after this request (None: absent)."""
    if operation == "CREATE":
        return (userinfo or {}).get("username") or None
    return (old_annotations or {}).get(ANNOTATION_CREATED_BY)


def register_webhooks(registry: kopf.OperatorRegistry, reconciler: Reconciler, bridge: Bridge) -> None:
    def mutate(body: kopf.Body, old: Any, patch: kopf.Patch, userinfo: dict[str, Any], operation: str, **_: Any) -> None:
        annotations = dict(body.metadata.annotations)
        old_annotations = dict(((old or {}).get("metadata") or {}).get("annotations") or {})
        wanted = created_by_patch(operation, userinfo, annotations, old_annotations)
        if annotations.get(ANNOTATION_CREATED_BY) != wanted:
            patch.metadata.annotations[ANNOTATION_CREATED_BY] = wanted

    async def validate(body: kopf.Body, kind: str) -> None:
        try:
            await bridge.call(reconciler.validate(dict(body), kind))
        except SpecError as error:
            field = cr_field(error.error.field, error.recurring)
            raise kopf.AdmissionError(f"{field}: {error.error.reason}", code=422) from error

    @kopf.on.mutate(GROUP, VERSION, BACKGROUND_JOBS, registry=registry, id="mutate", operations=["CREATE", "UPDATE"])
    def backgroundjob_mutate(**kwargs: Any) -> None:
        mutate(**kwargs)

    @kopf.on.mutate(GROUP, VERSION, RECURRING_JOBS, registry=registry, id="mutate", operations=["CREATE", "UPDATE"])
    def recurringjob_mutate(**kwargs: Any) -> None:
        mutate(**kwargs)

    @kopf.on.validate(GROUP, VERSION, BACKGROUND_JOBS, registry=registry, id="validate", operations=["CREATE", "UPDATE"])
    async def backgroundjob_validate(body: kopf.Body, **_: Any) -> None:
        await validate(body, "BackgroundJob")

    @kopf.on.validate(GROUP, VERSION, RECURRING_JOBS, registry=registry, id="validate", operations=["CREATE", "UPDATE"])
    async def recurringjob_validate(body: kopf.Body, **_: Any) -> None:
        await validate(body, "RecurringJob")


def webhook_server(settings: KubeSettings) -> kopf.WebhookServer:
    """HTTPS on 0.0.0.0:9443 with the certificate mounted from the chart's Secret."""
    cert_dir = Path(settings.webhook_cert_dir)
    return kopf.WebhookServer(
        addr="0.0.0.0", port=settings.webhook_port,
        certfile=str(cert_dir / "tls.crt"), pkeyfile=str(cert_dir / "tls.key"),
    )
