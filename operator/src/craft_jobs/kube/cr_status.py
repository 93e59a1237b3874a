"""Store rows -> the `.status` a BackgroundJob or RecurringJob shows, as pure functions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from craft_jobs.errors import ValidationError
from craft_jobs.kube.manifest import job_name
from craft_jobs.kube.names import (
    CONDITION_ACCEPTED,
    CONDITION_COMPLETE,
    CONDITION_FAILED,
    CONDITION_HELD,
    CONDITION_READY,
)
from craft_jobs.kube.spec import cr_field
from craft_jobs.states import JobState

def rfc3339(moment: datetime | None) -> str | None:
    """UTC, whole seconds, with Z: the form Kubernetes writes."""
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition_of(status: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    """The condition of type `kind` in a `.status`, or {}."""
    return next((c for c in (status or {}).get("conditions") or () if c.get("type") == kind), {})


def condition(kind: str, status: bool, reason: str, message: str, now: datetime, generation: int | None = None,
              previous: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A metav1.Condition; keeps lastTransitionTime when the status did not change."""
    text = "True" if status else "False"
    since = rfc3339(now)
    for old in previous or ():
        if old.get("type") == kind and old.get("status") == text and old.get("lastTransitionTime"):
            since = old["lastTransitionTime"]
    result = {"type": kind, "status": text, "reason": reason, "message": message[:32768], "lastTransitionTime": since}
    if generation is not None:
        result["observedGeneration"] = generation
    return result


def invalid_spec_condition(error: ValidationError, now: datetime, generation: int | None, recurring: bool = False,
                           kind: str = CONDITION_ACCEPTED, previous: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    field_name = cr_field(error.field, recurring)
    return condition(kind, False, "InvalidSpec", f"{field_name}: {error.reason}", now, generation, previous)


def attempts_started(state: JobState, attempt: int, runs: int) -> int:
    if runs == 0:
        return 0
    if state in (JobState.SCHEDULED, JobState.ENQUEUED, JobState.AWAITING):
        return min(attempt, runs)
    return min(attempt + 1, runs)


@dataclass(frozen=True)
class JobSnapshot:
    """The columns of a job the status of its BackgroundJob shows."""

    id: int
    state: JobState
    attempt: int
    runs: int
    tenant_id: str
    user_id: str | None
    started_at: datetime | None
    finished_at: datetime | None
    state_changed_at: datetime
    last_error: dict[str, Any] | None
    queue: str = "default"
    # "namespace/name" of the Kubernetes Job when a run adopted an earlier run's.
    executor_ref: str | None = None
    cr_uid: str | None = None
    cr_namespace: str | None = None
    cr_name: str | None = None

    @classmethod
    def from_row(cls, row: Any) -> JobSnapshot:
        get = row.get if isinstance(row, dict) else lambda key: getattr(row, key)
        return cls(
            id=get("id"), state=JobState(get("state")), attempt=get("attempt"), runs=get("runs"),
            tenant_id=get("tenant_id"), user_id=get("user_id"), started_at=get("started_at"),
            finished_at=get("finished_at"), state_changed_at=get("state_changed_at"),
            last_error=get("last_error"), queue=get("queue"), executor_ref=get("executor_ref"),
            cr_uid=get("cr_uid"), cr_namespace=get("cr_namespace"), cr_name=get("cr_name"),
        )


def background_job_status(job: JobSnapshot, now: datetime, generation: int | None = None,
                          previous: dict[str, Any] | None = None,
                          hold: tuple[str, str] | None = None) -> dict[str, Any]:
    """The `.status` of a BackgroundJob for its stored job; `hold` is the (reason,
    message) of a concurrency limit that holds it waiting (kube/held.py)."""
    old_conditions = (previous or {}).get("conditions") or []
    status: dict[str, Any] = {
        "phase": job.state.value,
        "jobId": str(job.id),
        "attempts": attempts_started(job.state, job.attempt, job.runs),
        "tenant": job.tenant_id or None,
        "user": job.user_id,
        "kubernetesJobName": kubernetes_job_name(job),
        "startedAt": rfc3339(job.started_at),
        "finishedAt": rfc3339(job.finished_at if job.state is not JobState.DELETED else job.state_changed_at),
        # An earlier attempt's error stays in the history, not on a job that succeeded.
        "lastError": None if job.state is JobState.SUCCEEDED else _last_error(job.last_error),
    }
    if generation is not None:
        status["observedGeneration"] = generation
    conditions = [condition(CONDITION_ACCEPTED, True, "Stored", f"stored as job {job.id}", now, generation, old_conditions)]
    if job.state is JobState.SUCCEEDED:
        conditions.append(condition(CONDITION_COMPLETE, True, "Succeeded", "the job succeeded", now, generation, old_conditions))
    if job.state is JobState.FAILED:
        error = status["lastError"] or {}
        message = error.get("message") or "the job failed"
        reason = "Timeout" if error.get("type") == "Timeout" else "Failed"
        conditions.append(condition(CONDITION_FAILED, True, reason, message, now, generation, old_conditions))
    if hold is not None and job.state is JobState.ENQUEUED:
        conditions.append(condition(CONDITION_HELD, True, *hold, now, generation, old_conditions))
    elif condition_of(previous, CONDITION_HELD):
        conditions.append(condition(CONDITION_HELD, False, "Released", "no concurrency limit holds it",
                                    now, generation, old_conditions))
    status["conditions"] = conditions
    return status


def kubernetes_job_name(job: JobSnapshot) -> str | None:
    if job.executor_ref:
        return job.executor_ref.rsplit("/", 1)[-1]
    return job_name(job.id, job.runs) if job.runs else None


def _last_error(error: dict[str, Any] | None) -> dict[str, Any] | None:
    if not error:
        return None
    result: dict[str, Any] = {}
    if error.get("type"):
        result["type"] = str(error["type"])[:256]
    if error.get("message"):
        result["message"] = str(error["message"])[:1024]
    if isinstance(error.get("exit_code"), int):
        result["exitCode"] = error["exit_code"]
    return result or None


def status_fingerprint(status: dict[str, Any] | None) -> tuple:
    """What decides whether a status patch is needed (times of conditions excluded)."""
    status = status or {}
    conditions = tuple(sorted((c.get("type"), c.get("status"), c.get("reason")) for c in status.get("conditions") or ()))
    error = status.get("lastError") or {}
    return (
        status.get("phase"), status.get("jobId"), status.get("attempts"), status.get("kubernetesJobName"),
        status.get("startedAt"), status.get("finishedAt"), status.get("tenant"), status.get("user"),
        error.get("type"), error.get("message"), error.get("exitCode"), conditions,
    )


def recurring_job_status(recurring: Any, now: datetime, generation: int | None = None,
                         previous: dict[str, Any] | None = None) -> dict[str, Any]:
    old_conditions = (previous or {}).get("conditions") or []
    status: dict[str, Any] = {
        "lastScheduleTime": rfc3339(recurring.last_run_at),
        "nextScheduleTime": rfc3339(recurring.next_run_at) if not recurring.paused else None,
        "lastJob": {"jobId": str(recurring.last_job_id), "phase": recurring.last_job_state.value}
        if recurring.last_job_id and recurring.last_job_state else None,
    }
    if generation is not None:
        status["observedGeneration"] = generation
    if recurring.schedule_error:
        ready = condition(CONDITION_READY, False, "InvalidSchedule", recurring.schedule_error, now, generation, old_conditions)
    elif recurring.paused:
        ready = condition(CONDITION_READY, True, "Suspended", "the schedule is suspended", now, generation, old_conditions)
    else:
        ready = condition(CONDITION_READY, True, "Scheduled", "the schedule is active", now, generation, old_conditions)
    status["conditions"] = [ready]
    return status
