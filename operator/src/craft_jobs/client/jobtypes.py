"""Resolves what a caller asked to run, and validates its parameters before storing.

A job class validates with its own pydantic `Parameters`. A type name uses the
class when this process imported it, else the JSON schema registered for it
(by an engine that imports it, or `craft-jobs register-types`). A name nobody
registered is refused locally; in cluster mode the job's image holds its code,
so the runner in the pod is what validates it.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any

import craft_jobs_runner
import jsonschema
import pydantic
from craft_jobs_runner import Job

from craft_jobs.backoff import DEFAULT_RETRY, AttemptsExceeded, RetryPolicy
from craft_jobs.errors import InvalidParametersError, UnknownJobTypeError, ValidationError
from craft_jobs.limits import check_json_text, check_text
from craft_jobs.options import JobOptions, Mode
from craft_jobs.store.store import JobStore

JOB_TYPE_MAX_LENGTH = 200


def _problems(errors: list[tuple[str, str]]) -> str:
    return "; ".join(f"{where or '(root)'}: {message}" for where, message in errors[:5])


class _ModelParameters:
    """Parameters checked by the job class's own pydantic model."""

    def __init__(self, job_class: type[Job]):
        self.job_class = job_class
        self.model = job_class.Parameters

    def _model(self, params: Any) -> pydantic.BaseModel:
        if isinstance(params, self.model):
            return params
        if isinstance(params, pydantic.BaseModel):
            raise InvalidParametersError(
                "parameters", f"expected {self.job_class.__qualname__}.Parameters, got {type(params).__qualname__}"
            )
        try:
            return self.model.model_validate(params or {})
        except pydantic.ValidationError as exc:
            errors = [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]
            raise InvalidParametersError("parameters", _problems(errors)) from exc

    def as_json(self, params: Any) -> str:
        # What model_dump_json() returns, without its Python wrapper: passing
        # on its dozen default keywords cost three times the serializing.
        model = self._model(params)
        return model.__pydantic_serializer__.to_json(model).decode()


class _UncheckedParameters:
    """A type nobody registered, in cluster mode: its image holds the code, and
    the runner in the pod validates the parameters (a mismatch fails the job
    with the field named). Here they must at least be a JSON object."""

    def as_dict(self, params: Any) -> dict[str, Any]:
        if isinstance(params, pydantic.BaseModel):
            params = params.model_dump(mode="json")
        params = {} if params is None else params
        if not isinstance(params, dict):
            raise InvalidParametersError("parameters", f"must be an object, got {type(params).__name__}")
        try:
            json.dumps(params)
        except (TypeError, ValueError) as exc:
            raise InvalidParametersError("parameters", f"must be JSON: {exc}") from exc
        return params

    def as_json(self, params: Any) -> str:
        return json.dumps(self.as_dict(params), separators=(",", ":"))


class _SchemaParameters:
    """Parameters checked by the JSON schema an engine registered for the type."""

    def __init__(self, schema: dict[str, Any]):
        self.validator = jsonschema.Draft202012Validator(schema)

    def as_dict(self, params: Any) -> dict[str, Any]:
        if isinstance(params, pydantic.BaseModel):
            params = params.model_dump(mode="json")
        params = params or {}
        errors = sorted(self.validator.iter_errors(params), key=lambda e: list(e.path))
        if errors:
            found = [(".".join(str(p) for p in e.path), e.message) for e in errors]
            raise InvalidParametersError("parameters", _problems(found))
        return params

    def as_json(self, params: Any) -> str:
        return json.dumps(self.as_dict(params), separators=(",", ":"))


@dataclass(frozen=True)
class JobKind:
    """A resolved job type: its name, its defaults and how to check its parameters."""

    job_type: str
    max_attempts: int | None
    timeout_seconds: int | None
    parameters: _ModelParameters | _SchemaParameters | _UncheckedParameters
    size_limit: int
    retry: RetryPolicy = DEFAULT_RETRY  # max_attempts aside: that is the field above
    # What a job of this kind carries when its caller sets none of it, by the
    # options that decide it (JobScheduler._settings keeps it here).
    settings: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def _check_size(self, size: int) -> None:
        if size > self.size_limit:
            raise InvalidParametersError("parameters", f"{size} bytes is over the limit of {self.size_limit} bytes")

    def parameters_dict(self, params: Any) -> dict[str, Any]:
        # Through the JSON text, so that one job and a batch measure the same
        # bytes; for a pydantic model this is also the quicker way.
        return json.loads(self.parameters_json(params))

    def parameters_json(self, params: Any) -> str:
        text = self.parameters.as_json(params)
        size = len(text)
        if size * 4 > self.size_limit:  # UTF-8 takes at most 4 bytes a character: only a long text needs measuring
            size = len(text.encode())
        self._check_size(size)
        return check_json_text(text, "parameters")


def checked_job_type(name: object) -> str:
    if not isinstance(name, str) or not 1 <= len(name) <= JOB_TYPE_MAX_LENGTH:
        raise ValidationError("job_type", f"must be 1 to {JOB_TYPE_MAX_LENGTH} characters")
    return check_text(name, "job_type")


@functools.lru_cache(maxsize=1024)
def _class_kind(job_class: type[Job], limit: int) -> JobKind:
    """Kept per class: resolved on every schedule call, and a class does not change."""
    retry = DEFAULT_RETRY
    if job_class.on_attempts_exceeded != AttemptsExceeded.FAIL:
        retry = RetryPolicy(on_attempts_exceeded=job_class.on_attempts_exceeded)
    return JobKind(job_class.job_type, job_class.max_attempts, job_class.timeout_seconds, _ModelParameters(job_class), limit, retry)


async def resolve_kind(store: JobStore, job: type[Job] | str, options: JobOptions) -> JobKind:
    limit = options.max_parameters_bytes
    if isinstance(job, type) and issubclass(job, Job):
        return _class_kind(job, limit)
    if not isinstance(job, str):
        raise ValidationError("job", f"expected a Job subclass or a job type name, got {job!r}")
    checked_job_type(job)
    try:
        job_class = craft_jobs_runner.get_job_class(job)
    except craft_jobs_runner.UnknownJobTypeError:
        registered = await store.get_job_type(job)
        if registered is None:
            if options.mode is Mode.CLUSTER:
                return JobKind(job, None, None, _UncheckedParameters(), limit)
            raise UnknownJobTypeError(job) from None
        return JobKind(job, registered.max_attempts, registered.timeout_seconds,
                       _SchemaParameters(registered.parameters_schema), limit)
    return _class_kind(job_class, limit)
