"""Kubernetes Events on BackgroundJobs and RecurringJobs: what `kubectl describe` shows.

The status sync posts them as a resource's status changes. On a
BackgroundJob: Accepted, Started (each attempt), Retrying (each failed attempt
that is retried), Failed, Succeeded, Held (a concurrency limit holds it
waiting); the executor adds PodNotStarted while no container of a run's pod
has started and something says why. On a RecurringJob: Fired, RunSucceeded,
RunFailed, InvalidSchedule. Events are aggregated as client-go's recorder
does: one Event per resource and reason, whose count and last time go up when
it happens again. (An invalid spec gets kopf's own warning Event from the
handler that refuses it.)
"""

from __future__ import annotations

import hashlib
import logging
import socket
from datetime import datetime
from typing import Any

from craft_jobs.kube.api import GROUP, VERSION, KubeApi, KubeApiError
from craft_jobs.kube.cr_status import condition_of, rfc3339
from craft_jobs.kube.names import CONDITION_HELD, CONDITION_READY

log = logging.getLogger(__name__)

COMPONENT = "craft-jobs-operator"
WAITING = ("Awaiting", "Scheduled", "Enqueued")


def transition_events(previous: dict[str, Any] | None, status: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(type, reason, message) of each Event for a BackgroundJob whose status changes
    from `previous` to `status`, in order. A status pass may see several steps at once
    (a quick run goes Enqueued -> Succeeded between passes): the attempts count says
    which attempts started, and which of them failed and were retried, in between."""
    previous = previous or {}
    before, after = previous.get("phase"), status.get("phase")
    job = status.get("jobId")
    job_name = status.get("kubernetesJobName")
    error = (status.get("lastError") or {}).get("message") or ""
    attempts = status.get("attempts") or 0
    seen = previous.get("attempts") or 0
    if attempts < seen:  # requeued: its attempts count again from the start
        seen, before = 0, None if before is None else "Enqueued"
    events: list[tuple[str, str, str]] = []
    if before is None and after is not None:
        waiting = f" ({after})" if after in WAITING else ""
        events.append(("Normal", "Accepted", f"stored as job {job}{waiting}"))
    # The attempt that was running at the last pass, and every later one but the
    # latest, ended with a retry: another attempt started after it.
    first_retried = seen if before == "Processing" else seen + 1
    for attempt in range(max(first_retried, 1), attempts):
        if attempt > seen:
            events.append(("Normal", "Started", f"attempt {attempt} of job {job} started"))
        events.append(("Warning", "Retrying", f"attempt {attempt} of job {job} failed, retrying"))
    if attempts > seen:
        events.append(("Normal", "Started", f"attempt {attempts} of job {job} started as Job {job_name}"))
    if before == after:
        return events
    if after == "Succeeded":
        events.append(("Normal", "Succeeded", f"job {job} succeeded after {attempts} attempt(s) (Job {job_name})"))
    elif after == "Failed":
        events.append(("Warning", "Failed", f"job {job} failed after {attempts} attempt(s): {error}"[:1024]))
    elif after == "Scheduled" and attempts and (before == "Processing" or attempts > seen):
        events.append(("Warning", "Retrying", f"attempt {attempts} of job {job} failed, retrying: {error}"[:1024]))
    return events


def held_event(previous: dict[str, Any] | None, status: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The Event of a waiting BackgroundJob that a concurrency limit starts to hold (kube/held.py)."""
    held = condition_of(status, CONDITION_HELD)
    if held.get("status") != "True" or condition_of(previous, CONDITION_HELD).get("status") == "True":
        return []
    return [("Normal", "Held", str(held.get("message") or ""))]


def recurring_events(previous: dict[str, Any] | None, status: dict[str, Any],
                     last_error: str | None = None) -> list[tuple[str, str, str]]:
    """(type, reason, message) of each Event for a RecurringJob whose status changes from
    `previous` to `status`: a fire, its run's outcome (with `last_error`, the last job's
    error message), a schedule that became invalid."""
    previous = previous or {}
    before, after = previous.get("lastJob") or {}, status.get("lastJob") or {}
    job, phase = after.get("jobId"), after.get("phase")
    events: list[tuple[str, str, str]] = []
    ready = condition_of(status, CONDITION_READY)
    if ready.get("reason") == "InvalidSchedule" and condition_of(previous, CONDITION_READY).get("reason") != "InvalidSchedule":
        events.append(("Warning", "InvalidSchedule", str(ready.get("message") or "")[:1024]))
    if not job:
        return events
    fired = job != before.get("jobId")
    if fired:
        events.append(("Normal", "Fired", f"fired job {job}"))
    if fired or phase != before.get("phase"):
        if phase == "Succeeded":
            events.append(("Normal", "RunSucceeded", f"job {job} succeeded"))
        elif phase == "Failed":
            failed = f"job {job} failed: {last_error}" if last_error else f"job {job} failed"
            events.append(("Warning", "RunFailed", failed[:1024]))
    return events


def event_name(name: str, uid: str, reason: str) -> str:
    """One Event per resource and reason (what aggregates them)."""
    return f"{name[:200]}.{hashlib.sha256(f'{uid}/{reason}'.encode()).hexdigest()[:16]}"


async def post_event(api: KubeApi, involved: dict[str, str], kind: str, reason: str, message: str,
                     now: datetime) -> None:
    """Creates the Event, or counts it once more; never raises (Events are best effort)."""
    namespace = involved["namespace"]
    name = event_name(involved["name"], involved["uid"], reason)
    stamp = rfc3339(now)
    path = f"/api/v1/namespaces/{namespace}/events"
    try:
        try:
            await api.request("POST", path, body={
                "apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": namespace},
                "involvedObject": {"apiVersion": f"{GROUP}/{VERSION}", **involved},
                "reason": reason, "message": message, "type": kind, "count": 1,
                "firstTimestamp": stamp, "lastTimestamp": stamp,
                "source": {"component": COMPONENT}, "reportingComponent": COMPONENT,
                "reportingInstance": socket.gethostname()[:128],
            })
        except KubeApiError as exc:
            if not exc.conflict:
                raise
            current = await api.request("GET", f"{path}/{name}")
            await api.request("PATCH", f"{path}/{name}", content_type="application/merge-patch+json", body={
                "count": int(current.get("count") or 1) + 1, "lastTimestamp": stamp, "message": message})
    except KubeApiError as exc:
        log.debug("cannot post the %s Event of %s/%s: %s", reason, namespace, involved["name"], exc)
