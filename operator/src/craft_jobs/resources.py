"""BackgroundJob and RecurringJob documents (the YAML kubectl takes) as SDK calls.

`craft-jobs apply -f` uses it locally; the operator maps CRs with the same
functions, so a spec means the same thing on both paths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from craft_jobs.backoff import RetryPolicy
from craft_jobs.client.scheduler import JobScheduler
from craft_jobs.errors import ValidationError
from craft_jobs.states import ConcurrencyPolicy, ContinuationCondition

API_GROUP = "jobs.craft.dev"
KINDS = ("BackgroundJob", "RecurringJob")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str, field: str = "spec.delay") -> timedelta:
    """'90s', '10m', '1h30m', '1d' -> timedelta."""
    match = _DURATION.match(text or "") if isinstance(text, str) else None
    if not text or match is None or not any(match.groups()):
        raise ValidationError(field, f"{text!r} is not a duration such as 90s, 10m, 1h30m or 1d")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def parse_time(text: Any, field: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(field, f"{text!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise ValidationError(field, f"{text!r} has no time zone offset")
    return moment


def retry_from_spec(retry: dict[str, Any] | None, prefix: str) -> tuple[int | None, RetryPolicy | None]:
    """(maxAttempts, policy) from a spec's `retry` block; names fields by their YAML path."""
    if not retry:
        return None, None
    backoff = retry.get("backoff") or {}
    max_attempts = retry.get("maxAttempts")
    try:
        policy = RetryPolicy(
            max_attempts=3 if max_attempts is None else max_attempts,
            base_seconds=backoff.get("baseSeconds", 10),
            max_seconds=backoff.get("maxSeconds", 3600),
            jitter=backoff.get("jitter", 0.2),
            non_retryable_exit_codes=frozenset(retry.get("nonRetryableExitCodes") or ()),
        )
    except ValidationError as exc:
        names = {"max_attempts": "maxAttempts", "base_seconds": "backoff.baseSeconds",
                 "max_seconds": "backoff.maxSeconds", "jitter": "backoff.jitter",
                 "non_retryable_exit_codes": "nonRetryableExitCodes"}
        raise ValidationError(f"{prefix}.retry.{names.get(exc.field, exc.field)}", exc.reason) from exc
    return max_attempts, policy


@dataclass(frozen=True)
class ResourceRef:
    kind: str
    namespace: str
    name: str
    uid: str


def common_job_arguments(spec: dict[str, Any], prefix: str) -> dict[str, Any]:
    if not isinstance(spec.get("jobType"), str) or not spec["jobType"]:
        raise ValidationError(f"{prefix}.jobType", "is required")
    parameters = spec.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ValidationError(f"{prefix}.parameters", "must be an object")
    metadata = spec.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ValidationError(f"{prefix}.metadata", "must be a map of strings")
    max_attempts, retry = retry_from_spec(spec.get("retry"), prefix)
    pod = spec.get("pod")
    if pod:
        # Pod overrides travel with the job, under a reserved metadata key.
        metadata = {**metadata, "craft.dev/pod": pod}
    return {
        "job": spec["jobType"],
        "params": parameters,
        "queue": spec.get("queue"),
        "metadata": metadata,
        "max_attempts": max_attempts,
        "retry": retry,
        "timeout_seconds": spec.get("timeoutSeconds"),
        "image": spec.get("image"),
    }


async def apply_background_job(
    scheduler: JobScheduler, ref: ResourceRef, spec: dict[str, Any], *, tenant_id: str | None, user_id: str | None
) -> int:
    arguments = common_job_arguments(spec, "spec")
    cr = (ref.uid, ref.namespace, ref.name)
    parent = spec.get("continueAfter")
    if parent:
        if spec.get("delay") or spec.get("runAt"):
            raise ValidationError("spec.continueAfter", "cannot be combined with delay or runAt")
        parent_job = await scheduler.store.get_job_by_cr_name(ref.namespace, parent.get("name", ""))
        if parent_job is None:
            raise ValidationError("spec.continueAfter.name", f"BackgroundJob {parent.get('name')!r} does not exist in {ref.namespace}")
        on = parent.get("on", "Succeeded")
        if on not in ("Succeeded", "Finished"):
            raise ValidationError("spec.continueAfter.on", f"must be Succeeded or Finished, got {on!r}")
        return await scheduler.continue_with(
            parent_job.id, on=ContinuationCondition(on), tenant_id=tenant_id, user_id=user_id, cr=cr, **arguments
        )
    if spec.get("delay") and spec.get("runAt"):
        raise ValidationError("spec.runAt", "give either delay or runAt, not both")
    delay = parse_duration(spec["delay"]) if spec.get("delay") else None
    at = parse_time(spec["runAt"], "spec.runAt") if spec.get("runAt") else None
    return await scheduler.schedule(delay=delay, at=at, tenant_id=tenant_id, user_id=user_id, cr=cr, **arguments)


async def apply_recurring_job(
    scheduler: JobScheduler, ref: ResourceRef, spec: dict[str, Any], *, tenant_id: str | None, user_id: str | None
):
    template = spec.get("jobTemplate")
    if not isinstance(template, dict):
        raise ValidationError("spec.jobTemplate", "is required")
    arguments = common_job_arguments(template, "spec.jobTemplate")
    policy = spec.get("concurrencyPolicy", "Allow")
    if policy not in ConcurrencyPolicy._value2member_map_:
        raise ValidationError("spec.concurrencyPolicy", f"must be Allow, Forbid or Replace, got {policy!r}")
    return await scheduler.schedule_recurring(
        recurring_id(ref.namespace, ref.name),
        spec.get("schedule"),
        interval_minutes=spec.get("intervalMinutes"),
        time_zone=spec.get("timeZone") or "UTC",
        concurrency_policy=ConcurrencyPolicy(policy),
        starting_deadline_seconds=spec.get("startingDeadlineSeconds"),
        paused=bool(spec.get("suspend", False)),
        tenant_id=tenant_id,
        user_id=user_id,
        cr=(ref.uid, ref.namespace, ref.name),
        **arguments,
    )


def recurring_id(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


def resource_ref(document: Any, default_namespace: str = "default") -> ResourceRef:
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
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", name):
        raise ValidationError("metadata.name", f"{name!r} is not a valid resource name")
    namespace = metadata.get("namespace") or default_namespace
    uid = metadata.get("uid") or f"local/{kind}/{namespace}/{name}"
    if not isinstance(document.get("spec"), dict):
        raise ValidationError("spec", "is required")
    return ResourceRef(kind, namespace, name, uid)
