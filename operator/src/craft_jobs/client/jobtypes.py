"""Resolves what a caller asked to run, and validates its parameters before storing.

A job class validates with its own pydantic `Parameters`. A type name uses the
class when this process imported it, else the JSON schema that an engine
registered for it; a name nobody registered is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import craft_jobs_runner
import jsonschema
import pydantic
from craft_jobs_runner import Job

from craft_jobs.errors import InvalidParametersError, UnknownJobTypeError, ValidationError
from craft_jobs.store.store import JobStore

JOB_TYPE_MAX_LENGTH = 200


@dataclass(frozen=True)
class ResolvedJob:
    job_type: str
    parameters: dict[str, Any]
    max_attempts: int | None
    timeout_seconds: int | None


def _validate_with_model(job_class: type[Job], params: Any) -> dict[str, Any]:
    if isinstance(params, job_class.Parameters):
        return params.model_dump(mode="json")
    if isinstance(params, pydantic.BaseModel):
        raise InvalidParametersError(
            "parameters",
            f"expected {job_class.__qualname__}.Parameters, got {type(params).__qualname__}",
        )
    try:
        return job_class.Parameters.model_validate(params or {}).model_dump(mode="json")
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise InvalidParametersError("parameters", problems) from exc


def _validate_with_schema(schema: dict[str, Any], params: Any) -> dict[str, Any]:
    if isinstance(params, pydantic.BaseModel):
        params = params.model_dump(mode="json")
    params = params or {}
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(params), key=lambda e: list(e.path))
    if errors:
        problems = "; ".join(f"{'.'.join(str(p) for p in e.path) or '(root)'}: {e.message}" for e in errors[:5])
        raise InvalidParametersError("parameters", problems)
    return params


def check_size(parameters: dict[str, Any], limit: int) -> None:
    size = len(json.dumps(parameters, separators=(",", ":")).encode())
    if size > limit:
        raise InvalidParametersError("parameters", f"{size} bytes is over the limit of {limit} bytes")


async def resolve_job(store: JobStore, job: type[Job] | str, params: Any) -> ResolvedJob:
    if isinstance(job, type) and issubclass(job, Job):
        job_class: type[Job] | None = job
    elif isinstance(job, str):
        if not job or len(job) > JOB_TYPE_MAX_LENGTH:
            raise ValidationError("job_type", f"must be 1 to {JOB_TYPE_MAX_LENGTH} characters")
        try:
            job_class = craft_jobs_runner.get_job_class(job)
        except craft_jobs_runner.UnknownJobTypeError:
            job_class = None
    else:
        raise ValidationError("job", f"expected a Job subclass or a job type name, got {job!r}")
    if job_class is not None:
        parameters = _validate_with_model(job_class, params)
        resolved = ResolvedJob(job_class.job_type, parameters, job_class.max_attempts, job_class.timeout_seconds)
    else:
        registered = await store.get_job_type(job)
        if registered is None:
            raise UnknownJobTypeError(job)
        parameters = _validate_with_schema(registered.parameters_schema, params)
        resolved = ResolvedJob(job, parameters, registered.max_attempts, registered.timeout_seconds)
    check_size(resolved.parameters, store.options.max_parameters_bytes)
    return resolved
