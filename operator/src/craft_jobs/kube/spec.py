"""BackgroundJob and RecurringJob specs -> scheduler requests, as pure functions.

`background_request` turns a BackgroundJob (or `job_request` a RecurringJob's
jobTemplate) into what `JobScheduler` is asked for; `cr_field` names the CR
field behind a scheduler error. Nothing here calls the scheduler (submit.py does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from craft_jobs.backoff import RetryPolicy
from craft_jobs.errors import ValidationError
from craft_jobs.kube.job_metadata import KubeMetadata, Owner
from craft_jobs.kube.names import RECURRING_OWN_FIELDS, SCHEDULER_TO_CR_FIELDS
from craft_jobs.limits import check_delay, check_metadata, check_timeout
from craft_jobs.states import ConcurrencyPolicy, ContinuationCondition

_DELAY = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")

def cr_field(error_field: str, recurring: bool = False) -> str:
    """`spec.<field>` (or `spec.jobTemplate.<field>`) of a scheduler error field."""
    if error_field.startswith(("spec.", "metadata.")):
        return error_field
    if error_field in ("tenant_id", "recurring_id"):
        return "metadata.namespace" if error_field == "tenant_id" else "metadata.name"
    name = SCHEDULER_TO_CR_FIELDS.get(error_field, error_field)
    if recurring and name not in RECURRING_OWN_FIELDS:
        return f"spec.jobTemplate.{name}"
    return f"spec.{name}"


def parse_delay(text: str) -> timedelta:
    """"90s", "10m", "1h30m", "2d" (units d, h, m, s in that order)."""
    match = _DELAY.match(text or "") if isinstance(text, str) else None
    if not match or not any(match.groups()):
        raise ValidationError("delay", f"{text!r} is not a duration such as 90s, 10m, 1h30m or 2d")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    try:
        delay = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    except OverflowError:
        delay = timedelta.max
    return check_delay(delay)


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
    # creationTimestamp of the BackgroundJob: delay counts from it, and how long a parent is waited for.
    created_at: datetime | None = None


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


def background_request(body: dict[str, Any], *, now: datetime, default_image: str | None) -> JobRequest:
    """The request of a BackgroundJob resource (its spec, timed from its creationTimestamp)."""
    created = (body.get("metadata") or {}).get("creationTimestamp")
    created_at = parse_time(created, "metadata.creationTimestamp") if created else None
    return job_request(body.get("spec") or {}, created_at=created_at, now=now, default_image=default_image)


def job_request(
    spec: dict[str, Any],
    *,
    created_at: datetime | None = None,
    now: datetime | None = None,
    owner: Owner | None = None,
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
    # Named as the CR path: cr_field would read a bare "metadata.<key>" as the object's own metadata.
    metadata = check_metadata(KubeMetadata.added_to(metadata, spec.get("pod"), owner),
                              "spec.jobTemplate.metadata" if template else "spec.metadata")
    max_attempts, retry = _retry(spec)
    timeout = check_timeout(spec.get("timeoutSeconds"))

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
        at=at, continue_after=continue_after, continue_on=on, created_at=created_at,
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


def recurring_request(
    spec: dict[str, Any], *, owner: Owner | None = None, default_image: str | None = None
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
