"""The `Job` base class a job author subclasses."""

from __future__ import annotations

import inspect
import re
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from . import registry
from .errors import JobDefinitionError
from .filters import JobFilter

if TYPE_CHECKING:
    from .context import JobContext

MAX_ATTEMPTS_LIMIT = 10

# The syntax of a Kubernetes label value: the control plane labels Jobs with it
# (and the CRD schema checks the same rule). Use with fullmatch().
JOB_TYPE_PATTERN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?")
ON_ATTEMPTS_EXCEEDED = ("Fail", "Delete")
_JOB_TYPE_PATTERN = JOB_TYPE_PATTERN  # the name the control plane's tests first used


class Job:
    """Base class of every job; concrete subclasses register by `job_type`.

    Class attributes (all optional):

    - `job_type`: the registry name; defaults to the class name. At most 63
      characters of letters, digits, `-`, `_` and `.`, starting and ending
      with a letter or digit.
    - `Parameters`: a pydantic model of the parameters; by default no
      parameters are accepted.
    - `max_attempts`: 0-10, or None for the engine's default.
    - `timeout_seconds`: a positive int, or None for no limit.
    - `on_attempts_exceeded`: "Fail" (the default) or "Delete": the job's state
      once its retries ran out (Hangfire's `AutomaticRetry.OnAttemptsExceeded`).
    - `non_retryable_exceptions`: exception classes that fail the run for good.
    - `filters`: `JobFilter` instances applied to this class after the global ones.
    - `abstract = True` in a class body: an intermediate base, not registered.
    """

    job_type: ClassVar[str]
    max_attempts: ClassVar[int | None] = None
    timeout_seconds: ClassVar[int | None] = None
    on_attempts_exceeded: ClassVar[str] = "Fail"
    non_retryable_exceptions: ClassVar[tuple[type[BaseException], ...]] = ()
    filters: ClassVar[tuple[JobFilter, ...]] = ()

    class Parameters(BaseModel):
        """No parameters: anything given is rejected, so typos do not pass silently."""

        model_config = ConfigDict(extra="forbid")

    async def run(self, params: Any, context: JobContext) -> None:
        raise NotImplementedError

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("abstract", False):
            return
        # job_type is not inherited: a subclass of a concrete job is a new type.
        cls.job_type = cls.__dict__.get("job_type", cls.__name__)
        _validate(cls)
        registry.register(cls)


def _validate(cls: type[Job]) -> None:
    name = f"{cls.__module__}.{cls.__qualname__}"

    def fail(field: str, reason: str) -> None:
        raise JobDefinitionError(name, field, reason)

    job_type = cls.job_type
    if not isinstance(job_type, str) or not JOB_TYPE_PATTERN.fullmatch(job_type):
        fail(
            "job_type",
            f"must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a "
            f"letter or digit; got {job_type!r}",
        )
    if not (isinstance(cls.Parameters, type) and issubclass(cls.Parameters, BaseModel)):
        fail("Parameters", f"must be a pydantic BaseModel subclass, got {cls.Parameters!r}")
    if cls.max_attempts is not None and (
        type(cls.max_attempts) is not int or not 0 <= cls.max_attempts <= MAX_ATTEMPTS_LIMIT
    ):
        fail(
            "max_attempts",
            f"must be an integer from 0 to {MAX_ATTEMPTS_LIMIT} or None, got {cls.max_attempts!r}",
        )
    if cls.timeout_seconds is not None and (
        type(cls.timeout_seconds) is not int or cls.timeout_seconds < 1
    ):
        fail("timeout_seconds", f"must be a positive integer or None, got {cls.timeout_seconds!r}")
    if cls.on_attempts_exceeded not in ON_ATTEMPTS_EXCEEDED:
        fail("on_attempts_exceeded", f"must be 'Fail' or 'Delete', got {cls.on_attempts_exceeded!r}")
    exceptions = cls.non_retryable_exceptions
    if not isinstance(exceptions, (tuple, list)) or not all(
        isinstance(e, type) and issubclass(e, BaseException) for e in exceptions
    ):
        fail("non_retryable_exceptions", f"must be a tuple of exception classes, got {exceptions!r}")
    cls.non_retryable_exceptions = tuple(exceptions)
    filters = cls.filters
    if not isinstance(filters, (tuple, list)):
        fail("filters", f"must be a list of JobFilter instances, got {filters!r}")
    for index, job_filter in enumerate(filters):
        if not isinstance(job_filter, JobFilter):
            fail(f"filters[{index}]", f"must be a JobFilter instance, got {job_filter!r}")
    cls.filters = tuple(filters)
    if cls.run is Job.run:
        fail("run", "must be defined: async def run(self, params, context) -> None")
    if not inspect.iscoroutinefunction(cls.run):
        fail("run", "must be a coroutine function (async def)")


def job_descriptor(job_class: type[Job]) -> dict[str, Any]:
    """What the control plane stores about a job type (JSON-serializable)."""
    if not (isinstance(job_class, type) and issubclass(job_class, Job)) or job_class is Job:
        raise TypeError(f"job_descriptor: expected a Job subclass, got {job_class!r}")
    if job_class.__dict__.get("abstract", False):
        raise TypeError(f"job_descriptor: {job_class.__qualname__} is abstract")
    # The class's own docstring only: getdoc() would inherit Job's.
    doc = job_class.__dict__.get("__doc__")
    return {
        "job_type": job_class.job_type,
        "description": inspect.cleandoc(doc).splitlines()[0] if doc and doc.strip() else None,
        "parameters_schema": job_class.Parameters.model_json_schema(),
        "max_attempts": job_class.max_attempts,
        "timeout_seconds": job_class.timeout_seconds,
    }
