"""Craft Jobs runner SDK: write jobs, and run them inside a job pod.

    from craft_jobs_runner import Job, JobContext

See job-runner-image/README.md and docs/architecture.md.
"""

from .cancel import CancelSignal
from .context import JobContext
from .contract import EXIT_CANCELLED, EXIT_FAILED, EXIT_NON_RETRYABLE, EXIT_SUCCEEDED
from .errors import (
    ContextError,
    DuplicateJobTypeError,
    InvalidParametersError,
    JobCancelledError,
    JobDefinitionError,
    JobModuleImportError,
    JobTimeoutError,
    NonRetryableError,
    RunnerError,
    ServiceError,
    UnknownJobTypeError,
)
from .execution import ErrorInfo, RunResult, execute, execute_with_context
from .filters import JobFilter, add_global_filter, remove_global_filter
from .job import Job, job_descriptor
from .logs import configure_logging
from .registry import get_job_class, import_job_modules, registered_job_types
from .scheduler import RunScheduler, SchedulerError, SchedulerUnavailableError
from .services import service
from .termination import termination_message, write_termination_message

__all__ = [
    "EXIT_CANCELLED",
    "EXIT_FAILED",
    "EXIT_NON_RETRYABLE",
    "EXIT_SUCCEEDED",
    "CancelSignal",
    "ContextError",
    "DuplicateJobTypeError",
    "ErrorInfo",
    "InvalidParametersError",
    "Job",
    "JobCancelledError",
    "JobContext",
    "JobDefinitionError",
    "JobFilter",
    "JobModuleImportError",
    "JobTimeoutError",
    "NonRetryableError",
    "RunResult",
    "RunScheduler",
    "RunnerError",
    "SchedulerError",
    "SchedulerUnavailableError",
    "ServiceError",
    "UnknownJobTypeError",
    "add_global_filter",
    "configure_logging",
    "execute",
    "execute_with_context",
    "get_job_class",
    "import_job_modules",
    "job_descriptor",
    "registered_job_types",
    "remove_global_filter",
    "service",
    "termination_message",
    "write_termination_message",
]
