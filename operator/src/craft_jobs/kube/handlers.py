"""kopf handlers for BackgroundJob and RecurringJob: thin, named `<kind>_<event>`.

They are registered on a registry of their own (`build_registry`), so two
operators can run in one process (tests) without sharing handlers. All work
is in `Reconciler`; a handler maps its outcome onto kopf:

- a bad spec -> the condition Accepted (BackgroundJob) / Ready
  (RecurringJob) = False with reason InvalidSpec and "<field>: <reason>",
  and `kopf.PermanentError`: not retried in a loop;
- a transient failure (database, API) -> `kopf.TemporaryError(delay=...)`.

Every handler is idempotent, since every replica runs it: the job insert is
keyed by the resource's uid; a one-shot annotation (requeue, trigger) is
claimed in the store in the transaction that acts on it, and removed after
(kube/oneshot.py), so a crash, a retry or a second replica never loses it
nor acts twice. No finalizers: deletion is seen by the event handler,
and a deletion missed while no operator ran is found by the status sync.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import kopf

from craft_jobs.kube.api import GROUP, VERSION
from craft_jobs.kube.kopfthread import Bridge
from craft_jobs.kube.cr_status import invalid_spec_condition
from craft_jobs.kube.names import ANNOTATION_REQUEUE, ANNOTATION_TRIGGER, CONDITION_ACCEPTED, CONDITION_READY
from craft_jobs.kube.reconciler import BACKGROUND_JOBS, RECURRING_JOBS, Reconciler, RetryLater, SpecError
from craft_jobs.kube.status import StatusSync

log = logging.getLogger(__name__)


def _visible(body: kopf.Body) -> dict[str, Any]:
    """What the status sync needs of a resource, copied out of kopf's thread."""
    return {"metadata": {"uid": body.metadata.uid, "generation": body.metadata.get("generation")},
            "status": copy.deepcopy(dict(body.get("status") or {}))}


def _invalid(body: kopf.Body, patch: kopf.Patch, reconciler: Reconciler, error: SpecError, kind: str) -> kopf.PermanentError:
    previous = list((body.get("status") or {}).get("conditions") or [])
    cond = invalid_spec_condition(error.error, reconciler.now(), body.metadata.get("generation"), error.recurring, kind, previous)
    patch.status["conditions"] = [c for c in previous if c.get("type") != kind] + [cond]
    patch.status["observedGeneration"] = body.metadata.get("generation")
    return kopf.PermanentError(cond["message"])


def build_registry(reconciler: Reconciler, status: StatusSync, bridge: Bridge) -> kopf.OperatorRegistry:
    """The handlers run in kopf's thread; their work runs on the main loop through `bridge`."""
    registry = kopf.OperatorRegistry()

    # -- BackgroundJob -------------------------------------------------------------------

    @kopf.on.create(GROUP, VERSION, BACKGROUND_JOBS, registry=registry, id="schedule")
    async def backgroundjob_create(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
        # No return value: kopf would write it into .status, one more API write per job.
        try:
            await bridge.call(reconciler.create_background_job(dict(body)))
        except SpecError as error:
            raise _invalid(body, patch, reconciler, error, CONDITION_ACCEPTED) from error
        except RetryLater as exc:
            raise kopf.TemporaryError(str(exc), delay=exc.delay) from exc
        bridge.soon(status.wake)

    @kopf.on.field(GROUP, VERSION, BACKGROUND_JOBS, field=["metadata", "annotations", ANNOTATION_REQUEUE],
                   registry=registry, id="requeue")
    async def backgroundjob_requeue(body: kopf.Body, new: Any, reason: kopf.Reason, **_: Any) -> None:
        if not new or reason == kopf.Reason.CREATE:
            return
        try:
            await bridge.call(reconciler.requeue_background_job(dict(body), actor=None))
        except RetryLater as exc:
            raise kopf.TemporaryError(str(exc), delay=exc.delay) from exc
        bridge.soon(status.wake)

    @kopf.on.event(GROUP, VERSION, BACKGROUND_JOBS, registry=registry, id="observe")
    async def backgroundjob_event(event: dict[str, Any], body: kopf.Body, **_: Any) -> None:
        if event.get("type") == "DELETED":
            bridge.soon(status.forget, body.metadata.uid)
            try:
                await bridge.call(reconciler.delete_background_job(body.metadata.uid))
            except Exception as exc:  # the status sync finds the job again and deletes it
                log.warning("cannot delete the job of BackgroundJob %s/%s yet: %s", body.metadata.namespace, body.metadata.name, exc)
        else:
            bridge.soon(status.observe, _visible(body), BACKGROUND_JOBS)

    # -- RecurringJob ----------------------------------------------------------------------

    @kopf.on.create(GROUP, VERSION, RECURRING_JOBS, registry=registry, id="schedule")
    async def recurringjob_create(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
        await _apply_recurring(body, patch, resumed=False)

    @kopf.on.update(GROUP, VERSION, RECURRING_JOBS, field="spec", registry=registry, id="update")
    async def recurringjob_update(body: kopf.Body, patch: kopf.Patch, old: Any, new: Any, **_: Any) -> None:
        resumed = bool((old or {}).get("suspend")) and not (new or {}).get("suspend")
        await _apply_recurring(body, patch, resumed=resumed)

    async def _apply_recurring(body: kopf.Body, patch: kopf.Patch, resumed: bool) -> None:
        try:
            await bridge.call(reconciler.apply_recurring_job(dict(body), resumed=resumed))
        except SpecError as error:
            raise _invalid(body, patch, reconciler, error, CONDITION_READY) from error
        except RetryLater as exc:
            raise kopf.TemporaryError(str(exc), delay=exc.delay) from exc
        bridge.soon(status.wake)

    @kopf.on.field(GROUP, VERSION, RECURRING_JOBS, field=["metadata", "annotations", ANNOTATION_TRIGGER],
                   registry=registry, id="trigger")
    async def recurringjob_trigger(body: kopf.Body, new: Any, **_: Any) -> None:
        if not new:
            return
        try:
            await bridge.call(reconciler.trigger_recurring_job(dict(body), actor=None))
        except RetryLater as exc:
            raise kopf.TemporaryError(str(exc), delay=exc.delay) from exc
        bridge.soon(status.wake)

    @kopf.on.event(GROUP, VERSION, RECURRING_JOBS, registry=registry, id="observe")
    async def recurringjob_event(event: dict[str, Any], body: kopf.Body, **_: Any) -> None:
        if event.get("type") == "DELETED":
            bridge.soon(status.forget, body.metadata.uid)
            try:
                await bridge.call(reconciler.remove_recurring_job(body.metadata.namespace, body.metadata.name))
            except Exception as exc:  # the status sync finds the row and removes it
                log.warning("cannot remove RecurringJob %s/%s yet: %s", body.metadata.namespace, body.metadata.name, exc)
        else:
            bridge.soon(status.observe, _visible(body), RECURRING_JOBS)

    return registry
