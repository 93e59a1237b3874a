"""Exceptions of the runner SDK.

Two families: errors a job raises to steer the outcome of its run
(`NonRetryableError`, `JobCancelledError`), and `RunnerError` for mistakes in
job definitions or in the pod contract. The latter name the field or the
environment variable at fault.
"""

from __future__ import annotations


class NonRetryableError(Exception):
    """Raise from `Job.run` when retrying cannot help; the run exits with code 3."""


class JobCancelledError(Exception):
    """The run was cancelled (SIGTERM, or the engine's cancel event)."""

    def __init__(self, message: str = "the job was cancelled"):
        super().__init__(message)


class JobTimeoutError(Exception):
    """The run took longer than the job class's `timeout_seconds`."""


class RunnerError(Exception):
    """Base class of the errors the runner raises about definitions and input."""


class JobDefinitionError(RunnerError, TypeError):
    """A `Job` subclass is malformed; raised when the class statement runs."""

    def __init__(self, job_class: str, field: str, reason: str):
        self.job_class = job_class
        self.field = field
        self.reason = reason
        super().__init__(f"{job_class}.{field}: {reason}")


class DuplicateJobTypeError(RunnerError):
    def __init__(self, job_type: str, existing: str, new: str):
        self.job_type = job_type
        super().__init__(
            f"job_type {job_type!r} is defined by both {existing} and {new}; "
            "job types must be unique within an image"
        )


class UnknownJobTypeError(RunnerError, LookupError):
    def __init__(self, job_type: str, known: list[str]):
        self.job_type = job_type
        listed = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
        super().__init__(
            f"unknown job type {job_type!r}; registered types: {listed or '(none)'}"
            " (is its module listed in CRAFT_JOB_MODULES?)"
        )


class JobModuleImportError(RunnerError, ImportError):
    def __init__(self, module: str, cause: BaseException):
        self.module = module
        super().__init__(f"cannot import job module {module!r}: {type(cause).__name__}: {cause}")


class ContextError(RunnerError, ValueError):
    """A pod-contract environment variable (or context field) is missing or malformed."""

    def __init__(self, variable: str, reason: str):
        self.variable = variable
        self.reason = reason
        super().__init__(f"{variable}: {reason}")


class InvalidParametersError(RunnerError, ValueError):
    """The parameters do not match the job class's `Parameters` model."""


class ServiceError(RunnerError):
    """A per-run service is unknown, misdefined, or requested outside its scope."""
