"""What a running job knows about itself: `JobContext`."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import contract
from .errors import ContextError, JobCancelledError
from .logs import JobLoggerAdapter
from .scheduler import RunScheduler
from .services import ServiceScope


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class JobContext:
    """Identity and runtime of one run of a job.

    `attempt` is the 0-based retry attempt. Datetimes are timezone-aware.
    `logger` adds the job fields to its records; `services` builds the run's
    services (`await context.services.get("db")`); `scheduler` schedules jobs
    in the run's own tenant (`await context.scheduler.schedule(SendMail, params)`)
    when the engine allows it. A context serves one run.
    """

    job_id: str
    job_type: str
    attempt: int = 0
    tenant_id: str | None = None
    user_id: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None  # now, when not given
    scheduled_for: datetime | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    # Set by whoever may cancel the run; None means the run cannot be cancelled.
    cancel_event: asyncio.Event | None = field(default=None, repr=False)
    scheduler: RunScheduler = field(default_factory=RunScheduler, repr=False)
    logger: JobLoggerAdapter = field(init=False, repr=False)
    services: ServiceScope = field(init=False, repr=False)

    def __post_init__(self) -> None:
        _require_text("job_id", self.job_id)
        _require_text("job_type", self.job_type)
        if type(self.attempt) is not int or self.attempt < 0:
            raise ContextError("attempt", f"must be a non-negative integer, got {self.attempt!r}")
        for name in ("tenant_id", "user_id"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ContextError(name, f"must be a string or None, got {value!r}")
        for name in ("created_at", "started_at", "scheduled_for"):
            _require_aware(name, getattr(self, name))
        if not isinstance(self.metadata, Mapping):
            raise ContextError("metadata", f"must be a mapping, got {type(self.metadata).__name__}")
        set_field = object.__setattr__  # frozen: fill the derived fields once
        if self.started_at is None:
            set_field(self, "started_at", datetime.now(UTC))
        log_fields = {
            "job_id": self.job_id,
            "job_type": self.job_type,
            "attempt": self.attempt,
            "tenant_id": self.tenant_id,
            "user_id": self.user_id,
        }
        set_field(self, "logger", JobLoggerAdapter(_job_logger(self.job_type), log_fields))
        set_field(self, "services", ServiceScope(self))

    @property
    def log_fields(self) -> Mapping[str, Any]:
        """The fields every log record of this run carries."""
        return self.logger.extra  # type: ignore[return-value]

    @property
    def cancelled(self) -> bool:
        """True once cancellation was requested (SIGTERM or the engine's cancel)."""
        return self.cancel_event is not None and self.cancel_event.is_set()

    async def wait_cancelled(self) -> None:
        """Return when cancellation is requested (never, for a run without a cancel event)."""
        await (self.cancel_event or asyncio.Event()).wait()

    def raise_if_cancelled(self) -> None:
        """Raise `JobCancelledError` if cancellation was requested."""
        if self.cancelled:
            raise JobCancelledError()

    @classmethod
    def from_environment(
        cls, env: Mapping[str, str], *, cancel_event: asyncio.Event | None = None
    ) -> JobContext:
        """Build the context from the pod contract (see `contract`).

        CRAFT_JOB_ID and CRAFT_JOB_TYPE are required; the others may be absent
        or empty. A malformed value raises `ContextError` naming the variable.
        """
        return cls(
            job_id=_required(env, contract.ENV_JOB_ID),
            job_type=_required(env, contract.ENV_JOB_TYPE),
            attempt=_attempt(env),
            tenant_id=_optional(env, contract.ENV_TENANT_ID),
            user_id=_optional(env, contract.ENV_USER_ID),
            created_at=_timestamp(env, contract.ENV_JOB_CREATED_AT),
            scheduled_for=_timestamp(env, contract.ENV_JOB_SCHEDULED_FOR),
            metadata=_metadata(env),
            cancel_event=cancel_event,
            scheduler=RunScheduler.from_environment(env),
        )


_loggers: dict[str, logging.Logger] = {}


def _job_logger(job_type: str) -> logging.Logger:
    logger = _loggers.get(job_type)
    if logger is None:
        logger = _loggers[job_type] = logging.getLogger(f"craft_jobs_runner.jobs.{job_type}")
    return logger


def _require_text(name: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ContextError(name, f"must be a non-empty string, got {value!r}")


def _require_aware(name: str, value: object) -> None:
    if value is None:
        return
    if not isinstance(value, datetime):
        raise ContextError(name, f"must be a datetime or None, got {value!r}")
    if value.utcoffset() is None:
        raise ContextError(name, "must be timezone-aware")


def _optional(env: Mapping[str, str], variable: str) -> str | None:
    value = env.get(variable, "").strip()
    return value or None


def _required(env: Mapping[str, str], variable: str) -> str:
    value = _optional(env, variable)
    if value is None:
        raise ContextError(variable, "is required and must not be empty")
    return value


def _attempt(env: Mapping[str, str]) -> int:
    value = _optional(env, contract.ENV_JOB_ATTEMPT)
    if value is None:
        return 0
    if not value.isascii() or not value.isdigit():
        raise ContextError(contract.ENV_JOB_ATTEMPT, f"must be a non-negative integer, got {value!r}")
    return int(value)


def _timestamp(env: Mapping[str, str], variable: str) -> datetime | None:
    value = _optional(env, variable)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ContextError(variable, f"must be an ISO 8601 date-time, got {value!r}") from None
    if parsed.utcoffset() is None:
        raise ContextError(
            variable, f"must include a UTC offset (e.g. 2024-05-01T12:00:00Z), got {value!r}"
        )
    return parsed


def _metadata(env: Mapping[str, str]) -> dict[str, Any]:
    value = _optional(env, contract.ENV_JOB_METADATA)
    if value is None:
        return {}
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ContextError(contract.ENV_JOB_METADATA, f"is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise ContextError(
            contract.ENV_JOB_METADATA, f"must be a JSON object, got {type(parsed).__name__}"
        )
    return parsed
