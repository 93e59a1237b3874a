"""CR <-> store mapping, as pure functions.

`job_request` turns a BackgroundJob spec (or a RecurringJob's jobTemplate)
into the arguments of `JobScheduler`; `cr_field` names the CR field behind a
scheduler error; `background_job_status` and `recurring_job_status` turn
store rows into the `.status` the resources show.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from craft_jobs.backoff import RetryPolicy
from craft_jobs.errors import ValidationError
from craft_jobs.kube.manifest import KUBE_METADATA_KEY, job_name
from craft_jobs.states import ConcurrencyPolicy, ContinuationCondition, JobState

if TYPE_CHECKING:
    from craft_jobs.client.scheduler import JobScheduler
    from craft_jobs.store.models import RecurringJob

ANNOTATION_CREATED_BY = "jobs.craft.dev/created-by"
ANNOTATION_REQUEUE = "jobs.craft.dev/requeue"
ANNOTATION_TRIGGER = "jobs.craft.dev/trigger"
NAMESPACE_TENANT_LABEL = "jobs.craft.dev/tenant"

CONDITION_ACCEPTED = "Accepted"
CONDITION_READY = "Ready"
CONDITION_COMPLETE = "Complete"
CONDITION_FAILED = "Failed"

_DELAY = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
MAX_DELAY = timedelta(days=3650)

# Scheduler/validation field names -> the CR field a user has to fix.
_FIELDS = {
    "job": "jobType",
    "job_type": "jobType",
    "parameters": "parameters",
    "image": "image",
    "queue": "queue",
    "metadata": "metadata",
    "max_attempts": "retry.maxAttempts",
    "base_seconds": "retry.backoff.baseSeconds",
    "max_seconds": "retry.backoff.maxSeconds",
    "jitter": "retry.backoff.jitter",
    "non_retryable_exit_codes": "retry.nonRetryableExitCodes",
    "on_attempts_exceeded": "retry.onAttemptsExceeded",
    "timeout_seconds": "timeoutSeconds",
    "delay": "delay",
    "at": "runAt",
    "parent_id": "continueAfter.name",
    "cron": "schedule",
    "schedule": "schedule",
    "interval_minutes": "intervalMinutes",
    "time_zone": "timeZone",
    "anchor": "schedule",
    "concurrency_policy": "concurrencyPolicy",
    "starting_deadline_seconds": "startingDeadlineSeconds",
}
# Fields of a RecurringJob that sit beside its jobTemplate rather than in it.
_RECURRING_FIELDS = {"schedule", "intervalMinutes", "timeZone", "concurrencyPolicy", "startingDeadlineSeconds"}


def cr_field(error_field: str, recurring: bool = False) -> str:
    """`spec.<field>` (or `spec.jobTemplate.<field>`) of a scheduler error field."""
    if error_field.startswith(("spec.", "metadata.")):
        return error_field
    if error_field in ("tenant_id", "recurring_id"):
        return "metadata.namespace" if error_field == "tenant_id" else "metadata.name"
    name = _FIELDS.get(error_field, error_field)
    if recurring and name not in _RECURRING_FIELDS:
        return f"spec.jobTemplate.{name}"
    return f"spec.{name}"


def parse_delay(text: str) -> timedelta:
    """"90s", "10m", "1h30m", "2d" (units d, h, m, s in that order)."""
    match = _DELAY.match(text or "") if isinstance(text, str) else None
    if not match or not any(match.groups()):
        raise ValidationError("delay", f"{text!r} is not a duration such as 90s, 10m, 1h30m or 2d")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    delay = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if delay > MAX_DELAY:
        raise ValidationError("delay", "must be at most 3650 days")
    return delay


def parse_time(text: Any, name: str) -> datetime:
    if not isinstance(text, str):
        raise ValidationError(name, f"must be an RFC 3339 time, got {text!r}")
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValidationError(name, f"{text!r} is not an RFC 3339 time such as 2030-01-01T09:00:00Z") from None
    if value.tzinfo is None:
        raise ValidationError(name, f"{text!r} has no time zone offset (add Z for UTC)")
    return value


@dataclass(frozen=True)
class JobRequest:
    """What a BackgroundJob spec (or a jobTemplate) asks the scheduler for."""

    job_type: str
    parameters: dict[str, Any]
    queue: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    max_attempts: int | None = None
    retry: RetryPolicy | None = None
    timeout_seconds: int | None = None
    image: str | None = None
    at: datetime | None = None
    continue_after: str | None = None
    continue_on: ContinuationCondition = ContinuationCondition.SUCCEEDED

    def scheduler_kwargs(self) -> dict[str, Any]:
        return {
            "queue": self.queue, "metadata": self.metadata, "max_attempts": self.max_attempts,
            "retry": self.retry, "timeout_seconds": self.timeout_seconds, "image": self.image,
        }

    async def submit(self, scheduler: JobScheduler, *, parent_id: int | None, tenant_id: str | None,
                     user_id: str | None, cr: tuple[str, str, str]) -> int:
        """Schedules the job, or its continuation of `parent_id` (the stored id of continueAfter)."""
        if parent_id is not None:
            return await scheduler.continue_with(
                parent_id, self.job_type, self.parameters, on=self.continue_on,
                tenant_id=tenant_id, user_id=user_id, cr=cr, **self.scheduler_kwargs(),
            )
        return await scheduler.schedule(
            self.job_type, self.parameters, at=self.at, tenant_id=tenant_id, user_id=user_id, cr=cr,
            **self.scheduler_kwargs(),
        )


_BACKOFF_FIELDS = (("baseSeconds", "base_seconds"), ("maxSeconds", "max_seconds"), ("jitter", "jitter"))


def _retry(spec: dict[str, Any]) -> tuple[int | None, RetryPolicy | None]:
    """spec.retry as maxAttempts (None: the job class's or the operator's) and
    the policy of the rest (None: every field left at its default)."""
    retry = spec.get("retry") or {}
    if not isinstance(retry, dict):
        raise ValidationError("retry", "must be an object")
    max_attempts = retry.get("maxAttempts")
    backoff = retry.get("backoff") or {}
    kwargs: dict[str, Any] = {name: backoff[key] for key, name in _BACKOFF_FIELDS if backoff.get(key) is not None}
    if retry.get("nonRetryableExitCodes") is not None:
        kwargs["non_retryable_exit_codes"] = retry["nonRetryableExitCodes"]
    if retry.get("onAttemptsExceeded") is not None:
        kwargs["on_attempts_exceeded"] = retry["onAttemptsExceeded"]
    if not kwargs:
        return max_attempts, None
    return max_attempts, RetryPolicy(max_attempts=max_attempts, **kwargs)


def kube_block(pod: dict[str, Any] | None, owner: dict[str, Any] | None) -> dict[str, Any]:
    block: dict[str, Any] = {}
    if pod:
        block["pod"] = pod
    if owner:
        block["owner"] = owner
    return block


def job_request(
    spec: dict[str, Any],
    *,
    created_at: datetime | None = None,
    now: datetime | None = None,
    owner: dict[str, Any] | None = None,
    default_image: str | None = None,
    template: bool = False,
) -> JobRequest:
    """Validates the shape of a spec the API server cannot check, and maps it.

    Parameters and the job type are checked later by the scheduler (it knows
    the job classes); errors name the scheduler's fields (`cr_field` maps them).
    """
    if not isinstance(spec, dict):
        raise ValidationError("spec", "must be an object")
    job_type = spec.get("jobType")
    if not isinstance(job_type, str) or not job_type:
        raise ValidationError("job_type", "is required")
    parameters = spec.get("parameters")
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, dict):
        raise ValidationError("parameters", "must be an object")
    image = spec.get("image") or default_image
    if not image:
        raise ValidationError("image", "is required: the operator has no default image (CRAFT_JOBS_DEFAULT_IMAGE)")
    metadata = spec.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ValidationError("metadata", "must be an object")
    if KUBE_METADATA_KEY in metadata:
        raise ValidationError("metadata", f"{KUBE_METADATA_KEY!r} is reserved")
    block = kube_block(spec.get("pod"), owner)
    if block:
        metadata = {**metadata, KUBE_METADATA_KEY: block}
    max_attempts, retry = _retry(spec)
    timeout = spec.get("timeoutSeconds")

    at: datetime | None = None
    continue_after = None
    on = ContinuationCondition.SUCCEEDED
    if not template:
        if spec.get("delay") is not None and spec.get("runAt") is not None:
            raise ValidationError("delay", "set at most one of delay and runAt")
        if spec.get("delay") is not None:
            at = (created_at or now or datetime.now().astimezone()) + parse_delay(spec["delay"])
        elif spec.get("runAt") is not None:
            at = parse_time(spec["runAt"], "at")
        parent = spec.get("continueAfter")
        if parent is not None:
            if at is not None:
                raise ValidationError("parent_id", "a continuation cannot also have delay or runAt")
            if not isinstance(parent, dict) or not parent.get("name"):
                raise ValidationError("parent_id", "continueAfter.name is required")
            continue_after = parent["name"]
            try:
                on = ContinuationCondition(parent.get("on") or "Succeeded")
            except ValueError:
                raise ValidationError("parent_id", f"continueAfter.on must be Succeeded or Finished, got {parent.get('on')!r}") from None
        if at is not None and now is not None and at <= now:
            at = None  # in the past: run at once
    return JobRequest(
        job_type=job_type, parameters=parameters, queue=spec.get("queue"), metadata=metadata,
        max_attempts=max_attempts, retry=retry, timeout_seconds=timeout, image=spec.get("image"),
        at=at, continue_after=continue_after, continue_on=on,
    )


@dataclass(frozen=True)
class RecurringRequest:
    job: JobRequest
    cron: str | None
    interval_minutes: int | None
    time_zone: str
    concurrency_policy: ConcurrencyPolicy
    starting_deadline_seconds: int | None
    suspend: bool

    async def submit(self, scheduler: JobScheduler, recurring_id: str, *, tenant_id: str | None,
                     user_id: str | None, cr: tuple[str, str, str]) -> RecurringJob:
        """Creates or updates the recurring job."""
        return await scheduler.schedule_recurring(
            recurring_id, self.cron, self.job.job_type, self.job.parameters,
            interval_minutes=self.interval_minutes, time_zone=self.time_zone,
            concurrency_policy=self.concurrency_policy,
            starting_deadline_seconds=self.starting_deadline_seconds, paused=self.suspend,
            tenant_id=tenant_id, user_id=user_id, cr=cr, **self.job.scheduler_kwargs(),
        )


def recurring_request(
    spec: dict[str, Any], *, owner: dict[str, Any] | None = None, default_image: str | None = None
) -> RecurringRequest:
    template = spec.get("jobTemplate")
    if not isinstance(template, dict):
        raise ValidationError("spec.jobTemplate", "is required")
    job = job_request(template, owner=owner, default_image=default_image, template=True)
    cron = spec.get("schedule")
    interval = spec.get("intervalMinutes")
    if (cron is None) == (interval is None):
        raise ValidationError("schedule", "set exactly one of schedule and intervalMinutes")
    try:
        policy = ConcurrencyPolicy(spec.get("concurrencyPolicy") or "Allow")
    except ValueError:
        raise ValidationError("concurrency_policy", f"must be Allow, Forbid or Replace, got {spec.get('concurrencyPolicy')!r}") from None
    return RecurringRequest(
        job=job, cron=cron, interval_minutes=interval, time_zone=spec.get("timeZone") or "UTC",
        concurrency_policy=policy, starting_deadline_seconds=spec.get("startingDeadlineSeconds"),
        suspend=bool(spec.get("suspend", False)),
    )


def recurring_id(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


# -- status ------------------------------------------------------------------------


def rfc3339(moment: datetime | None) -> str | None:
    """UTC, whole seconds, with Z: the form Kubernetes writes."""
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


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
            last_error=get("last_error"), executor_ref=get("executor_ref"), cr_uid=get("cr_uid"), cr_namespace=get("cr_namespace"),
            cr_name=get("cr_name"),
        )


def background_job_status(job: JobSnapshot, now: datetime, generation: int | None = None,
                          previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """The `.status` of a BackgroundJob for its stored job."""
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
