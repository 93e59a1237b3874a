"""One run of a job, in-process: `execute()`.

The pod entry point and the engine's inline executor both call it. It never
raises for anything the job or its input does; the outcome is a `RunResult`
whose exit code is the pod's exit code. Only cancellation of the caller's own
task propagates (after the run's services are closed).

It runs thousands of times per second in the engine's benchmark, so all
per-class work (validation, schema) happens when the class is defined.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from . import registry
from .scheduler import RunScheduler
from .cancel import CancelSignal
from .context import JobContext
from .contract import (
    DEFAULT_CANCEL_GRACE_SECONDS,
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_NON_RETRYABLE,
    EXIT_SUCCEEDED,
)
from .errors import (
    ContextError,
    InvalidParametersError,
    JobCancelledError,
    JobTimeoutError,
    NonRetryableError,
    UnknownJobTypeError,
)
from .filters import JobFilter, global_filters
from .job import Job
from .logs import job_log_context


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """Why a run did not succeed; the pod's termination message."""

    type: str
    message: str
    stack: str

    @classmethod
    def from_exception(cls, exc: BaseException, *, with_stack: bool = True) -> ErrorInfo:
        exc_type = type(exc)
        name = (
            exc_type.__qualname__
            if exc_type.__module__ == "builtins"
            else f"{exc_type.__module__}.{exc_type.__qualname__}"
        )
        stack = "".join(traceback.format_exception(exc)) if with_stack else ""
        return cls(type=name, message=str(exc), stack=stack)

    def as_dict(self) -> dict[str, str]:
        return {"type": self.type, "message": self.message, "stack": self.stack}


@dataclass(frozen=True, slots=True)
class RunResult:
    exit_code: int
    error: ErrorInfo | None = None

    @property
    def succeeded(self) -> bool:
        return self.exit_code == EXIT_SUCCEEDED

    @property
    def retryable(self) -> bool:
        """Whether the engine may run the job again (cancelled runs are requeued, not retried)."""
        return self.exit_code == EXIT_FAILED


SUCCEEDED = RunResult(EXIT_SUCCEEDED)


async def execute(
    job_type: str,
    raw_parameters: Mapping[str, Any] | bytes | str | BaseModel,
    *,
    job_id: str,
    attempt: int = 0,
    tenant_id: str | None = None,
    user_id: str | None = None,
    created_at: datetime | None = None,
    scheduled_for: datetime | None = None,
    metadata: Mapping[str, Any] | None = None,
    cancel_event: asyncio.Event | None = None,
    cancel_grace_seconds: float = DEFAULT_CANCEL_GRACE_SECONDS,
    scheduler: RunScheduler | None = None,
) -> RunResult:
    """Run the job `job_type` once with `raw_parameters` (a mapping or JSON text).

    Setting `cancel_event` cancels the run: the job sees `context.cancelled`
    and has `cancel_grace_seconds` to stop by itself before its task is
    cancelled. Once cancellation is requested the run counts as cancelled
    (EXIT_CANCELLED), however `run()` ends: a job that stopped early must not
    pass for finished, and the engine requeues cancelled runs.
    """
    try:
        context = JobContext(
            job_id=job_id,
            job_type=job_type,
            attempt=attempt,
            tenant_id=tenant_id,
            user_id=user_id,
            created_at=created_at,
            scheduled_for=scheduled_for,
            metadata={} if metadata is None else metadata,
            cancel_event=cancel_event,
            scheduler=scheduler or RunScheduler(),
        )
    except ContextError as exc:
        return RunResult(EXIT_NON_RETRYABLE, ErrorInfo.from_exception(exc, with_stack=False))
    return await execute_with_context(context, raw_parameters, cancel_grace_seconds=cancel_grace_seconds)


async def execute_with_context(
    context: JobContext,
    raw_parameters: Mapping[str, Any] | bytes | str | BaseModel,
    *,
    cancel_grace_seconds: float = DEFAULT_CANCEL_GRACE_SECONDS,
) -> RunResult:
    """`execute()` for a context built already (e.g. by `JobContext.from_environment`)."""
    try:
        job_class = registry.get_job_class(context.job_type)
        params = _parse_parameters(job_class, raw_parameters)
    except (UnknownJobTypeError, InvalidParametersError) as exc:
        context.logger.error("job not run: %s", exc)
        return RunResult(EXIT_NON_RETRYABLE, ErrorInfo.from_exception(exc, with_stack=False))
    if context.cancelled:
        context.logger.warning("job not run: cancelled before it started")
        return RunResult(EXIT_CANCELLED, ErrorInfo.from_exception(JobCancelledError(), with_stack=False))
    with job_log_context(context.log_fields):
        return await _perform(job_class, params, context, cancel_grace_seconds)


def _parse_parameters(job_class: type[Job], raw: object) -> BaseModel:
    model = job_class.Parameters
    try:
        if isinstance(raw, (str, bytes, bytearray)):
            return model.model_validate_json(raw)
        if isinstance(raw, (dict, model)):
            return model.model_validate(raw)
        if isinstance(raw, Mapping):
            return model.model_validate(dict(raw))
    except ValidationError as exc:
        raise InvalidParametersError(_describe_validation_error(job_class, exc)) from None
    raise InvalidParametersError(
        f"parameters of job type {job_class.job_type!r} must be a JSON object "
        f"(a mapping or JSON text), got {type(raw).__name__}"
    )


def _describe_validation_error(job_class: type[Job], exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False)[:10]:
        location = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]
        ).lstrip(".")
        problems.append(f"{location or '(parameters)'}: {error['msg']}")
    more = exc.error_count() - len(problems)
    suffix = f"; and {more} more" if more > 0 else ""
    return f"invalid parameters for job type {job_class.job_type!r}: " + "; ".join(problems) + suffix


async def _perform(
    job_class: type[Job], params: BaseModel, context: JobContext, cancel_grace_seconds: float
) -> RunResult:
    filters: tuple[JobFilter, ...] = global_filters() + job_class.filters
    performing: list[JobFilter] = []
    result: RunResult | None = None
    try:
        for job_filter in filters:
            try:
                await job_filter.on_performing(context)
            except Exception as exc:
                context.logger.error("job not run: filter %r failed before it", job_filter, exc_info=exc)
                result = RunResult(EXIT_FAILED, ErrorInfo.from_exception(exc))
                break
            performing.append(job_filter)
        if result is None:
            result = await _run(job_class, params, context, cancel_grace_seconds)
    finally:
        close_error = await _close_services(context)
    if close_error is not None:
        if result.succeeded:
            result = RunResult(EXIT_FAILED, ErrorInfo.from_exception(close_error))
        context.logger.error("closing the job's services failed", exc_info=close_error)
    for job_filter in reversed(performing):
        try:
            await job_filter.on_performed(context, result)
        except Exception as exc:
            context.logger.error("filter %r failed after the job", job_filter, exc_info=exc)
            if result.succeeded:
                result = RunResult(EXIT_FAILED, ErrorInfo.from_exception(exc))
    return result


async def _close_services(context: JobContext) -> Exception | None:
    try:
        await context.services.aclose()
    except Exception as exc:
        return exc
    return None


async def _run(
    job_class: type[Job], params: BaseModel, context: JobContext, cancel_grace_seconds: float
) -> RunResult:
    try:
        await _await_job(
            job_class().run(params, context), context, job_class.timeout_seconds, cancel_grace_seconds
        )
    except asyncio.CancelledError as exc:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # our caller is cancelling us: not an outcome of the job
        return _cancelled(context, exc)
    except JobCancelledError as exc:
        return _cancelled(context, exc)
    except Exception as exc:
        if context.cancelled:
            return _cancelled(context, exc)
        non_retryable = isinstance(exc, NonRetryableError) or isinstance(
            exc, job_class.non_retryable_exceptions
        )
        context.logger.error("job failed%s", " (non-retryable)" if non_retryable else "", exc_info=exc)
        return RunResult(EXIT_NON_RETRYABLE if non_retryable else EXIT_FAILED, ErrorInfo.from_exception(exc))
    if context.cancelled:
        return _cancelled(context, JobCancelledError("the job was cancelled while it ran"))
    return SUCCEEDED


def _cancelled(context: JobContext, exc: BaseException) -> RunResult:
    context.logger.warning("job cancelled")
    if isinstance(exc, asyncio.CancelledError):
        exc = JobCancelledError()
    return RunResult(EXIT_CANCELLED, ErrorInfo.from_exception(exc))


async def _await_job(
    run: Coroutine[Any, Any, None],
    context: JobContext,
    timeout: float | None,
    cancel_grace_seconds: float,
) -> None:
    cancel_event = context.cancel_event
    if cancel_event is None and timeout is None:
        await run  # the common, cheap path: nothing to race against
        return
    # The job runs in this task under an asyncio.timeout; cancellation just
    # moves that deadline to the end of the grace period. A CancelSignal does
    # that from a callback; a plain Event needs one watcher task.
    deadline = asyncio.timeout(timeout)
    watcher = None
    forget = None
    try:
        async with deadline:
            if isinstance(cancel_event, CancelSignal):
                forget = cancel_event.on_set(lambda: _cut_short(deadline, cancel_grace_seconds))
            elif cancel_event is not None:
                watcher = asyncio.ensure_future(_cut_short_on_cancel(cancel_event, deadline, cancel_grace_seconds))
            await run
    except TimeoutError:
        if deadline.expired():
            raise _deadline_error(context, timeout, cancel_grace_seconds) from None
        raise  # the job's own TimeoutError
    finally:
        if forget is not None:
            forget()
        if watcher is not None:
            watcher.cancel()
    if deadline.expired():  # the job swallowed the cancellation and returned
        raise _deadline_error(context, timeout, cancel_grace_seconds)


async def _cut_short_on_cancel(event: asyncio.Event, deadline: asyncio.Timeout, grace: float) -> None:
    # Cooperative first: the job may notice `context.cancelled` and stop by itself.
    await event.wait()
    _cut_short(deadline, grace)


def _cut_short(deadline: asyncio.Timeout, grace: float) -> None:
    loop = asyncio.get_running_loop()
    current = deadline.when()
    if current is None or loop.time() + grace < current:
        deadline.reschedule(loop.time() + grace)


def _deadline_error(context: JobContext, timeout: float | None, grace: float) -> Exception:
    if context.cancelled:
        return JobCancelledError(f"the job was cancelled and did not stop within {grace:g}s")
    return JobTimeoutError(f"the job exceeded its timeout of {timeout}s")
